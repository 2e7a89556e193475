"""The uploader: sends run events, compute logs and results to the control plane in batches.

An entry is acknowledged only after the control plane has stored it; until then it waits in
Redis, so an unreachable control plane delays metadata but loses none. Each stream has its own
lane, so a backlog of logs never holds up results. An agent serving several deployments
reports each entry with the token of its deployment (:mod:`._deployments`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import redis.asyncio as aioredis

from .. import _metrics as metrics
from .. import _telemetry as telemetry
from .._backoff import Backoff
from ..broker import Entry, StreamConsumer, entry_fields, keys
from ..errors import ControlPlaneError, Unauthorized
from ..wire import (
    EXIT_INTERRUPTED,
    EXIT_RUN_CANCELED,
    EXIT_RUN_FAILED,
    EXIT_RUN_SUCCEEDED,
    AgentResult,
    BatchReceipt,
    EventBatch,
    LogBatch,
    LogChunk,
    ResultBatch,
    RunEvent,
    RunWorkerExited,
    SpanBatch,
)
from ._client import ControlPlaneClient
from ._deployments import DeploymentClients
from ._status import reporting_status
from ._worker import consume_batches

log = logging.getLogger(__name__)

# answers that say this batch will never be stored, however often it is sent
REFUSED = (400, 413, 422)


@dataclass(frozen=True)
class _Lane:
    stream: str
    message_type: Any
    # the batch with the client of its deployment, and the traceparent of the span that
    # sends it
    send: Callable[[ControlPlaneClient, list[Any], str], Awaitable[BatchReceipt]]
    # the name of that span ("": none, for the lane that carries spans themselves)
    span: str
    # entries per batch at most
    batch_size: int
    # how long a batch that is not full waits for more entries (seconds)
    linger: float = 0.0


class Uploader:
    def __init__(
        self,
        *,
        clients: DeploymentClients,
        redis: aioredis.Redis,
        consumer: str,
        batch_size: int = 1000,
        event_batch_size: int = 5000,
        in_flight: int = 2,
        upload_compute_logs: bool = True,
        spans_to: tuple[str, dict[str, str]] | None = None,
        spans_linger: float = 0.0,
    ) -> None:
        """``spans_to``: the OTLP/HTTP traces URL and headers the run workers' spans go to
        (None: traces are not exported over OTLP); ``spans_linger``: how long they wait to
        be sent with more (as the span processor of a process waits: its schedule delay).
        ``in_flight``: how many batches of one stream are on their way at once (a batch
        travels and is decoded while the control plane stores the one before).
        ``event_batch_size``: entries per batch of run events; ``batch_size``: of the other
        streams (a chunk of compute logs is up to 64 KiB). ``clients``: the client of each
        deployment the agent serves."""
        self.clients = clients
        self.spans_to = spans_to
        self.spans_linger = spans_linger
        self._collector: httpx.AsyncClient | None = None
        self.redis = redis
        self.consumer_name = consumer
        self.batch_size = batch_size
        self.event_batch_size = event_batch_size
        self.in_flight = max(1, in_flight)
        self.upload_compute_logs = upload_compute_logs

    def lanes(self) -> list[_Lane]:
        return [
            _Lane(keys.OUT_RESULTS, AgentResult,
                  lambda client, items, tp: client.post_results(ResultBatch(results=items), tp),
                  "uploader.results", self.batch_size),
            _Lane(keys.OUT_EVENTS, RunEvent,
                  lambda client, items, tp: client.post_events(EventBatch(events=items), tp),
                  "uploader.events", self.event_batch_size),
            _Lane(keys.OUT_LOGS, LogChunk, self._send_logs, "uploader.logs", self.batch_size),
            # read with no endpoint too: its poison entries go to the dead letters as every
            # stream's do, and the spans of run workers told to trace do not pile up
            _Lane(keys.OUT_SPANS, SpanBatch, self._send_spans, "", self.batch_size,
                  self.spans_linger if self.spans_to else 0.0),
        ]

    async def run(self, stop: asyncio.Event, *, burst: bool = False) -> None:
        """Upload until ``stop`` is set (or, with ``burst``, until every stream is drained)."""
        if self.spans_to is not None and self._collector is None:
            # made before the first spans come, not while runs wait: an HTTP client (its TLS
            # context) and the OTLP messages take tens of milliseconds to make and import
            from . import _otlp  # noqa: F401

            self._collector = httpx.AsyncClient(headers=self.spans_to[1], timeout=10.0)
        log.info("uploader %s ready", self.consumer_name)
        try:
            async with reporting_status(self.redis, kind="uploader",
                                        consumer=self.consumer_name):
                await asyncio.gather(*(self._run_lane(lane, stop, burst)
                                       for lane in self.lanes()))
        finally:
            if self._collector is not None:
                await self._collector.aclose()
                self._collector = None

    async def _send_spans(self, client: ControlPlaneClient, batches: list[SpanBatch],
                          traceparent: str) -> BatchReceipt:
        """Send the run workers' spans to the OTLP endpoint in one request (none set: they
        are dropped, as every process drops its spans then)."""
        if self.spans_to is None:
            return BatchReceipt(stored=0)
        assert self._collector is not None
        # protobuf and the OTLP messages: only when spans are exported
        from ._otlp import encode_span_batches

        url = self.spans_to[0]
        try:
            response = await self._collector.post(
                url, content=encode_span_batches(batches))
        except httpx.HTTPError as exc:
            raise ControlPlaneError(f"OTLP endpoint {url} unreachable: {exc!r}") from exc
        if response.status_code != 200:
            raise ControlPlaneError(f"OTLP endpoint {url} answered {response.status_code}",
                                    status_code=response.status_code)
        return BatchReceipt(stored=len(batches))

    async def _send_logs(self, client: ControlPlaneClient, chunks: list[LogChunk],
                         traceparent: str) -> BatchReceipt:
        if not self.upload_compute_logs:
            # compute-log upload is off: not one byte of stdout/stderr leaves the agent
            return BatchReceipt(stored=0)
        return await client.post_logs(LogBatch(chunks=chunks), traceparent)

    async def _run_lane(self, lane: _Lane, stop: asyncio.Event, burst: bool) -> None:
        consumer = StreamConsumer(
            self.redis,
            stream=lane.stream,
            group=keys.GROUP_UPLOADERS,
            consumer=self.consumer_name,
            message_type=lane.message_type,
            count=lane.batch_size,
        )

        async def upload(entries: list[Entry[Any]]) -> None:
            by_deployment: dict[str, list[Entry[Any]]] = {}
            for entry in entries:
                by_deployment.setdefault(entry.deployment, []).append(entry)
            for deployment, group in by_deployment.items():
                client = await self.clients.for_deployment(deployment)
                if client is None:
                    await self._unserved(lane, consumer, deployment, group)
                else:
                    await self._upload(lane, consumer, client, group, stop)

        await consume_batches(consumer, upload, stop, burst=burst, in_flight=self.in_flight,
                              linger=lane.linger)

    async def _unserved(self, lane: _Lane, consumer: StreamConsumer[Any], deployment: str,
                        entries: list[Entry[Any]]) -> None:
        """Entries of a deployment no token of this agent serves (any longer): reported with
        another deployment's token they would leak into it, so they go to the dead letters,
        to be replayed once the deployment's token is back."""
        error = (f"no agent token of this agent serves deployment {deployment!r}: add its "
                 "token (TETHER_AGENT_TOKEN_FILES) and replay the dead letters")
        log.error("%d entries of %s: %s", len(entries), lane.stream, error)
        for entry in entries:
            await consumer.dead_letter(entry.entry_id, entry_fields(
                entry.message, entry.traceparent, entry.deployment), error)

    async def _upload(self, lane: _Lane, consumer: StreamConsumer[Any],
                      client: ControlPlaneClient, entries: list[Entry[Any]],
                      stop: asyncio.Event) -> None:
        """Send ``entries`` until the control plane has stored them, then acknowledge them.
        A batch the control plane refuses is split to find the entries it refuses, which go
        to the dead letters; the rest are stored."""
        backoff = Backoff()
        # the upload joins the trace of its first entry and links those of the others
        traces = list(dict.fromkeys(entry.traceparent for entry in entries if entry.traceparent))
        while not stop.is_set():
            try:
                with (telemetry.span(lane.span, parent=traces[0] if traces else "",
                                     links=traces[1:],
                                     attributes={"tether.entries": len(entries)})
                      if lane.span else contextlib.nullcontext("")) as traceparent:
                    receipt = await lane.send(client, [entry.message for entry in entries],
                                              traceparent)
            except ControlPlaneError as exc:
                if exc.status_code in REFUSED:
                    await self._refused(lane, consumer, client, entries, stop, exc)
                    return
                deployment = entries[0].deployment
                if isinstance(exc, Unauthorized) and deployment and \
                        await self.clients.for_deployment(deployment, fresh=True) is not client:
                    # the poller found the token revoked and stopped serving its deployment
                    await self._unserved(lane, consumer, deployment, entries)
                    return
                log.log(client.failure_level(exc), "upload to %s deferred: %s",
                        lane.stream, exc)
                metrics.UPLOAD_RETRIES.add(1, {"stream": lane.stream})
                # still ours: no other uploader should take these over while we retry
                await consumer.keep_alive([entry.entry_id for entry in entries])
                await backoff.wait(stop, at_least=exc.retry_after)
                continue
            await consumer.ack([entry.entry_id for entry in entries])
            _count(lane.stream, entries, receipt)
            return
        # stopping: the entries stay pending and are taken over after the idle time

    async def _refused(self, lane: _Lane, consumer: StreamConsumer[Any],
                       client: ControlPlaneClient, entries: list[Entry[Any]],
                       stop: asyncio.Event, exc: ControlPlaneError) -> None:
        if len(entries) == 1:
            entry = entries[0]
            log.error("control plane refused entry %s of %s: %s", entry.entry_id.decode(),
                      lane.stream, exc)
            await consumer.dead_letter(entry.entry_id, entry_fields(
                entry.message, entry.traceparent, entry.deployment), str(exc))
            return
        half = len(entries) // 2
        await self._upload(lane, consumer, client, entries[:half], stop)
        await self._upload(lane, consumer, client, entries[half:], stop)


def _count(stream: str, entries: list[Entry[Any]], receipt: BatchReceipt) -> None:
    attributes = {"stream": stream}
    metrics.UPLOADED.add(len(entries), attributes)
    metrics.BATCH_SIZE.record(len(entries), attributes)
    if receipt.rejected:
        metrics.UPLOAD_REJECTED.add(receipt.rejected, attributes)
    if stream == keys.OUT_LOGS:
        metrics.LOG_BYTES.add(sum(len(entry.message.data.encode()) for entry in entries))
    elif stream == keys.OUT_RESULTS:
        # every run worker's exit is reported here, whichever launcher backend ran it
        for entry in entries:
            if isinstance(entry.message, RunWorkerExited):
                metrics.RUNS_EXITED.add(1, {"outcome": run_outcome(entry.message.exit_code)})


def run_outcome(exit_code: int) -> str:
    """What a run worker's exit code says of the run, as a metric attribute."""
    if exit_code == EXIT_RUN_SUCCEEDED:
        return "succeeded"
    if exit_code == EXIT_RUN_FAILED:
        return "failed"
    if exit_code == EXIT_RUN_CANCELED:
        return "canceled"
    if exit_code in (EXIT_INTERRUPTED, 128 + signal.SIGTERM, -signal.SIGTERM):
        return "interrupted"
    return "crashed"
