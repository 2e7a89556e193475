"""Pipelined consumption against a real Valkey: the next batch is read while batches are
handled, never more than ``in_flight`` batches are handled at once, and each entry is handled
and acknowledged exactly once."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from tether.agent._worker import consume_batches
from tether.broker import Entry, StreamConsumer, publish
from tether.wire import LogMessage, RunEvent

STREAM = "tether:test:read-ahead"


@pytest.mark.parametrize("in_flight", [1, 2])
async def test_batches_are_read_ahead_and_at_most_in_flight_handled_at_once(
    broker_url: str, in_flight: int
) -> None:
    client = aioredis.Redis.from_url(broker_url)
    await publish(client, STREAM, [
        LogMessage(run_id="r1", attempt=1, seq=seq, timestamp=1.0, level="INFO", message="x")
        for seq in range(1, 1001)])
    consumer: StreamConsumer[RunEvent] = StreamConsumer(
        client, stream=STREAM, group="g", consumer="c", message_type=RunEvent,  # type: ignore[arg-type]
        count=100, block_ms=100)
    reads: list[float] = []
    handling: list[tuple[float, float]] = []
    seen: list[int] = []
    busy = most_busy = 0
    read = consumer.read

    async def timed_read(**kwargs: int) -> list[Entry[RunEvent]]:
        reads.append(time.monotonic())
        return await read(**kwargs)

    consumer.read = timed_read  # type: ignore[method-assign]

    async def handle(entries: list[Entry[RunEvent]]) -> None:
        nonlocal busy, most_busy
        busy += 1
        most_busy = max(most_busy, busy)
        started = time.monotonic()
        await asyncio.sleep(0.02)  # an upload
        seen.extend(entry.message.seq for entry in entries)
        await consumer.ack([entry.entry_id for entry in entries])
        handling.append((started, time.monotonic()))
        busy -= 1

    await consume_batches(consumer, handle, asyncio.Event(), burst=True, in_flight=in_flight)

    assert most_busy == in_flight
    assert sorted(seen) == list(range(1, 1001))
    if in_flight == 1:
        assert seen == list(range(1, 1001)), "one at a time means in stream order"
    # reads started while a batch was being handled
    overlapped = [r for r in reads if any(start < r < end for start, end in handling)]
    assert len(overlapped) >= 9
    assert await client.xlen(STREAM) == 0
    assert (await client.xpending(STREAM, "g"))["pending"] == 0
    await client.aclose()


async def test_without_in_flight_batches_are_read_and_handled_by_turns(broker_url: str) -> None:
    client = aioredis.Redis.from_url(broker_url)
    await publish(client, STREAM, [
        LogMessage(run_id="r1", attempt=1, seq=seq, timestamp=1.0, level="INFO", message="x")
        for seq in range(1, 301)])
    consumer: StreamConsumer[RunEvent] = StreamConsumer(
        client, stream=STREAM, group="g", consumer="c", message_type=RunEvent,  # type: ignore[arg-type]
        count=100, block_ms=100)
    handling = False
    read = consumer.read

    async def checked_read(**kwargs: int) -> list[Entry[RunEvent]]:
        assert not handling, "read while a batch was being handled"
        return await read(**kwargs)

    consumer.read = checked_read  # type: ignore[method-assign]
    seen: list[int] = []

    async def handle(entries: list[Entry[RunEvent]]) -> None:
        nonlocal handling
        handling = True
        await asyncio.sleep(0.01)  # an upload
        seen.extend(entry.message.seq for entry in entries)
        await consumer.ack([entry.entry_id for entry in entries])
        handling = False

    await consume_batches(consumer, handle, asyncio.Event(), burst=True)
    assert seen == list(range(1, 301))
    await client.aclose()


async def test_with_linger_entries_that_trickle_in_go_in_one_batch(broker_url: str) -> None:
    """As the run workers' spans do: one entry per run, sent to the collector together."""
    client = aioredis.Redis.from_url(broker_url)
    consumer: StreamConsumer[RunEvent] = StreamConsumer(
        client, stream=STREAM, group="g", consumer="c", message_type=RunEvent,  # type: ignore[arg-type]
        count=100, block_ms=100)
    await consumer.ensure_group()
    stop = asyncio.Event()
    batches: list[list[int]] = []

    async def handle(entries: list[Entry[RunEvent]]) -> None:
        batches.append([entry.message.seq for entry in entries])
        await consumer.ack([entry.entry_id for entry in entries])
        if sum(map(len, batches)) == 10:
            stop.set()

    async def trickle() -> None:
        for seq in range(1, 11):
            await publish(client, STREAM, [LogMessage(
                run_id="r1", attempt=1, seq=seq, timestamp=1.0, level="INFO", message="x")])
            await asyncio.sleep(0.02)  # a trickle: entries arrive one at a time

    started = time.monotonic()
    await asyncio.gather(trickle(), asyncio.wait_for(
        consume_batches(consumer, handle, stop, linger=1.0), timeout=10))
    assert batches == [list(range(1, 11))]
    # handed over when the linger ran out, not before
    assert time.monotonic() - started >= 1.0
    assert (await client.xpending(STREAM, "g"))["pending"] == 0
    await client.aclose()
