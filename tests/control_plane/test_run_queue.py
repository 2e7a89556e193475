"""The run queue, run monitoring and the daemons' leader leases, on SQLite and PostgreSQL:
runs are admitted within the concurrency limits, best priority first; a waiting run says
why; runs that will never report are failed with the reason; one daemon leads at a time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tether.control_plane.storage import LIVENESS_SECONDS, QueueLimits, RunStatus, Store
from tether.settings import TagLimit
from tether.wire import (
    AgentHeartbeat,
    LaunchRun,
    LogMessage,
    RunFailure,
    RunStart,
    RunSuccess,
)

from .conftest import FakeClock, load_location

WAREHOUSE = {"database": "warehouse"}


@pytest.fixture
def limited(database_url: str, clock: FakeClock, tmp_path: Path) -> Iterator[Store]:
    """A store with at most 2 runs tagged database=warehouse and 4 runs in all at once."""
    limits = QueueLimits(max_concurrent_runs=4,
                         tag_limits=(TagLimit(key="database", value="warehouse", limit=2),))
    store = Store.from_url(database_url, clock=clock, limits=limits)
    store.migrate()
    load_location(store)
    yield store
    store.close()


def _claim_launches(store: Store, agent: str = "agent-1") -> list[str]:
    items = store.claim_work(agent, ["default"], 100, 60)
    return [item.payload.run_id for item in items if isinstance(item.payload, LaunchRun)]


def _finish(store: Store, run_id: str, clock: FakeClock) -> None:
    """The run worker's start and success, as its events arrive."""
    store.store_events([
        RunStart(run_id=run_id, attempt=1, seq=1, timestamp=clock.now, job_name="hello_job"),
        RunSuccess(run_id=run_id, attempt=1, seq=2, timestamp=clock.now),
    ])


def test_a_tag_limit_holds_runs_back_and_they_all_run_in_turn(
        limited: Store, clock: FakeClock) -> None:
    tagged = []
    for _ in range(10):
        tagged.append(limited.launch_run("hello_job", tags=WAREHOUSE))
        clock.advance(1)
    other = limited.launch_run("hello_job")

    launched = _claim_launches(limited)
    # two warehouse runs fit, and the untagged run is not held back by them
    assert sorted(launched) == sorted([*tagged[:2], other])
    reason = limited.waiting_reason(tagged[2])
    assert reason is not None and "tagged database=warehouse" in reason and "2" in reason

    admitted = tagged[:2]
    in_progress = list(admitted)
    while in_progress:
        assert len(in_progress) <= 2
        finished = in_progress.pop(0)
        clock.advance(1)
        _finish(limited, finished, clock)
        limited.admit_queued_runs()
        newly = _claim_launches(limited)
        admitted += newly
        in_progress += newly
    # oldest first, each run once
    assert admitted == tagged
    assert all(limited.get_run(run_id).status == RunStatus.SUCCESS for run_id in tagged)


def test_the_global_limit_admits_the_highest_priority_first(
        limited: Store, clock: FakeClock) -> None:
    first = [limited.launch_run("hello_job") for _ in range(4)]
    low = limited.launch_run("hello_job")
    clock.advance(1)
    high = limited.launch_run("hello_job", tags={"tether/priority": "5"})
    assert sorted(_claim_launches(limited)) == sorted(first)
    reason = limited.waiting_reason(high)
    assert reason is not None and "limit of 4 concurrent run(s) is reached" in reason

    _finish(limited, first[0], clock)
    assert limited.admit_queued_runs() == [high]
    _finish(limited, first[1], clock)
    assert limited.admit_queued_runs() == [low]


def test_a_run_that_fits_says_when_no_daemon_admits_it(
        limited: Store, clock: FakeClock) -> None:
    runs = [limited.launch_run("hello_job") for _ in range(5)]
    _claim_launches(limited)
    assert "limit of 4" in (limited.waiting_reason(runs[4]) or "")
    _finish(limited, runs[0], clock)  # a slot is free, and no daemon runs to fill it
    reason = limited.waiting_reason(runs[4])
    assert reason is not None and "no run queue daemon is running" in reason
    assert limited.acquire_lease("run_queue", "daemon-a", 10)
    assert "next turn" in (limited.waiting_reason(runs[4]) or "")


def test_a_queued_run_that_waits_can_be_canceled(limited: Store) -> None:
    runs = [limited.launch_run("hello_job", tags=WAREHOUSE) for _ in range(3)]
    canceled = limited.terminate_run(runs[2])
    assert canceled.status == RunStatus.CANCELED
    _claim_launches(limited)
    assert limited.admit_queued_runs() == []


def test_without_limits_every_run_is_launched_at_once(store: Store) -> None:
    load_location(store)
    runs = [store.launch_run("hello_job", tags=WAREHOUSE) for _ in range(5)]
    assert sorted(_claim_launches(store)) == sorted(runs)


def test_a_run_claimed_but_never_started_fails_after_the_start_timeout(
        store: Store, clock: FakeClock) -> None:
    load_location(store)
    run_id = store.launch_run("hello_job")
    _claim_launches(store)
    clock.advance(100)
    assert store.fail_stuck_runs(start_timeout=120) == []
    clock.advance(30)
    assert store.fail_stuck_runs(start_timeout=120) == [run_id]
    run = store.get_run(run_id)
    assert run.status == RunStatus.FAILURE and run.error is not None
    assert run.error.class_name == "RunStartTimeout"
    assert "did not start within 120 s" in run.error.message
    assert store.fail_stuck_runs(start_timeout=120) == []


def test_a_started_run_of_an_agent_that_went_silent_fails(
        store: Store, clock: FakeClock) -> None:
    load_location(store)
    lost, canceled = store.launch_run("hello_job"), store.launch_run("hello_job")
    store.record_heartbeat(AgentHeartbeat(agent_id="agent-1", version="test",
                                          queues=["default"], timestamp=clock.now))
    _claim_launches(store, "agent-1")
    store.store_events([RunStart(run_id=run_id, attempt=1, seq=1, timestamp=clock.now,
                                 job_name="hello_job") for run_id in (lost, canceled)])
    store.terminate_run(canceled)
    clock.advance(LIVENESS_SECONDS - 1)
    assert store.fail_stuck_runs(start_timeout=120) == []  # still within the window
    clock.advance(2)
    assert sorted(store.fail_stuck_runs(start_timeout=120)) == sorted([lost, canceled])
    run = store.get_run(lost)
    assert run.status == RunStatus.FAILURE and run.error is not None
    assert run.error.class_name == "AgentLost" and "agent-1" in run.error.message
    assert store.get_run(canceled).status == RunStatus.CANCELED


def test_one_daemon_leads_until_its_lease_lapses_or_it_lets_go(
        store: Store, clock: FakeClock) -> None:
    assert store.acquire_lease("run_queue", "a", 10)
    assert not store.acquire_lease("run_queue", "b", 10)
    assert store.acquire_lease("run_queue", "a", 10)  # renewed
    clock.advance(9)
    assert not store.acquire_lease("run_queue", "b", 10)
    clock.advance(2)
    assert store.acquire_lease("run_queue", "b", 10)  # a's lapsed
    assert not store.acquire_lease("run_queue", "a", 10)
    store.release_lease("run_queue", "b")
    assert store.acquire_lease("run_queue", "a", 10)
    # each daemon has a lease of its own
    assert store.acquire_lease("run_monitor", "b", 10)


def test_a_failed_run_with_retries_gets_a_fenced_new_attempt(
        store: Store, clock: FakeClock) -> None:
    load_location(store)
    run_id = store.launch_run("hello_job", tags={"tether/max_retries": "1"})
    plain = store.launch_run("hello_job")
    _claim_launches(store)
    for failed in (run_id, plain):
        store.store_events([
            RunStart(run_id=failed, attempt=1, seq=1, timestamp=clock.now, job_name="hello_job"),
            RunFailure(run_id=failed, attempt=1, seq=2, timestamp=clock.now, message="boom")])
    clock.advance(1)

    assert store.retry_failed_runs() == [run_id]  # the untagged run stays failed
    run = store.get_run(run_id)
    assert (run.status, run.attempt, run.error) == (RunStatus.QUEUED, 2, None)
    assert any("attempt 2 queued after attempt 1 failed: boom" in e.message
               for e in store.run_events(run_id))
    # the first attempt's late events are fenced off
    late = store.store_events([LogMessage(run_id=run_id, attempt=1, seq=3, timestamp=clock.now,
                                          level="INFO", message="too late")])
    assert late.rejected == 1
    [launch] = [item.payload for item in store.claim_work("agent-1", ["default"], 10, 60)
                if isinstance(item.payload, LaunchRun)]
    assert (launch.run_id, launch.attempt) == (run_id, 2)

    store.store_events([
        RunStart(run_id=run_id, attempt=2, seq=1, timestamp=clock.now, job_name="hello_job"),
        RunFailure(run_id=run_id, attempt=2, seq=2, timestamp=clock.now, message="again")])
    assert store.retry_failed_runs() == []  # one retry only
    assert store.get_run(run_id).status == RunStatus.FAILURE
    assert store.rebuild_run(run_id) == store.get_run(run_id)
