"""What an agent's results do to the store: complete the work item, then apply the effect.

Every effect is idempotent: a redelivered result finds its work item DONE and changes nothing;
a result without a work item (a run worker exiting) only moves a run that is not finished.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from sqlalchemy.engine import Connection

from tether.wire import (
    REPORTED_EXIT_CODES,
    AgentResult,
    BatchReceipt,
    ErrorInfo,
    LocationLoaded,
    LocationLoadFailed,
    LocationRemoved,
    RunLaunched,
    RunLaunchFailed,
    RunTerminated,
    RunWorkerExited,
    SlotGranted,
    TickEvaluated,
)

from . import _alerts, _automation, _locations, _runs, _work
from ._projection import RUN_FAILURE, RUN_LAUNCHED, RUN_TERMINATING, Fact
from ._queue import QueueLimits


class _Outcome(Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


def store_results(conn: Connection, results: Sequence[AgentResult], now: float,
                  limits: QueueLimits, grace: float) -> BatchReceipt:
    """Store a batch of results in order. Evaluated ticks next to each other are applied
    together, so the ticks of a thousand schedules create their runs in a few statements."""
    counts = dict.fromkeys(_Outcome, 0)
    completions = iter(_work.complete_many(
        conn, [result.work_id for result in results if result.work_id], now))
    ticks: list[TickEvaluated] = []

    def apply_ticks() -> None:
        for applied in _automation.record_outcomes(
                conn, [(tick.tick_id, tick.outcome) for tick in ticks], now, limits):
            counts[_Outcome.STORED if applied else _Outcome.DUPLICATE] += 1
        ticks.clear()

    for result in results:
        if result.work_id:
            completion = next(completions)
            if completion is _work.Completion.UNKNOWN:
                counts[_Outcome.REJECTED] += 1
                continue
            if completion is _work.Completion.ALREADY_DONE:
                counts[_Outcome.DUPLICATE] += 1
                continue
        if isinstance(result, TickEvaluated):
            ticks.append(result)
            continue
        apply_ticks()  # what came before a result is applied before it
        counts[_store_one(conn, result, now, grace)] += 1
    apply_ticks()
    return BatchReceipt(
        stored=counts[_Outcome.STORED],
        duplicates=counts[_Outcome.DUPLICATE],
        rejected=counts[_Outcome.REJECTED],
    )


def _store_one(conn: Connection, result: AgentResult, now: float, grace: float) -> _Outcome:
    match result:
        case LocationLoaded():
            found = _locations.mark_loaded(conn, result.location, result.snapshot,
                                           result.generation, now)
            return _Outcome.STORED if found else _Outcome.REJECTED
        case LocationLoadFailed():
            error = result.error
            text = error.stack or f"{error.class_name}: {error.message}"
            found = _locations.mark_failed(conn, result.location, text, result.generation, now,
                                           result.next_retry_at)
            if found:
                _alerts.on_location_failed(conn, result.location, result.generation, text, now)
            return _Outcome.STORED if found else _Outcome.REJECTED
        case LocationRemoved() | SlotGranted():
            # the location's row went with the removeLocation call, and the slot was
            # granted when the item was enqueued: this completes the item
            return _Outcome.STORED
        case RunLaunched() | RunLaunchFailed() | RunWorkerExited() | RunTerminated():
            return _apply_to_run(conn, result, now, grace)
    raise AssertionError(f"unhandled result {result!r}")


def _apply_to_run(
    conn: Connection,
    result: RunLaunched | RunLaunchFailed | RunWorkerExited | RunTerminated,
    now: float,
    grace: float,
) -> _Outcome:
    run = _runs.lock_run(conn, result.run_id)
    if (run is None or run.attempt != result.attempt
            or run.closed_to_output(now, grace)):
        # a superseded attempt or one that ended a while ago (the fence: _fence.py), or a
        # run this control plane never created
        return _Outcome.REJECTED
    match result:
        case RunLaunched():
            by = f" by agent {result.agent_id}" if result.agent_id else ""
            if result.kubernetes_job:
                what = f"Started as Kubernetes Job {result.kubernetes_job}{by}"
            elif result.rq_job_id:
                what = f"Enqueued as RQ job {result.rq_job_id} on queue {result.rq_queue}{by}"
            elif result.container_id:
                what = f"Launched run worker in container {result.container_id[:12]}{by}"
            else:
                what = f"Launched run worker (pid {result.pid}){by}"
            _runs.record_control_event(
                conn, run, Fact(type=RUN_LAUNCHED, timestamp=now), what, now)
        case RunTerminated():
            message = ("Sent SIGTERM to the run worker" if result.found else
                       "The run worker was not running; its launch is called off")
            _runs.record_control_event(
                conn, run, Fact(type=RUN_TERMINATING, timestamp=now), message, now)
        case RunLaunchFailed():
            if run.projection.is_terminal:
                return _Outcome.DUPLICATE
            _fail(conn, run, result.error, f"Launch failed: {result.error.message}", now)
        case RunWorkerExited():
            # a worker that reported its outcome wrote it to the events, which may still be
            # on their way: only an unreported end (a crash, a kill) decides the run here
            if result.exit_code not in REPORTED_EXIT_CODES and not run.projection.is_terminal:
                message = f"Run worker exited with code {result.exit_code}"
                error = ErrorInfo(
                    class_name="RunWorkerExited", message=message, stack=result.stderr_tail
                )
                tail = f"\n{result.stderr_tail}" if result.stderr_tail else ""
                _fail(conn, run, error, message + tail, now)
    return _Outcome.STORED


def _fail(
    conn: Connection, run: _runs.LockedRun, error: ErrorInfo, message: str, now: float
) -> None:
    _runs.record_control_event(
        conn, run, Fact(type=RUN_FAILURE, timestamp=now, error=error), message, now, level="ERROR"
    )
