from __future__ import annotations

import msgspec
import pytest

from tether.control_plane.errors import (
    AmbiguousJobError,
    BadInput,
    LocationNotFound,
    LocationNotLoaded,
)
from tether.control_plane.storage import RunStatus, Store
from tether.errors import JobNotFoundError
from tether.wire import (
    ErrorInfo,
    LogChunk,
    LogMessage,
    RunEvent,
    RunFailure,
    RunStart,
    RunSuccess,
    StepFailure,
    StepStart,
    StepSuccess,
)

from .conftest import FakeClock, load_location, snapshot, spec


def _run_events(run_id: str, attempt: int = 1, t: float = 1_700_000_100.0) -> list[RunEvent]:
    return [
        RunStart(run_id=run_id, attempt=attempt, seq=1, timestamp=t, job_name="hello_job"),
        StepStart(run_id=run_id, attempt=attempt, seq=2, timestamp=t + 1, step_key="extract"),
        LogMessage(run_id=run_id, attempt=attempt, seq=3, timestamp=t + 2, step_key="extract",
                   level="WARNING", message="3 rows skipped"),
        StepSuccess(run_id=run_id, attempt=attempt, seq=4, timestamp=t + 3, step_key="extract",
                    duration=0.5),
        StepFailure(run_id=run_id, attempt=attempt, seq=5, timestamp=t + 4, step_key="load",
                    duration=0.1,
                    error=ErrorInfo(class_name="ValueError", message="bad row", stack="tb")),
        RunFailure(run_id=run_id, attempt=attempt, seq=6, timestamp=t + 5,
                   message="step load failed"),
    ]


def test_unknown_job_is_refused_with_the_known_jobs(store: Store) -> None:
    load_location(store, jobs=("hello_job", "broken_job"))
    with pytest.raises(JobNotFoundError) as info:
        store.launch_run("no_such_job")
    assert "hello_job" in str(info.value) and "broken_job" in str(info.value)
    assert store.list_runs() == []


def test_a_job_of_a_location_not_loaded_yet_is_a_clear_error(store: Store) -> None:
    store.deploy_location(spec())
    with pytest.raises(LocationNotLoaded, match=r"hello.*LOADING"):
        store.launch_run("hello_job", location="hello")
    with pytest.raises(JobNotFoundError, match="not loaded yet: hello"):
        store.launch_run("hello_job")
    with pytest.raises(LocationNotFound, match="known locations: hello"):
        store.launch_run("hello_job", location="nope")


def test_a_job_in_two_locations_needs_the_location(store: Store) -> None:
    load_location(store, "a")
    load_location(store, "b")
    with pytest.raises(AmbiguousJobError, match="a, b"):
        store.launch_run("hello_job")
    run_id = store.launch_run("hello_job", location="b")
    run = store.get_run(run_id)
    assert run is not None and run.location == "b"


def test_run_config_must_be_an_object(store: Store) -> None:
    load_location(store)
    with pytest.raises(BadInput, match="runConfig"):
        store.launch_run("hello_job", run_config=[1, 2])  # type: ignore[arg-type]


def test_events_are_stored_once_and_fold_into_the_run(store: Store) -> None:
    load_location(store)
    run_id = store.launch_run("hello_job", tags={"team": "data"})
    batch = _run_events(run_id)

    first = store.store_events(batch)
    second = store.store_events(batch)

    assert (first.stored, first.duplicates, first.rejected) == (6, 0, 0)
    assert (second.stored, second.duplicates, second.rejected) == (0, 6, 0)
    events = store.run_events(run_id)
    assert [e.seq for e in events if e.seq is not None] == [1, 2, 3, 4, 5, 6]
    warning = next(e for e in events if e.type == "LOG_MESSAGE")
    assert warning.level == "WARNING" and warning.message == "3 rows skipped"
    step_failure = next(e for e in events if e.type == "STEP_FAILURE")
    assert step_failure.error is not None and step_failure.error.message == "bad row"
    run = store.get_run(run_id)
    assert run is not None
    assert run.status == RunStatus.FAILURE
    assert run.tags == {"team": "data"}
    assert (run.steps_succeeded, run.steps_failed) == (1, 1)
    assert run.start_time == batch[0].timestamp and run.end_time == batch[-1].timestamp
    assert run.error is not None and run.error.message == "step load failed"


def test_events_of_an_old_attempt_are_rejected(store: Store) -> None:
    load_location(store)
    run_id = store.launch_run("hello_job")
    receipt = store.store_events(_run_events(run_id, attempt=2))
    assert (receipt.stored, receipt.rejected) == (0, 6)
    receipt = store.store_events(_run_events("no-such-run"))
    assert receipt.rejected == 6
    run = store.get_run(run_id)
    assert run is not None and run.status == RunStatus.QUEUED
    assert [e.type for e in store.run_events(run_id)] == ["RUN_QUEUED"]


def test_a_late_batch_cannot_undo_the_outcome(store: Store) -> None:
    load_location(store)
    run_id = store.launch_run("hello_job")
    t = 1_700_000_100.0
    store.store_events([RunSuccess(run_id=run_id, attempt=1, seq=9, timestamp=t + 9)])
    store.store_events([RunStart(run_id=run_id, attempt=1, seq=1, timestamp=t,
                                 job_name="hello_job")])
    run = store.get_run(run_id)
    assert run is not None and run.status == RunStatus.SUCCESS
    assert run.start_time == t and run.end_time == t + 9


def test_rebuild_recomputes_the_live_row_from_the_log(store: Store, clock: FakeClock) -> None:
    load_location(store)
    run_id = store.launch_run("hello_job")
    store.claim_work("agent", ["default"], 10, 30)
    events = _run_events(run_id)
    store.store_events(events[:3])
    store.store_events(events[3:])
    live = store.get_run(run_id)

    # damage the projection, then rebuild it from the events alone
    from tether.control_plane.storage._schema import runs

    with store.engine.begin() as conn:
        conn.execute(runs.update().values(status="STARTED", steps_failed=0, error=None))
    clock.advance(5)
    rebuilt = store.rebuild_run(run_id)

    assert live is not None
    fields = ("status", "start_time", "end_time", "error", "steps_succeeded", "steps_failed")
    assert {f: getattr(rebuilt, f) for f in fields} == {f: getattr(live, f) for f in fields}


def test_logs_are_idempotent_fenced_and_ordered(store: Store) -> None:
    load_location(store)
    run_id = store.launch_run("hello_job")
    chunks = [
        LogChunk(run_id=run_id, attempt=1, stream="stdout", seq=2, data="world\n"),
        LogChunk(run_id=run_id, attempt=1, stream="stderr", seq=1, data="warn\n"),
        LogChunk(run_id=run_id, attempt=1, stream="stdout", seq=1, data="hello ",
                 step_key="extract"),
    ]
    assert store.store_logs(chunks).stored == 3
    again = store.store_logs([*chunks, LogChunk(run_id=run_id, attempt=7, stream="stdout",
                                                seq=3, data="zombie")])
    assert (again.stored, again.duplicates, again.rejected) == (0, 3, 1)
    stdout = store.run_logs(run_id, stream="stdout")
    assert "".join(c.data for c in stdout) == "hello world\n"
    assert stdout[0].step_key == "extract"
    assert [c.stream for c in store.run_logs(run_id)] == ["stderr", "stdout", "stdout"]


def test_list_runs_newest_first_with_filters(store: Store, clock: FakeClock) -> None:
    load_location(store, jobs=("a_job", "b_job"))
    first = store.launch_run("a_job")
    clock.advance(1)
    second = store.launch_run("b_job")
    assert [r.run_id for r in store.list_runs()] == [second, first]
    assert [r.run_id for r in store.list_runs(job_name="a_job")] == [first]
    assert store.list_runs(status="SUCCESS") == []
    assert len(store.list_runs(limit=1)) == 1


def test_run_events_tail_after_an_id(store: Store) -> None:
    load_location(store)
    run_id = store.launch_run("hello_job")
    [queued] = store.run_events(run_id)
    store.store_events(_run_events(run_id)[:2])
    tail = store.run_events(run_id, after_id=queued.id)
    assert [e.type for e in tail] == ["RUN_START", "STEP_START"]
    assert len(store.run_events(run_id, limit=1)) == 1


def test_a_jobs_tags_are_its_runs_defaults_and_a_launchs_own_tags_win(store: Store) -> None:
    base = snapshot()
    tagged = msgspec.structs.replace(
        base, jobs=[msgspec.structs.replace(base.jobs[0], tags={"team": "data", "tier": "1"})])
    load_location(store, defines=tagged)

    plain = store.get_run(store.launch_run("hello_job"))
    assert plain is not None and plain.tags == {"team": "data", "tier": "1"}
    overridden = store.get_run(store.launch_run("hello_job", tags={"tier": "2", "x": "y"}))
    assert overridden is not None
    assert overridden.tags == {"team": "data", "tier": "2", "x": "y"}
