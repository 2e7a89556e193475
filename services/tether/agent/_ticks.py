"""Ticks of schedules and sensors, evaluated for the control plane's daemons in the code
server of their location.

Each location's ticks go to its code server in one call, side by side with the other
locations' (a thousand schedules due at once must not wait on each other), and their
outcomes are published in one round trip. A tick that no code server evaluated in time
completes with that error as its outcome, which the daemon shows on the tick. An unexpected
error leaves only that location's ticks pending (:class:`._worker.Settlement`): delivered
again, and dead-lettered after too many deliveries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import redis.asyncio as aioredis

from .. import _telemetry as telemetry
from ..broker import Entry, keys, publish_each
from ..errors import CodeServerError
from ..wire import ErrorInfo, EvaluateTick, TickEvaluated, TickOutcome, WorkItem
from ._code_servers import CodeServer, ask
from ._worker import Settlement

# a schedule's or sensor's function that takes longer than this fails its tick
TICK_TIMEOUT_SECONDS = 60.0

Tick = tuple[Entry[WorkItem], EvaluateTick]


async def evaluate_ticks(ticks: Sequence[Tick], *, settlement: Settlement[WorkItem],
                         servers: Mapping[str, CodeServer], redis: aioredis.Redis) -> None:
    """Evaluate ``ticks`` in the code servers of ``servers`` (waiting through a restart) and
    publish their outcomes; the entries of the ticks evaluated are handled in
    ``settlement``, and acknowledged by its next ack."""
    by_location: dict[str, list[Tick]] = {}
    for entry, tick in ticks:
        # the code server of the tick's deployment's location
        served = keys.served_location(entry.deployment, tick.location.name)
        by_location.setdefault(served, []).append((entry, tick))
    # each outcome with its traceparent and its deployment
    evaluated: list[tuple[TickEvaluated, str, str]] = []

    async def evaluate(location: str, location_ticks: list[Tick]) -> None:
        evaluated.extend(await _evaluate(servers, location, location_ticks))

    await asyncio.gather(*(settlement.handle([entry for entry, _ in location_ticks],
                                             evaluate(location, location_ticks))
                           for location, location_ticks in by_location.items()))
    await publish_each(redis, [(keys.OUT_RESULTS, result, traceparent, deployment)
                               for result, traceparent, deployment in evaluated])


async def _evaluate(servers: Mapping[str, CodeServer], location: str, ticks: list[Tick]
                    ) -> list[tuple[TickEvaluated, str, str]]:
    """The outcomes of ``ticks`` of one location, evaluated in one call: the results to
    report, each with its traceparent and deployment."""
    evaluate = [tick for _, tick in ticks]
    with telemetry.sibling_spans([
            (f"supervisor.{tick.kind}_tick", entry.traceparent,
             {"tether.location": location, f"tether.{tick.kind}": tick.name})
            for entry, tick in ticks]) as parents:
        try:
            outcomes = await ask(
                servers, location, TICK_TIMEOUT_SECONDS,
                lambda client, remaining: client.evaluate_ticks(
                    evaluate, timeout=remaining, traceparents=parents))
        except CodeServerError as exc:
            outcomes = [TickOutcome(cursor=tick.cursor, error=ErrorInfo(
                class_name="CodeServerError",
                message=f"the {tick.kind} {tick.name!r} was not evaluated: {exc}"))
                for tick in evaluate]
    return [(TickEvaluated(work_id=entry.message.work_id, epoch=entry.message.epoch,
                           tick_id=tick.tick_id, outcome=outcome), parent, entry.deployment)
            for (entry, tick), outcome, parent in zip(ticks, outcomes, parents, strict=True)]
