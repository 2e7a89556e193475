"""Poison entries on every stream of a running agent: each ends in the dead letters with the
reason, the workers keep running, and a run launched after them completes whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis

from tether.broker import keys
from tether.wire import LogChunk, StepStart

from ..deployment import LAUNCH, RUN, Deployment, deployed, wait_loaded
from ..streams import dead_letters

STEP_START = msgspec.msgpack.encode(StepStart(run_id="r", attempt=1, seq=1, timestamp=0.0))
LOG_CHUNK = msgspec.msgpack.encode(LogChunk(run_id="r", attempt=1, stream="stdout", seq=1,
                                            data="x"))
# per stream: a well-formed message of another stream's type, and what decoding it says
WRONG_TYPE = {
    keys.WORK_RUNS: (STEP_START, "Object missing required field `work_id`"),
    keys.WORK_CODE: (STEP_START, "Object missing required field `work_id`"),
    keys.OUT_EVENTS: (LOG_CHUNK, "Object missing required field `type`"),
    keys.OUT_LOGS: (STEP_START, "Object missing required field `stream`"),
    keys.OUT_RESULTS: (STEP_START, "Invalid value 'STEP_START' - at `$.type`"),
    # read even when no OpenTelemetry endpoint is set (this deployment sets none)
    keys.OUT_SPANS: (msgspec.msgpack.encode({"spans": "r"}),
                     "Expected `array`, got `str` - at `$.spans`"),
}


def poison(redis_url: str) -> dict[tuple[str, str], str]:
    """Malformed entries written straight into every stream: (stream, entry id) → the error
    its dead letter must give."""
    client = redis.Redis.from_url(redis_url)
    written: dict[tuple[str, str], str] = {}
    try:
        for stream, (wrong, wrong_error) in WRONG_TYPE.items():
            for fields, error in [
                ({b"m": b"\xc1\x00garbage"}, "MessagePack data is malformed"),
                ({b"payload": b"hello"}, "missing field 'm'"),
                # field names are bytes to Redis: not even UTF-8
                ({b"\xff\xfe": b"\x00"}, "missing field 'm'"),
                ({b"m": wrong, b"tp": b"00-abc-def-01"}, wrong_error),
            ]:
                entry_id = client.xadd(stream, fields)  # type: ignore[arg-type]
                written[stream, entry_id.decode()] = f"undecodable entry: {error}"
    finally:
        client.close()
    return written


@pytest.mark.timeout(90)
def test_poison_entries_are_dead_lettered_and_the_run_completes(tmp_path: Path,
                                                                broker_url: str) -> None:
    with deployed(redis_url=broker_url, data_dir=tmp_path) as deployment:
        written = poison(broker_url)
        wait_loaded(deployment)
        run = run_to_success(deployment, "hello_job")

        letters = deployment.wait_for(
            lambda: (found := dead_letters(broker_url)) and len(found) >= len(written)
            and found, what=f"{len(written)} dead letters", timeout=30)
        by_entry = {(letter.stream, letter.entry_id): letter for letter in letters}
        assert set(by_entry) == set(written), "every poison entry, and nothing else"
        for entry, error in written.items():
            letter = by_entry[entry]
            assert letter.error.startswith(error), (entry, letter.error)
            assert letter.deliveries == 1
        # the poison is gone from the streams: nothing left pending to trip over again
        client = redis.Redis.from_url(broker_url)
        try:
            for stream, entry_id in written:
                assert client.xrange(stream, min=entry_id, max=entry_id) == []
        finally:
            client.close()

        events = [e for e in run["events"] if e["seq"] is not None]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        assert events[0]["type"] == "RUN_START" and events[-1]["type"] == "RUN_SUCCESS"
        assert {e["stepKey"] for e in events if e["type"] == "STEP_SUCCESS"} == {
            "extract", "transform", "load"}
        deployment.assert_alive()


def run_to_success(deployment: Deployment, job: str) -> dict[str, Any]:
    """Launch ``job`` and wait until it succeeded and its stdout, which ends the run's
    output, has been stored."""
    run_id = deployment.graphql(LAUNCH, job=job)["launchRun"]["id"]

    def done() -> dict[str, Any] | None:
        run: dict[str, Any] = deployment.graphql(RUN, id=run_id)["run"]
        assert run["status"] not in ("FAILURE", "CANCELED"), run
        stdout = "".join(c["data"] for c in run["logs"] if c["stream"] == "stdout")
        return run if run["status"] == "SUCCESS" and "total = 20" in stdout else None

    result: dict[str, Any] = deployment.wait_for(done, what=f"run of {job} to succeed")
    return result
