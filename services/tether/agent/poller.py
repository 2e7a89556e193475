"""The poller: claims work from the control plane and hands it to the right stream. Nothing more.

It never runs user code and never waits on a worker. If it dies between a claim and the XADD,
the lease lapses and the item is claimed again; a duplicate entry is harmless because every
handler is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as aioredis

from .._backoff import Backoff
from ..broker import keys, publish
from ..errors import BrokerUnavailable, ControlPlaneError, Unauthorized
from ..wire import ClaimRequest, LaunchRun, LoadLocation, TerminateRun, WorkItem
from ._client import ControlPlaneClient

log = logging.getLogger(__name__)


def stream_for(item: WorkItem) -> str:
    match item.payload:
        case LaunchRun() | TerminateRun():
            return keys.WORK_RUNS
        case LoadLocation():
            return keys.WORK_CODE
    raise AssertionError(f"no stream for {item.payload!r}")


class Poller:
    def __init__(
        self,
        *,
        client: ControlPlaneClient,
        redis: aioredis.Redis,
        agent_id: str,
        queues: list[str],
        wait_seconds: float = 20.0,
    ) -> None:
        self.client = client
        self.redis = redis
        self.request = ClaimRequest(agent_id=agent_id, queues=queues, wait_seconds=wait_seconds)

    async def run(self, stop: asyncio.Event) -> None:
        backoff = Backoff()
        log.info("poller %s claiming work for queues %s", self.request.agent_id,
                 ",".join(self.request.queues))
        while not stop.is_set():
            try:
                handed = await self.poll_once(stop)
            except Unauthorized as exc:
                log.error("the control plane refused the agent token: %s", exc)
                await backoff.wait(stop)
            except ControlPlaneError as exc:
                log.warning("%s; retrying", exc)
                await backoff.wait(stop, at_least=exc.retry_after)
            except BrokerUnavailable as exc:
                log.warning("%s; retrying", exc)
                await backoff.wait(stop)
            else:
                backoff.reset()
                if handed:
                    log.info("handed %d work item(s) to the workers", handed)

    async def poll_once(self, stop: asyncio.Event) -> int:
        """One long-poll claim; returns how many items were written to the streams."""
        claim = asyncio.ensure_future(self.client.claim(self.request))
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({claim, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not claim.done():
            # stopping: an item claimed now would only wait for its lease to lapse
            claim.cancel()
            return 0
        items = claim.result().items
        for item in items:
            await self._hand_over(item, stop)
        return len(items)

    async def _hand_over(self, item: WorkItem, stop: asyncio.Event) -> None:
        """Write ``item`` to its stream, waiting out a broker restart while the claim's lease
        lasts: dropping it would stall it until the lease lapses and it is claimed again."""
        backoff = Backoff(maximum=2.0)
        while True:
            try:
                await publish(self.redis, stream_for(item), [item], item.traceparent)
                return
            except BrokerUnavailable as exc:
                if stop.is_set() or time.time() >= item.lease_until:
                    raise
                log.warning("%s; retrying work item %s", exc, item.work_id)
                await backoff.wait(stop)

