from __future__ import annotations

from tether.control_plane.storage import LocationStatus, RunStatus, Store
from tether.wire import (
    EXIT_RUN_FAILED,
    ErrorInfo,
    LoadLocation,
    LocationLoaded,
    LocationLoadFailed,
    RunFailure,
    RunLaunched,
    RunLaunchFailed,
    RunStart,
    RunSuccess,
    RunWorkerExited,
)

from .conftest import load_location, snapshot, spec


def test_location_loaded_makes_its_jobs_launchable(store: Store) -> None:
    store.deploy_location(spec())
    location = store.get_location("hello")
    assert location is not None and location.status == LocationStatus.LOADING
    [item] = store.claim_work("agent", ["default"], 10, 30)
    receipt = store.store_results([LocationLoaded(work_id=item.work_id, epoch=item.epoch,
                                                  location="hello", snapshot=snapshot(),
                                                  generation=item.payload.generation)])
    assert receipt.stored == 1

    location = store.get_location("hello")
    assert location is not None and location.status == LocationStatus.LOADED
    assert location.snapshot is not None and location.snapshot.job("hello_job") is not None
    run_id = store.launch_run("hello_job")
    assert store.get_run(run_id) is not None


def test_a_redelivered_result_is_a_duplicate(store: Store) -> None:
    store.deploy_location(spec())
    [item] = store.claim_work("agent", ["default"], 10, 30)
    result = LocationLoaded(work_id=item.work_id, epoch=item.epoch, location="hello",
                            snapshot=snapshot())
    store.store_results([result])
    receipt = store.store_results([result])
    assert (receipt.stored, receipt.duplicates) == (0, 1)
    unknown = store.store_results([LocationLoaded(work_id="nope", epoch=1, location="hello",
                                                  snapshot=snapshot())])
    assert unknown.rejected == 1


def test_a_failed_load_stores_the_users_traceback(store: Store) -> None:
    store.deploy_location(spec())
    [item] = store.claim_work("agent", ["default"], 10, 30)
    traceback = 'Traceback (most recent call last):\n  File "defs.py", line 3\nNameError: x'
    error = ErrorInfo(class_name="NameError", message="x", stack=traceback)
    store.store_results([LocationLoadFailed(work_id=item.work_id, epoch=item.epoch,
                                            location="hello", error=error,
                                            generation=item.payload.generation)])
    location = store.get_location("hello")
    assert location is not None
    assert location.status == LocationStatus.ERROR and location.error == traceback
    assert [loc.name for loc in store.list_locations()] == ["hello"]


def test_a_retried_load_shows_its_next_attempt_until_it_loads(store: Store) -> None:
    store.deploy_location(spec())
    [item] = store.claim_work("agent", ["default"], 10, 30)
    generation = item.payload.generation
    error = ErrorInfo(class_name="ModuleNotFoundError", message="No module named 'helper'")
    for retry_at in (1_900_000_001.0, 1_900_000_003.0):
        # the agent's retries report without a work item
        store.store_results([LocationLoadFailed(location="hello", error=error,
                                                generation=generation, next_retry_at=retry_at)])
        location = store.get_location("hello")
        assert location is not None and location.status == LocationStatus.ERROR
        assert location.next_retry_at == retry_at
    store.store_results([LocationLoaded(location="hello", snapshot=snapshot(),
                                        generation=generation)])
    location = store.get_location("hello")
    assert location is not None and location.status == LocationStatus.LOADED
    assert (location.error, location.next_retry_at) == (None, None)


def test_worker_exit_with_an_error_fails_a_started_run(store: Store) -> None:
    load_location(store)
    run_id = store.launch_run("hello_job")
    [item] = store.claim_work("agent", ["default"], 10, 30)
    store.store_results([RunLaunched(work_id=item.work_id, epoch=item.epoch, run_id=run_id,
                                     attempt=1, pid=4242, agent_id="agent")])
    store.store_events([RunStart(run_id=run_id, attempt=1, seq=1, timestamp=1.0,
                                 job_name="hello_job")])

    store.store_results([RunWorkerExited(run_id=run_id, attempt=1, exit_code=-9,
                                         stderr_tail="Killed")])

    run = store.get_run(run_id)
    assert run is not None and run.status == RunStatus.FAILURE
    assert run.error is not None
    assert run.error.message == "Run worker exited with code -9" and run.error.stack == "Killed"
    events = store.run_events(run_id)
    launched = next(e for e in events if e.type == "RUN_LAUNCHED")
    assert "4242" in launched.message
    assert events[-1].type == "RUN_FAILURE" and events[-1].level == "ERROR"
    assert store.rebuild_run(run_id).status == RunStatus.FAILURE


def test_an_exit_that_reported_its_failure_leaves_the_error_to_the_events(store: Store) -> None:
    # the exit report can overtake the run's own events: it must not decide the run's error
    load_location(store)
    run_id = store.launch_run("hello_job")
    store.store_events([RunStart(run_id=run_id, attempt=1, seq=1, timestamp=1.0,
                                 job_name="hello_job")])
    store.store_results([RunWorkerExited(run_id=run_id, attempt=1, exit_code=EXIT_RUN_FAILED)])
    run = store.get_run(run_id)
    assert run is not None and run.status == RunStatus.STARTED

    error = ErrorInfo(class_name="ValueError", message="bad row", stack="Traceback: bad row")
    store.store_events([RunFailure(run_id=run_id, attempt=1, seq=2, timestamp=2.0,
                                   message="step load failed", error=error)])
    run = store.get_run(run_id)
    assert run is not None and run.status == RunStatus.FAILURE and run.error == error


def test_clean_exit_or_exit_after_success_changes_nothing(store: Store) -> None:
    load_location(store)
    run_id = store.launch_run("hello_job")
    store.store_events([RunSuccess(run_id=run_id, attempt=1, seq=1, timestamp=1.0)])
    store.store_results([RunWorkerExited(run_id=run_id, attempt=1, exit_code=1)])
    run = store.get_run(run_id)
    assert run is not None and run.status == RunStatus.SUCCESS and run.error is None


def test_launch_failure_fails_the_run_and_old_attempts_are_fenced(store: Store) -> None:
    load_location(store)
    run_id = store.launch_run("hello_job")
    [item] = store.claim_work("agent", ["default"], 10, 30)
    zombie = store.store_results([RunWorkerExited(run_id=run_id, attempt=0, exit_code=1)])
    assert zombie.rejected == 1
    error = ErrorInfo(class_name="FileNotFoundError", message="no python", stack="tb")
    store.store_results([RunLaunchFailed(work_id=item.work_id, epoch=item.epoch, run_id=run_id,
                                         attempt=1, error=error)])
    run = store.get_run(run_id)
    assert run is not None and run.status == RunStatus.FAILURE and run.error == error


def test_a_result_of_a_superseded_load_is_ignored(store: Store) -> None:
    store.deploy_location(spec())
    store.deploy_location(spec().__class__(name="hello", module="hello.v2"))
    [item] = store.claim_work("agent", ["default"], 10, 30)
    assert isinstance(item.payload, LoadLocation) and item.payload.location.module == "hello.v2"
    location = store.get_location("hello")
    assert location is not None and location.spec.module == "hello.v2"
