"""Reading ahead against a real Valkey: the next batch is read while one is handled, yet the
batches are handled one at a time, in stream order, each entry once."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from tether.agent._worker import consume_batches
from tether.broker import Entry, StreamConsumer, publish
from tether.wire import LogMessage, RunEvent

STREAM = "tether:test:read-ahead"


async def test_batches_are_read_ahead_and_handled_in_order(broker_url: str) -> None:
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
    read = consumer.read

    async def timed_read(**kwargs: int) -> list[Entry[RunEvent]]:
        reads.append(time.monotonic())
        return await read(**kwargs)

    consumer.read = timed_read  # type: ignore[method-assign]

    async def handle(entries: list[Entry[RunEvent]]) -> None:
        started = time.monotonic()
        assert not handling or handling[-1][1] <= started, "two batches handled at once"
        await asyncio.sleep(0.02)  # an upload
        seen.extend(entry.message.seq for entry in entries)
        await consumer.ack([entry.entry_id for entry in entries])
        handling.append((started, time.monotonic()))

    await consume_batches(consumer, handle, asyncio.Event(), burst=True, read_ahead=True)

    assert seen == list(range(1, 1001))
    # reads started while a batch was being handled
    overlapped = [r for r in reads if any(start < r < end for start, end in handling)]
    assert len(overlapped) >= 9
    assert await client.xlen(STREAM) == 0
    await client.aclose()
