"""The fence on ended runs: an ended run's history takes nothing new, while its own worker's
final events and last output, which race each other through the agent's uploaders, still
get in."""

from __future__ import annotations

from tether.control_plane.storage import RunStatus, Store
from tether.wire import (
    LogChunk,
    LogMessage,
    RunFailure,
    RunLaunched,
    RunStart,
    RunSuccess,
    RunWorkerExited,
    StepStart,
    StepSuccess,
)

from .conftest import FakeClock, load_location

GRACE = 300.0


def _log(run_id: str, seq: int, message: str = "working") -> LogMessage:
    return LogMessage(run_id=run_id, attempt=1, seq=seq, timestamp=1_700_000_100.0 + seq,
                      level="INFO", message=message)


def _chunk(run_id: str, seq: int, data: str = "last line\n") -> LogChunk:
    return LogChunk(run_id=run_id, attempt=1, stream="stdout", seq=seq, data=data)


def _started_run(store: Store) -> str:
    load_location(store)
    run_id = store.launch_run("hello_job")
    [item] = store.claim_work("agent", ["default"], 10, 30)
    store.store_results([RunLaunched(work_id=item.work_id, epoch=item.epoch, run_id=run_id,
                                     attempt=1, pid=4242, agent_id="agent")])
    store.store_events([RunStart(run_id=run_id, attempt=1, seq=1, timestamp=1_700_000_001.0,
                                 job_name="hello_job")])
    return run_id


def _messages(store: Store, run_id: str) -> list[str]:
    return [event.message for event in store.run_events(run_id)]


def test_an_event_after_the_workers_end_is_refused_however_soon(store: Store) -> None:
    run_id = _started_run(store)
    ended = store.store_events([_log(run_id, 2), RunSuccess(run_id=run_id, attempt=1, seq=3,
                                                            timestamp=1_700_000_003.0)])
    assert ended.stored == 2

    forged = store.store_events([_log(run_id, 4, "written into an ended run")])

    assert (forged.stored, forged.rejected) == (0, 1)
    assert "written into an ended run" not in _messages(store, run_id)


def test_the_workers_own_events_still_arrive_after_its_end(store: Store, clock: FakeClock
                                                           ) -> None:
    # the batch with the end overtook the batch before it (two uploaders, one stream)
    run_id = _started_run(store)
    store.store_events([RunSuccess(run_id=run_id, attempt=1, seq=6, timestamp=1_700_000_006.0)])
    clock.advance(GRACE * 10)  # however late: they were written before the end

    late = store.store_events([
        StepStart(run_id=run_id, attempt=1, seq=2, timestamp=1_700_000_002.0, step_key="load"),
        _log(run_id, 3, "a late line"),
        StepSuccess(run_id=run_id, attempt=1, seq=4, timestamp=1_700_000_004.0,
                    step_key="load", duration=1.0),
        _log(run_id, 5),
        _log(run_id, 7, "after the end"),
    ])

    assert (late.stored, late.rejected) == (4, 1)
    run = store.get_run(run_id)
    assert run is not None and run.status == RunStatus.SUCCESS and run.steps_succeeded == 1
    assert "a late line" in _messages(store, run_id)
    assert "after the end" not in _messages(store, run_id)


def test_last_output_is_kept_within_the_grace_and_refused_after(store: Store, clock: FakeClock
                                                                ) -> None:
    run_id = _started_run(store)
    store.store_events([RunSuccess(run_id=run_id, attempt=1, seq=2, timestamp=1_700_000_002.0)])
    clock.advance(GRACE - 1)

    in_time = store.store_logs([_chunk(run_id, 1)])
    clock.advance(2)
    too_late = store.store_logs([_chunk(run_id, 2, "appended later\n")])

    assert (in_time.stored, in_time.rejected) == (1, 0)
    assert (too_late.stored, too_late.rejected) == (0, 1)
    assert [log.data for log in store.run_logs(run_id)] == ["last line\n"]


def test_a_run_the_control_plane_ended_takes_events_only_within_the_grace(
        store: Store, clock: FakeClock) -> None:
    run_id = _started_run(store)
    # the worker was killed: the control plane ends the run, the worker's events trail it
    store.store_results([RunWorkerExited(run_id=run_id, attempt=1, exit_code=-9)])
    run = store.get_run(run_id)
    assert run is not None and run.status == RunStatus.FAILURE

    trailing = store.store_events([_log(run_id, 2, "written before the kill")])
    clock.advance(GRACE + 1)
    too_late = store.store_events([_log(run_id, 3, "long after the end")])
    launched = store.store_results([RunLaunched(run_id=run_id, attempt=1, pid=1,
                                                agent_id="agent")])

    assert trailing.stored == 1 and too_late.rejected == 1 and launched.rejected == 1
    messages = _messages(store, run_id)
    assert "written before the kill" in messages and "long after the end" not in messages
    assert not any(message.startswith("Launched run worker (pid 1)") for message in messages)


def test_a_canceled_runs_failure_from_its_worker_closes_it_by_seq(store: Store) -> None:
    run_id = _started_run(store)
    store.terminate_run(run_id)
    store.store_events([RunFailure(run_id=run_id, attempt=1, seq=2, timestamp=1_700_000_002.0,
                                   message="interrupted")])
    run = store.get_run(run_id)
    assert run is not None and run.status == RunStatus.CANCELED

    assert store.store_events([_log(run_id, 3)]).rejected == 1
