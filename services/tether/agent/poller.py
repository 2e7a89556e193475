"""The poller: claims work from the control plane and hands it to the right stream. Nothing more.

It never runs user code and never waits on a worker. If it dies between a claim and the XADD,
the lease lapses and the item is claimed again; a duplicate entry is harmless because every
handler is idempotent.

An agent serving several deployments has a token for each: the poller heartbeats and claims
with each token in a loop of its own, and tags the entries of each claim with the deployment
the control plane said the token serves (:mod:`._deployments`). A token that served a
deployment and is then refused on ``REFUSALS_TO_RETIRE`` heartbeats in a row was revoked (its
deployment deleted, or the token itself): the poller forgets that deployment's desired code
locations, so the supervisors stop its code servers as for removed locations, and claims no
more with the token; the other tokens' deployments carry on.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import os
import time
from collections.abc import Sequence

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .. import _metrics as metrics
from .. import _telemetry as telemetry
from .._backoff import Backoff, sleep_or_stop
from ..broker import keys, publish_each
from ..errors import BrokerUnavailable, ControlPlaneError, Unauthorized
from ..wire import (
    DEFAULT_DEPLOYMENT,
    AgentHeartbeat,
    ClaimRequest,
    EvaluateTick,
    GrantSlot,
    LaunchRun,
    LoadLocation,
    RemoveLocation,
    TerminateRun,
    WorkerStatus,
    WorkItem,
)
from ._client import ControlPlaneClient
from ._code_registry import undesire_deployment
from ._deployments import forget_deployment, record_deployment, recorded_deployment
from ._status import StreamStats, read_statuses, reporting_status, stream_stats

log = logging.getLogger(__name__)

# work items claimed at once at most: a thousand schedules' ticks due in the same minute go
# to the streams in a few claims, and one claim's items in one round trip
CLAIM_BATCH = 256
# heartbeats refused in a row after which a token that served a deployment counts as revoked
# (one refusal could be a control plane that is being set up again; this many, at one every
# heartbeat_seconds, is not)
REFUSALS_TO_RETIRE = 3


def stream_for(item: WorkItem) -> str:
    match item.payload:
        case LaunchRun() | TerminateRun() | GrantSlot():
            return keys.WORK_RUNS
        case LoadLocation() | RemoveLocation() | EvaluateTick():
            return keys.WORK_CODE
    raise AssertionError(f"no stream for {item.payload!r}")


class Poller:
    def __init__(
        self,
        *,
        clients: Sequence[ControlPlaneClient],
        redis: aioredis.Redis,
        agent_id: str,
        queues: list[str],
        wait_seconds: float = 20.0,
        heartbeat_seconds: float = 5.0,
        max_items: int = CLAIM_BATCH,
    ) -> None:
        """``clients``: one per agent token (per deployment the agent serves)."""
        if not clients:
            raise ValueError("a poller needs at least one control-plane client")
        self.clients = list(clients)
        self.redis = redis
        self.request = ClaimRequest(agent_id=agent_id, queues=queues, wait_seconds=wait_seconds,
                                    max_items=max_items)
        self.heartbeat_seconds = heartbeat_seconds
        self.consumer = f"{agent_id}-poller-{os.getpid()}"
        # the streams' sizes as of the last heartbeat, for the stream gauges
        self._streams: list[StreamStats] = []
        # the deployment each client's token serves (by fingerprint), once its heartbeat was
        # answered; claims wait for it, since their entries are tagged with it
        self.deployments: dict[str, str] = {}
        self._known = {client.fingerprint: asyncio.Event() for client in self.clients}
        # heartbeats refused in a row, and the tokens found revoked, by fingerprint
        self._refusals: dict[str, int] = {}
        self._retired = {client.fingerprint: asyncio.Event() for client in self.clients}

    async def run(self, stop: asyncio.Event) -> None:
        log.info("poller %s claiming work for queues %s", self.request.agent_id,
                 ",".join(self.request.queues))
        metrics.observe(metrics.STREAM_LENGTH,
                        lambda: [(s.length, {"stream": s.stream}) for s in self._streams])
        metrics.observe(metrics.STREAM_PENDING,
                        lambda: [(s.pending, {"stream": s.stream, "group": s.group})
                                 for s in self._streams if s.group])
        metrics.observe(metrics.STREAM_LAG,
                        lambda: [(s.lag, {"stream": s.stream, "group": s.group})
                                 for s in self._streams if s.group])
        async with reporting_status(self.redis, kind="poller", consumer=self.consumer):
            loops = [asyncio.ensure_future(self._heartbeat(client, stop))
                     for client in self.clients]
            try:
                await asyncio.gather(*(self._poll(client, stop) for client in self.clients))
                # every token was revoked: nothing to claim, but stay until stopped
                await stop.wait()
            finally:
                for loop in loops:
                    loop.cancel()
                await asyncio.gather(*loops, return_exceptions=True)

    async def _heartbeat(self, client: ControlPlaneClient, stop: asyncio.Event) -> None:
        """Tell the control plane this agent is alive, which queues it serves, and how its
        workers and code servers are doing; note which deployment the token serves."""
        version = _version()
        while not stop.is_set():
            try:
                self._streams = await stream_stats(self.redis)
                workers = _seen_by(await read_statuses(self.redis),
                                   self.deployments.get(client.fingerprint))
                reply = await client.heartbeat(AgentHeartbeat(
                    agent_id=self.request.agent_id, version=version,
                    queues=self.request.queues, timestamp=time.time(), workers=workers))
                await record_deployment(self.redis, reply.deployment, client.fingerprint)
                self._learned(client, reply.deployment)
                self._refusals[client.fingerprint] = 0
                pause = self.heartbeat_seconds
            except Unauthorized as exc:
                # this token claims nothing until its deployment is known: say why
                log.error("the control plane refused the agent token %s…: %s",
                          client.fingerprint[:6], exc)
                refusals = self._refusals[client.fingerprint] = \
                    self._refusals.get(client.fingerprint, 0) + 1
                try:
                    if refusals >= REFUSALS_TO_RETIRE and await self._retire(client):
                        return
                except BrokerUnavailable as exc:
                    log.warning("%s; retrying", exc)
                pause = self.heartbeat_seconds
            except (ControlPlaneError, RedisError, BrokerUnavailable) as exc:
                log.debug("heartbeat not sent: %s", exc)
                # e.g. the control plane is starting: be seen as soon as it answers
                pause = min(1.0, self.heartbeat_seconds)
            await sleep_or_stop(stop, pause)

    def _learned(self, client: ControlPlaneClient, deployment: str) -> None:
        if self.deployments.get(client.fingerprint) == deployment:
            return
        if deployment in self.deployments.values():
            log.warning("two agent tokens serve deployment %s: each claims its work, and its "
                        "runs are reported with either", deployment)
        log.info("agent token %s… serves deployment %s", client.fingerprint[:6], deployment)
        self.deployments[client.fingerprint] = deployment
        self._known[client.fingerprint].set()

    async def _retire(self, client: ControlPlaneClient) -> bool:
        """The token of ``client`` is refused for good: stop serving the deployment it
        served (its desired locations forgotten, so the supervisors stop their code servers,
        and its claims end). False when it never served one here: nothing to stop."""
        deployment = (self.deployments.get(client.fingerprint)
                      or await recorded_deployment(self.redis, client.fingerprint))
        if deployment is None:
            return False
        forgotten = await undesire_deployment(self.redis, deployment)
        await forget_deployment(self.redis, deployment, client.fingerprint)
        log.error("the control plane refused the agent token %s… of deployment %s on %d "
                  "heartbeats in a row (revoked, or the deployment deleted): stopping that "
                  "deployment's code servers (%s) and claiming no more work with the token; "
                  "remove it from the agent's tokens", client.fingerprint[:6], deployment,
                  REFUSALS_TO_RETIRE, ", ".join(forgotten) or "none")
        self._retired[client.fingerprint].set()
        return True

    async def _poll(self, client: ControlPlaneClient, stop: asyncio.Event) -> None:
        backoff = Backoff()
        retired = self._retired[client.fingerprint]
        # claimed work is tagged with the token's deployment: first learn which it is
        waits = [asyncio.ensure_future(event.wait())
                 for event in (self._known[client.fingerprint], stop, retired)]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()
        while not stop.is_set() and not retired.is_set():
            try:
                handed = await self.poll_once(stop, client)
            except Unauthorized as exc:
                log.error("the control plane refused the agent token %s…: %s",
                          client.fingerprint[:6], exc)
                await backoff.wait(stop)
            except ControlPlaneError as exc:
                log.log(client.failure_level(exc), "%s; retrying", exc)
                await backoff.wait(stop, at_least=exc.retry_after)
            except BrokerUnavailable as exc:
                log.warning("%s; retrying", exc)
                await backoff.wait(stop)
            else:
                backoff.reset()
                if handed:
                    log.info("handed %d work item(s) of deployment %s to the workers", handed,
                             self.deployments[client.fingerprint])

    async def poll_once(self, stop: asyncio.Event, client: ControlPlaneClient) -> int:
        """One long-poll claim with ``client`` (whose deployment is known); returns how many
        items were written to the streams."""
        deployment = self.deployments[client.fingerprint]
        claim = asyncio.ensure_future(client.claim(self.request))
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({claim, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not claim.done():
            # stopping: an item claimed now would only wait for its lease to lapse
            claim.cancel()
            return 0
        items = claim.result().items
        now = time.time()
        for item in items:
            if item.enqueued_at:
                metrics.CLAIM_LATENCY.record(max(0.0, now - item.enqueued_at))
            metrics.WORK_CLAIMED.add(1, {"kind": type(item.payload).__name__})
        await self._hand_over(items, deployment, stop)
        return len(items)

    async def _hand_over(self, items: list[WorkItem], deployment: str,
                         stop: asyncio.Event) -> None:
        """Write the claimed items (of ``deployment``) to their streams in one round trip,
        waiting out a broker restart while their leases last: dropping them would stall them
        until the leases lapse and they are claimed again."""
        if not items:
            return
        backoff = Backoff(maximum=2.0)
        with telemetry.sibling_spans([
                ("poller.hand_over", item.traceparent, {"tether.work_id": item.work_id})
                for item in items]) as traceparents:
            while True:
                try:
                    await publish_each(self.redis, [
                        (stream_for(item), item, traceparent)
                        for item, traceparent in zip(items, traceparents, strict=True)],
                        deployment=deployment)
                    return
                except BrokerUnavailable as exc:
                    if stop.is_set() or time.time() >= min(item.lease_until for item in items):
                        raise
                    log.warning("%s; retrying %d work item(s)", exc, len(items))
                    await backoff.wait(stop)


def _seen_by(workers: list[WorkerStatus], deployment: str | None) -> list[WorkerStatus]:
    """The workers as the control plane of ``deployment`` sees them: with its own code
    servers only (another deployment's locations are none of its business); with none while
    the token's deployment is not known yet."""
    return [
        msgspec.structs.replace(worker, code_servers=[
            server for server in worker.code_servers
            if (server.deployment or DEFAULT_DEPLOYMENT) == deployment])
        if worker.code_servers else worker
        for worker in workers]


def _version() -> str:
    try:
        return importlib.metadata.version("tether")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
