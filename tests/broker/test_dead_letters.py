"""`tether agent dead-letters` against a real Valkey: entries a real consumer gave up on are
listed with their reason, and replayed back onto their stream exactly once."""

from __future__ import annotations

import os
import subprocess
import sys

import msgspec
import pytest
import redis as sync_redis
import redis.asyncio as aioredis

from tether.broker import StreamConsumer, entry_fields, keys
from tether.wire import RunEvent, StepStart

from ..streams import dead_letters

pytestmark = pytest.mark.timeout(60)

GARBAGE = b"\xc1 not msgpack at all"


def cli(broker_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    return subprocess.run(
        [sys.executable, "-m", "tether", "agent", "dead-letters", *args],
        env={**env, "TETHER_REDIS_URL": broker_url}, capture_output=True, text=True,
        timeout=30)


def events_consumer(client: aioredis.Redis) -> StreamConsumer[RunEvent]:
    return StreamConsumer(client, stream=keys.OUT_EVENTS, group=keys.GROUP_UPLOADERS,
                          consumer="uploader-7", message_type=keys.MESSAGE_TYPES[keys.OUT_EVENTS],
                          block_ms=100)


async def poison(broker_url: str) -> tuple[dict[bytes, bytes], dict[bytes, bytes]]:
    """An undecodable entry and a refused step event, both dead-lettered by a real consumer;
    returns their original fields."""
    client = aioredis.Redis.from_url(broker_url)
    consumer = events_consumer(client)
    await consumer.ensure_group()
    garbage = {keys.FIELD_MESSAGE: GARBAGE}
    await client.xadd(keys.OUT_EVENTS, garbage)  # type: ignore[arg-type]
    assert await consumer.read() == []  # dead-lettered, not delivered

    refused = entry_fields(StepStart(run_id="r1", attempt=1, seq=3, timestamp=1.0,
                                     step_key="load"), "00-trace-span-01")
    await client.xadd(keys.OUT_EVENTS, refused)  # type: ignore[arg-type]
    [entry] = await consumer.read()
    # what the uploader does with an entry the control plane refuses
    await consumer.dead_letter(entry.entry_id, refused, "control plane answered 422: no run r1")
    await client.aclose()
    return garbage, refused


def stream_fields(broker_url: str, stream: str) -> list[dict[bytes, bytes]]:
    client = sync_redis.Redis.from_url(broker_url)
    try:
        return [fields for _, fields in client.xrange(stream)]
    finally:
        client.close()


def letter_ids(broker_url: str) -> list[str]:
    client = sync_redis.Redis.from_url(broker_url)
    try:
        return [letter_id.decode() for letter_id, _ in client.xrange(keys.DEAD_LETTERS)]
    finally:
        client.close()


async def test_list_shows_each_dead_letter_with_its_reason_and_message(broker_url: str) -> None:
    await poison(broker_url)
    ids = letter_ids(broker_url)

    listing = cli(broker_url, "list")

    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert len(lines) == 2
    undecodable, refused = lines
    assert undecodable.startswith(ids[0])
    assert "tether:out:events" in undecodable and "consumer=uploader-7" in undecodable
    assert "deliveries=1" in undecodable
    assert "undecodable entry: MessagePack data is malformed" in undecodable
    assert f"{len(GARBAGE)} bytes" in undecodable
    assert refused.startswith(ids[1])
    assert "control plane answered 422: no run r1" in refused
    assert "StepStart run=r1 attempt=1 seq=3 step=load" in refused

    only_one = cli(broker_url, "list", "--limit", "1")
    assert only_one.stdout.splitlines()[0] == undecodable
    assert "1 of 2 shown" in only_one.stdout
    assert cli(broker_url, "list", "--stream", keys.OUT_LOGS).stdout.strip() == \
        f"no dead letters from {keys.OUT_LOGS}"


async def test_a_replayed_letter_is_back_on_its_stream_once_and_gone_from_the_letters(
        broker_url: str) -> None:
    _, refused = await poison(broker_url)
    refused_id = letter_ids(broker_url)[1]

    replay = cli(broker_url, "replay", refused_id)

    assert replay.returncode == 0, replay.stderr
    assert f"replayed {refused_id} to {keys.OUT_EVENTS}" in replay.stdout
    assert "StepStart run=r1" in replay.stdout
    # the original fields, trace context included, as a new entry
    assert stream_fields(broker_url, keys.OUT_EVENTS) == [refused]
    assert [letter.error for letter in dead_letters(broker_url)] == [
        "undecodable entry: MessagePack data is malformed: invalid opcode '\\xc1' (byte 0)"]
    # and a consumer now gets it
    client = aioredis.Redis.from_url(broker_url)
    [entry] = await events_consumer(client).read()
    await client.aclose()
    assert entry.message == msgspec.msgpack.decode(refused[keys.FIELD_MESSAGE], type=RunEvent)
    assert entry.traceparent == "00-trace-span-01"

    again = cli(broker_url, "replay", refused_id)
    assert again.returncode == 1
    assert f"no dead letter '{refused_id}'" in again.stderr


async def test_replay_all_empties_the_dead_letters(broker_url: str) -> None:
    garbage, refused = await poison(broker_url)

    replay = cli(broker_url, "replay", "--all")

    assert replay.returncode == 0, replay.stderr
    assert len(replay.stdout.splitlines()) == 2
    assert stream_fields(broker_url, keys.OUT_EVENTS) == [garbage, refused]
    assert cli(broker_url, "list").stdout.strip() == "no dead letters"
    assert cli(broker_url, "replay", "--all").stdout.strip() == "no dead letters to replay"


def test_an_unknown_id_is_a_clear_error(broker_url: str) -> None:
    for unknown in ("1-0", "not-an-id"):
        replay = cli(broker_url, "replay", unknown)
        assert replay.returncode == 1
        assert f"no dead letter '{unknown}'" in replay.stderr
        assert "dead-letters list" in replay.stderr


def test_an_unreachable_broker_is_named(broker_url: str) -> None:
    from ..conftest import free_port

    listing = cli(f"redis://127.0.0.1:{free_port()}", "list")
    assert listing.returncode == 1
    assert "cannot read tether:dead-letters" in listing.stderr
