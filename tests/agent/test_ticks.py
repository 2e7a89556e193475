"""Ticks in the supervisor, against a real Valkey and a real code server: a tick whose
evaluation fails unexpectedly is delivered again and then dead-lettered, while the location
changes read in the same batch are applied and acknowledged once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis

from tether.agent import _code_servers
from tether.broker import entry_fields, keys
from tether.codeserver import CodeServerClient
from tether.wire import (
    DeadLetter,
    DesiredLocation,
    EvaluateTick,
    LocationRemoved,
    RemoveLocation,
    TickOutcome,
    WorkItem,
    WorkPayload,
)

from ..waiting import eventually_async
from .test_supervisor import HELLO, results, running_supervisor

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class BuggyTicksClient(CodeServerClient):
    """A code server client with a bug in evaluating ticks; it answers everything else."""

    async def evaluate_ticks(self, *args: Any, **kwargs: Any) -> list[TickOutcome]:
        raise RuntimeError("a bug in evaluating ticks")


def work(work_id: str, payload: WorkPayload) -> WorkItem:
    return WorkItem(work_id=work_id, epoch=1, lease_until=0.0, payload=payload)


async def add_together(redis: aioredis.Redis, items: list[WorkItem]) -> list[bytes]:
    """Append ``items`` to ``work:code`` in one transaction: one read takes them all."""
    async with redis.pipeline(transaction=True) as pipe:
        for item in items:
            pipe.xadd(keys.WORK_CODE, entry_fields(item, ""))  # type: ignore[arg-type]
        return list(await pipe.execute())


async def pending(redis: aioredis.Redis) -> list[bytes]:
    entries = await redis.xpending_range(keys.WORK_CODE, keys.GROUP_SUPERVISORS, min="-",
                                         max="+", count=100)
    return [entry["message_id"] for entry in entries]


async def dead_letters(redis: aioredis.Redis) -> list[DeadLetter]:
    return [msgspec.msgpack.decode(fields[keys.FIELD_MESSAGE], type=DeadLetter)
            for _, fields in await redis.xrange(keys.DEAD_LETTERS)]


@pytest.mark.timeout(90)
async def test_a_tick_failing_unexpectedly_leaves_the_location_changes_of_its_batch_applied_once(
        broker_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_code_servers, "CodeServerClient", BuggyTicksClient)
    async with running_supervisor(broker_url, tmp_path, claim_idle_ms=200) as supervisor:
        redis = supervisor.redis
        await supervisor.registry.desire(DesiredLocation(spec=HELLO, generation=1))
        assert (await supervisor.snapshot("hello")).job("hello_job") is not None

        removal, tick = await add_together(redis, [
            work("w-remove", RemoveLocation(name="retired", generation=4)),
            work("w-tick", EvaluateTick(tick_id=9, kind="schedule", name="every_five_minutes",
                                        location=HELLO, scheduled_time=1_800_000_000.0)),
        ])

        async def only_the_tick_pending() -> bool:
            return await pending(redis) == [tick]

        # the removal is done and acknowledged; only the tick is left to deliver again
        await eventually_async(only_the_tick_pending, what="only the tick pending")
        assert await redis.xrange(keys.WORK_CODE, min=removal, max=removal) == []

        # delivered again until it counts as poison, the supervisor running all along
        [letter] = await eventually_async(lambda: dead_letters(redis), timeout=40,
                                          what="the tick dead-lettered")
        assert (letter.stream, letter.entry_id) == (keys.WORK_CODE, tick.decode())
        assert letter.deliveries > supervisor.consumer.max_deliveries
        assert await pending(redis) == []
        removed = [r for r in await results(supervisor) if isinstance(r, LocationRemoved)]
        assert [(r.work_id, r.location) for r in removed] == [("w-remove", "retired")]
        # and the location it serves still answers
        assert (await supervisor.snapshot("hello")).job("hello_job") is not None
