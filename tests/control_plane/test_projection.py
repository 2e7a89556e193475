"""The pure fold: no database, just status + events -> the run's row."""

from __future__ import annotations

import itertools

from tether.control_plane.storage import Fact, Projection, RunStatus, advance, fact_of, fold
from tether.wire import ErrorInfo, RunFailure, StepFailure

BOOM = ErrorInfo(class_name="ValueError", message="boom", stack="Traceback ...")


def test_a_run_moves_through_its_statuses() -> None:
    seen = []
    projection = Projection()
    for fact in [Fact("RUN_QUEUED", 1), Fact("RUN_STARTING", 2), Fact("RUN_START", 3),
                 Fact("STEP_SUCCESS", 4), Fact("RUN_SUCCESS", 5)]:
        projection = fold(projection, [fact])
        seen.append(projection.status)
    assert seen == ["QUEUED", "STARTING", "STARTED", "STARTED", "SUCCESS"]
    assert (projection.start_time, projection.end_time, projection.steps_succeeded) == (3, 5, 1)


def test_terminal_status_survives_every_order_of_late_events() -> None:
    facts = [Fact("RUN_START", 1), Fact("STEP_FAILURE", 2, BOOM), Fact("RUN_FAILURE", 3, BOOM),
             Fact("RUN_STARTING", 0.5)]
    for order in itertools.permutations(facts):
        projection = fold(Projection(), order)
        assert projection.status == RunStatus.FAILURE
        assert projection.error == BOOM and projection.end_time == 3
        assert projection.start_time == 1 and projection.steps_failed == 1


def test_the_first_outcome_wins() -> None:
    projection = fold(Projection(), [Fact("RUN_SUCCESS", 1), Fact("RUN_FAILURE", 2, BOOM)])
    assert projection.status == RunStatus.SUCCESS and projection.error is None
    assert projection.end_time == 1


def test_status_never_moves_backwards() -> None:
    assert advance(RunStatus.STARTED, RunStatus.STARTING) == RunStatus.STARTED
    assert advance(RunStatus.CANCELING, RunStatus.STARTED) == RunStatus.CANCELING
    assert advance(RunStatus.CANCELING, RunStatus.CANCELED) == RunStatus.CANCELED
    assert advance(RunStatus.CANCELED, RunStatus.FAILURE) == RunStatus.CANCELED


def test_wire_failures_carry_their_error_into_the_fold() -> None:
    step = StepFailure(run_id="r", attempt=1, seq=3, timestamp=9, step_key="s", duration=1,
                       error=BOOM)
    assert fact_of(step) == Fact("STEP_FAILURE", 9, BOOM)
    # a run failure without an ErrorInfo still leaves a readable error on the run
    run = RunFailure(run_id="r", attempt=1, seq=4, timestamp=10, message="step s failed")
    error = fact_of(run).error
    assert error is not None and error.message == "step s failed"


def test_events_that_change_nothing_leave_the_projection_equal() -> None:
    start = fold(Projection(), [Fact("RUN_START", 1)])
    assert fold(start, [Fact("RUN_LAUNCHED", 2), Fact("LOG_MESSAGE", 3)]) == start
