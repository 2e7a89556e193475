"""What the supervisors read from ``work:code``: location changes, which only update the
desired set and wake the reconcile loop (which does the work, :mod:`.supervisor`), and ticks
of schedules and sensors (:mod:`._ticks`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import redis.asyncio as aioredis

from ..broker import Entry, StreamConsumer, keys, publish
from ..wire import (
    AgentResult,
    DesiredLocation,
    ErrorInfo,
    EvaluateTick,
    GrantSlot,
    LaunchRun,
    LoadLocation,
    LocationLoadFailed,
    LocationRemoved,
    RemoveLocation,
    TerminateRun,
    WorkItem,
)
from ._code_registry import CodeRegistry
from ._code_servers import CodeServer
from ._ticks import Tick, evaluate_ticks
from ._worker import Settlement

log = logging.getLogger(__name__)


class CodeWork:
    """Handles the batches a supervisor reads from ``consumer``; ``servers`` are the code
    servers it serves (ticks are evaluated in them), ``changed`` wakes its reconcile loop."""

    def __init__(self, *, redis: aioredis.Redis, consumer: StreamConsumer[WorkItem],
                 registry: CodeRegistry, servers: Mapping[str, CodeServer],
                 changed: asyncio.Event) -> None:
        self.redis = redis
        self.consumer = consumer
        self.registry = registry
        self.servers = servers
        self.changed = changed

    async def handle_batch(self, entries: list[Entry[WorkItem]]) -> None:
        """Location changes one by one, in order, acknowledged before any tick of the batch
        is evaluated: whatever becomes of a tick, they are not applied again. Then the ticks,
        side by side. An entry whose handling fails stays pending (:class:`Settlement`)."""
        settlement = Settlement(self.consumer)
        ticks: list[Tick] = []
        for entry in entries:
            if isinstance(tick := entry.message.payload, EvaluateTick):
                ticks.append((entry, tick))
            else:
                await settlement.handle([entry], self.change(entry))
        await settlement.ack()
        if ticks:
            await evaluate_ticks(ticks, settlement=settlement, servers=self.servers,
                                 redis=self.redis)
            await settlement.ack()

    async def change(self, entry: Entry[WorkItem]) -> None:
        """A location change: update the desired set and wake the reconcile loop."""
        item = entry.message
        match item.payload:
            case LoadLocation(location=spec, generation=generation):
                desired = DesiredLocation(spec=spec, generation=generation,
                                          work_id=item.work_id, epoch=item.epoch,
                                          traceparent=entry.traceparent,
                                          deployment=entry.deployment)
                if not await self.registry.desire(desired):
                    # a newer deploy is desired already: this one completes as superseded
                    error = ErrorInfo(class_name="Superseded",
                                      message=f"a newer deploy of {spec.name} replaced this one")
                    await self._publish(LocationLoadFailed(
                        work_id=item.work_id, epoch=item.epoch, location=spec.name,
                        error=error, generation=generation), entry)
            case RemoveLocation(name=name, generation=generation):
                await self.registry.undesire(keys.served_location(entry.deployment, name),
                                             generation)
                await self._publish(LocationRemoved(work_id=item.work_id, epoch=item.epoch,
                                                    location=name, generation=generation),
                                    entry)
            case LaunchRun() | TerminateRun() | GrantSlot():
                log.error("work item %s belongs to the launcher; ignored", item.work_id)
                return
        self.changed.set()

    async def _publish(self, result: AgentResult, entry: Entry[WorkItem]) -> None:
        await publish(self.redis, keys.OUT_RESULTS, [result], entry.traceparent,
                      entry.deployment)
