"""Canceling runs in the store: before an agent has the run, and while one runs it."""

from __future__ import annotations

import pytest

from tether.control_plane.errors import BadInput, RunNotFound
from tether.control_plane.storage import RunStatus, Store
from tether.wire import (
    EXIT_RUN_CANCELED,
    EXIT_RUN_FAILED,
    RunCanceled,
    RunFailure,
    RunLaunched,
    RunStart,
    RunSuccess,
    RunTerminated,
    RunWorkerExited,
    StepCanceled,
    StepStart,
    TerminateRun,
)

from .conftest import load_location


def started_run(store: Store, agent: str = "agent-a") -> str:
    load_location(store)
    run_id = store.launch_run("hello_job")
    [item] = store.claim_work(agent, ["default"], 10, 30)
    store.store_results([RunLaunched(work_id=item.work_id, epoch=item.epoch, run_id=run_id,
                                     attempt=1, pid=99, agent_id=agent)])
    store.store_events([RunStart(run_id=run_id, attempt=1, seq=1, timestamp=1.0,
                                 job_name="hello_job")])
    return run_id


def test_a_run_no_agent_has_claimed_is_canceled_at_once(store: Store) -> None:
    load_location(store)
    run_id = store.launch_run("hello_job")

    record = store.terminate_run(run_id)

    assert record.status == RunStatus.CANCELED
    assert store.claim_work("agent-a", ["default"], 10, 30) == []  # the launch is called off
    assert [e.type for e in store.run_events(run_id)] == ["RUN_QUEUED", "RUN_CANCELED"]
    assert store.rebuild_run(run_id).status == RunStatus.CANCELED


def test_a_running_run_is_canceling_and_only_its_agent_gets_the_termination(
        store: Store) -> None:
    run_id = started_run(store, agent="agent-a")

    assert store.terminate_run(run_id).status == RunStatus.CANCELING
    assert store.terminate_run(run_id).status == RunStatus.CANCELING  # asking twice is fine

    assert store.claim_work("agent-b", ["default"], 10, 30) == []
    [item] = store.claim_work("agent-a", ["default"], 10, 30)
    assert item.payload == TerminateRun(run_id=run_id, attempt=1)
    store.store_results([RunTerminated(work_id=item.work_id, epoch=item.epoch, run_id=run_id,
                                       attempt=1, found=True)])
    assert store.claim_work("agent-a", ["default"], 10, 30) == []


def test_the_interrupted_runs_failure_makes_it_canceled(store: Store) -> None:
    run_id = started_run(store)
    store.terminate_run(run_id)

    store.store_events([RunFailure(run_id=run_id, attempt=1, seq=2, timestamp=2.0,
                                   message="interrupted")])
    store.store_results([RunWorkerExited(run_id=run_id, attempt=1, exit_code=EXIT_RUN_FAILED)])

    run = store.get_run(run_id)
    assert run is not None and run.status == RunStatus.CANCELED and run.end_time == 2.0
    assert store.rebuild_run(run_id).status == RunStatus.CANCELED


def test_a_worker_killed_during_the_cancel_makes_it_canceled(store: Store) -> None:
    run_id = started_run(store)
    store.terminate_run(run_id)
    store.store_results([RunWorkerExited(run_id=run_id, attempt=1, exit_code=-9)])
    run = store.get_run(run_id)
    assert run is not None and run.status == RunStatus.CANCELED


def test_a_run_that_succeeds_before_the_signal_lands_stays_a_success(store: Store) -> None:
    run_id = started_run(store)
    store.terminate_run(run_id)
    store.store_events([RunSuccess(run_id=run_id, attempt=1, seq=2, timestamp=2.0)])
    run = store.get_run(run_id)
    assert run is not None and run.status == RunStatus.SUCCESS


def test_an_ended_or_unknown_run_cannot_be_canceled(store: Store) -> None:
    run_id = started_run(store)
    store.store_events([RunSuccess(run_id=run_id, attempt=1, seq=2, timestamp=2.0)])
    with pytest.raises(BadInput, match="already ended"):
        store.terminate_run(run_id)
    with pytest.raises(RunNotFound):
        store.terminate_run("no-such-run")


def test_a_worker_reporting_the_cancel_names_it_in_the_log_and_the_steps(
        store: Store) -> None:
    run_id = started_run(store)
    store.terminate_run(run_id)

    store.store_events([
        StepStart(run_id=run_id, attempt=1, seq=2, timestamp=2.0, step_key="hello"),
        StepCanceled(run_id=run_id, attempt=1, seq=3, timestamp=2.5, step_key="hello",
                     duration=0.5),
        RunCanceled(run_id=run_id, attempt=1, seq=4, timestamp=2.6,
                    message="Run of hello_job was canceled during step hello"),
    ])
    store.store_results([RunWorkerExited(run_id=run_id, attempt=1, exit_code=EXIT_RUN_CANCELED)])

    run = store.get_run(run_id)
    assert run is not None and run.status == RunStatus.CANCELED and run.end_time == 2.6
    assert run.error is None and run.steps_failed == 0
    assert store.rebuild_run(run_id).status == RunStatus.CANCELED
    [step] = store.step_spans(run_id)
    assert (step.step_key, step.status, step.end) == ("hello", "CANCELED", 2.5)
    logged = [(e.type, e.level, e.message) for e in store.run_events(run_id) if e.seq]
    assert logged[-2:] == [
        ("STEP_CANCELED", "WARNING", "Step hello canceled after 500 ms"),
        ("RUN_CANCELED", "WARNING", "Run of hello_job was canceled during step hello"),
    ]
    assert not any("FAILURE" in e.type for e in store.run_events(run_id))
