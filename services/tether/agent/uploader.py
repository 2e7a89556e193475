"""The uploader: sends run events, compute logs and results to the control plane in batches.

An entry is acknowledged only after the control plane has stored it; until then it waits in
Redis, so an unreachable control plane delays metadata but loses none. Each stream has its own
loop, so a backlog of logs never holds up results.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from ..broker import Entry, StreamConsumer, entry_fields, keys
from ..errors import BrokerUnavailable, ControlPlaneError
from ..wire import AgentResult, BatchReceipt, EventBatch, LogBatch, LogChunk, ResultBatch, RunEvent
from ._client import ControlPlaneClient
from ._worker import Backoff

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Lane:
    stream: str
    message_type: Any
    send: Callable[[list[Any]], Awaitable[BatchReceipt]]


class Uploader:
    def __init__(
        self,
        *,
        client: ControlPlaneClient,
        redis: aioredis.Redis,
        consumer: str,
        batch_size: int = 500,
        upload_compute_logs: bool = True,
    ) -> None:
        self.client = client
        self.redis = redis
        self.consumer_name = consumer
        self.batch_size = batch_size
        self.upload_compute_logs = upload_compute_logs
        self.uploaded: dict[str, int] = {}

    def lanes(self) -> list[_Lane]:
        return [
            _Lane(keys.OUT_RESULTS, AgentResult,
                  lambda items: self.client.post_results(ResultBatch(results=items))),
            _Lane(keys.OUT_EVENTS, RunEvent,
                  lambda items: self.client.post_events(EventBatch(events=items))),
            _Lane(keys.OUT_LOGS, LogChunk, self._send_logs),
        ]

    async def run(self, stop: asyncio.Event, *, burst: bool = False) -> None:
        """Upload until ``stop`` is set (or, with ``burst``, until every stream is drained)."""
        log.info("uploader %s ready", self.consumer_name)
        await asyncio.gather(*(self._run_lane(lane, stop, burst) for lane in self.lanes()))

    async def _send_logs(self, chunks: list[LogChunk]) -> BatchReceipt:
        if not self.upload_compute_logs:
            # compute-log upload is off: not one byte of stdout/stderr leaves the agent
            return BatchReceipt(stored=0)
        return await self.client.post_logs(LogBatch(chunks=chunks))

    async def _run_lane(self, lane: _Lane, stop: asyncio.Event, burst: bool) -> None:
        consumer = StreamConsumer(
            self.redis,
            stream=lane.stream,
            group=keys.GROUP_UPLOADERS,
            consumer=self.consumer_name,
            message_type=lane.message_type,
            count=self.batch_size,
        )
        backoff = Backoff()
        while not stop.is_set():
            try:
                entries = await consumer.read()
            except BrokerUnavailable as exc:
                log.warning("%s", exc)
                await backoff.wait(stop)
                continue
            if not entries:
                if burst:
                    return
                continue
            await self._upload(lane, consumer, entries, stop, backoff)

    async def _upload(self, lane: _Lane, consumer: StreamConsumer[Any], entries: list[Entry[Any]],
                      stop: asyncio.Event, backoff: Backoff) -> None:
        messages = [entry.message for entry in entries]
        ids = [entry.entry_id for entry in entries]
        while True:
            try:
                await lane.send(messages)
                await consumer.ack(ids)
            except ControlPlaneError as exc:
                if exc.status_code in (400, 422):
                    # the control plane will never take this batch: keep it, with the reason
                    for entry in entries:
                        await consumer.dead_letter(entry.entry_id, _fields(entry), str(exc))
                    return
                log.warning("upload to %s deferred: %s", lane.stream, exc)
            except BrokerUnavailable as exc:
                log.warning("%s", exc)
            else:
                backoff.reset()
                self.uploaded[lane.stream] = self.uploaded.get(lane.stream, 0) + len(entries)
                return
            if stop.is_set():
                # unacknowledged entries stay pending and are taken over after a restart
                return
            await backoff.wait(stop)


def _fields(entry: Entry[Any]) -> dict[bytes, bytes]:
    return entry_fields(entry.message, entry.traceparent)
