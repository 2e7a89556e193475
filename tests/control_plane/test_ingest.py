"""Batches of events and compute logs as the uploaders send them: stored once each, exactly as
sent, on SQLite and on PostgreSQL (where a batch travels as one JSON document)."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tether.control_plane.errors import UnstorableInput
from tether.control_plane.storage import RunStatus, Store
from tether.wire import (
    ErrorInfo,
    LogChunk,
    LogMessage,
    RunEvent,
    RunStart,
    StepFailure,
    StepSuccess,
)

from .conftest import FakeClock, load_location

ODD_TEXT = [
    'quotes " and \' and \\ backslashes \\x00 \\u0000',
    '{"looks": ["like", "json"]}, NULL, null',
    "unicode: é ß 中文 🚀 \u2028 \u00a0 tabs\tand\nnewlines\r\n",
    "",
    " ",
    "\x01\x1f control characters",
]


def _log(run_id: str, seq: int, message: str = "row processed", attempt: int = 1,
         step_key: str | None = "emit") -> LogMessage:
    return LogMessage(run_id=run_id, attempt=attempt, seq=seq, timestamp=1_700_000_100.0 + seq,
                      step_key=step_key, level="INFO", message=message)


def test_a_full_batch_over_many_runs_is_stored_once(store: Store) -> None:
    load_location(store)
    runs = [store.launch_run("hello_job") for _ in range(3)]
    store.store_events([_log(runs[0], seq) for seq in range(1, 51)])

    batch: list[RunEvent] = [_log(run_id, seq) for run_id in runs for seq in range(1, 201)]
    batch += [_log(runs[1], 7), _log(runs[2], 8, attempt=2), _log("no-such-run", 1)]
    receipt = store.store_events(batch)

    # runs[0] had 50 already, runs[1] seq 7 is in the batch twice, two are fenced off
    assert (receipt.stored, receipt.duplicates, receipt.rejected) == (550, 51, 2)
    for run_id in runs:
        seqs = [e.seq for e in store.run_events(run_id) if e.seq is not None]
        assert sorted(seqs) == list(range(1, 201))
    again = store.store_events(batch)
    assert (again.stored, again.duplicates, again.rejected) == (0, 601, 2)


def test_concurrent_uploaders_redelivering_store_each_event_once(store: Store) -> None:
    """Three uploaders send overlapping batches of two runs at once (log lines with step
    outcomes mixed in, as a redelivery after a lost receipt would): every event is stored
    once, and each run's row is the fold of its whole log."""
    load_location(store)
    runs = [store.launch_run("hello_job") for _ in range(2)]
    events: list[RunEvent] = []
    for run_id in runs:
        for seq in range(1, 601):
            if seq % 50 == 0:
                events.append(StepSuccess(run_id=run_id, attempt=1, seq=seq,
                                          timestamp=1_700_000_100.0 + seq, step_key=f"s{seq}",
                                          duration=0.1))
            else:
                events.append(_log(run_id, seq))
    shuffled = random.Random(7)
    batches = []
    for _ in range(3):
        copy = events[:]
        shuffled.shuffle(copy)
        batches += [copy[start:start + 150] for start in range(0, len(copy), 150)]

    with ThreadPoolExecutor(3) as pool:
        receipts = list(pool.map(store.store_events, batches))

    assert sum(r.stored for r in receipts) == len(events)
    assert sum(r.duplicates for r in receipts) == 2 * len(events)
    for run_id in runs:
        seqs = [e.seq for e in store.run_events(run_id) if e.seq is not None]
        assert sorted(seqs) == list(range(1, 601))
        run = store.get_run(run_id)
        assert run is not None and run.steps_succeeded == 12
        assert store.rebuild_run(run_id).steps_succeeded == 12


def test_events_come_back_exactly_as_sent(store: Store) -> None:
    load_location(store)
    run_id = store.launch_run("hello_job")
    error = ErrorInfo(class_name="KeyError", message=ODD_TEXT[0], stack=ODD_TEXT[2])
    odd_time = 1_700_000_123.123_456_7
    batch: list[RunEvent] = [
        _log(run_id, seq, message=text, step_key=None if seq % 2 else text[:40])
        for seq, text in enumerate(ODD_TEXT, start=1)
    ]
    batch += [
        _log(run_id, 20, message="a NUL \x00 in the output"),
        RunStart(run_id=run_id, attempt=1, seq=21, timestamp=odd_time, job_name="hello_job"),
        StepSuccess(run_id=run_id, attempt=1, seq=22, timestamp=odd_time + 1,
                    step_key="extract", duration=0.25),
        StepFailure(run_id=run_id, attempt=1, seq=23, timestamp=odd_time + 2, step_key="load",
                    duration=0.1, error=error),
    ]
    assert store.store_events(batch).stored == len(batch)

    stored = {e.seq: e for e in store.run_events(run_id) if e.seq is not None}
    for seq, text in enumerate(ODD_TEXT, start=1):
        assert stored[seq].message == text
        assert stored[seq].step_key == (None if seq % 2 else text[:40])
    # PostgreSQL text cannot hold NUL: it becomes U+FFFD, as undecodable bytes do
    assert stored[20].message == "a NUL \ufffd in the output"
    assert stored[21].timestamp == odd_time and stored[21].type == "RUN_START"
    assert stored[23].error == error and stored[23].level == "ERROR"
    run = store.get_run(run_id)
    assert run is not None and run.status == RunStatus.STARTED
    assert run.start_time == odd_time and (run.steps_succeeded, run.steps_failed) == (1, 1)
    # the stored bodies are the events themselves: the run rebuilt from them alone is the same
    rebuilt = store.rebuild_run(run_id)
    assert (rebuilt.status, rebuilt.start_time, rebuilt.steps_succeeded,
            rebuilt.steps_failed) == (run.status, odd_time, 1, 1)


def test_compute_logs_come_back_exactly_as_sent(store: Store) -> None:
    load_location(store)
    run_id = store.launch_run("hello_job")
    chunks = [LogChunk(run_id=run_id, attempt=1, stream="stdout", seq=seq, data=text)
              for seq, text in enumerate(ODD_TEXT, start=1)]
    assert store.store_logs(chunks).stored == len(chunks)
    assert [c.data for c in store.run_logs(run_id)] == ODD_TEXT


@pytest.fixture
def postgres_store(postgres_url: str, clock: FakeClock) -> Iterator[Store]:
    store = Store.from_url(postgres_url, clock=clock)
    store.migrate()
    yield store
    store.close()


def test_postgres_refuses_an_over_long_value_instead_of_cutting_it(postgres_store: Store) -> None:
    store = postgres_store
    load_location(store)
    run_id = store.launch_run("hello_job")
    batch: list[RunEvent] = [_log(run_id, 1), _log(run_id, 2, step_key="s" * 300)]
    with pytest.raises(UnstorableInput, match="too long"):
        store.store_events(batch)
    # nothing of the refused batch was stored
    assert [e.type for e in store.run_events(run_id)] == ["RUN_QUEUED"]


@pytest.mark.timeout(60)
def test_a_reader_tailing_by_id_misses_no_event_of_a_slower_batch(store: Store) -> None:
    """Two uploaders store batches of one run at once, the first one slower to commit. A reader
    that tails the run's log by storage id (as `tether run launch --wait` and the web UI do)
    must still see every event: the second batch may not take ids above the first's and
    commit before it."""
    from tether.control_plane.storage._runs import store_events

    load_location(store)
    run_id = store.launch_run("hello_job")
    seen: dict[int, int] = {}  # seq -> storage id

    def tail() -> None:
        after = max(seen.values(), default=0)
        for event in store.run_events(run_id, after_id=after):
            if event.seq is not None:
                seen[event.seq] = event.id

    with ThreadPoolExecutor(1) as pool:
        with store.engine.begin() as slow:
            # the slower uploader's batch is stored, not yet committed ...
            store_events(slow, [_log(run_id, seq) for seq in range(1, 101)], 1_700_000_100.0,
                         grace=300.0)
            # ... while the faster one's arrives; a tail now sees at most what has committed
            fast = pool.submit(store.store_events, [_log(run_id, seq) for seq in range(101, 201)])
            # it waits for the slower batch's lock: what keeps ids in commit order
            with contextlib.suppress(TimeoutError):
                fast.result(timeout=0.5)
            tail()
        fast.result(timeout=30)
    tail()
    assert sorted(seen) == list(range(1, 201)), (
        f"the tail missed {sorted(set(range(1, 201)) - set(seen))[:5]}...")
