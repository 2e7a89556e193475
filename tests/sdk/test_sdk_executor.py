"""The in-process executor: the events of a run, in order, with failures and skips."""

from __future__ import annotations

import threading
import time

import pytest

from tether import Definitions, OpContext, asset, define_asset_job, job, op
from tether.errors import JobNotFoundError
from tether.sdk import RunEmitter, execute_job
from tether.wire import (
    AssetMaterialization,
    LogMessage,
    RunEvent,
    RunFailure,
    RunStart,
    RunSuccess,
    StepFailure,
    StepSkipped,
    StepStart,
    StepSuccess,
    event_message,
    event_type,
)


@op
def numbers() -> list[int]:
    return [1, 2, 3]


@op
def double(context: OpContext, values: list[int]) -> list[int]:
    context.log.info(f"doubling {len(values)} values for run {context.run_id}")
    return [v * 2 for v in values]


@op
def total(context: OpContext, values: list[int]) -> int:
    result = sum(values)
    context.log.warning(f"total={result} threshold={context.op_config.get('threshold')}")
    return result


@op
def divide_by_zero(values: list[int]) -> float:
    return sum(values) / 0


@op
def after_failure(value: float) -> float:
    return value


@op
def independent() -> str:
    return "still runs"


@job
def happy() -> None:
    total(double(numbers()))


@job
def partly_broken() -> None:
    after_failure(after_failure(divide_by_zero(numbers())))
    independent()


@op(io_manager_key=None)
def unstored() -> int:
    return 1


@job
def memory_only() -> None:
    after_failure(unstored())


@op
def interrupted() -> None:
    raise KeyboardInterrupt


@job
def interrupting() -> None:
    interrupted()


@asset
def source() -> int:
    return 2


@asset
def squared(source: int) -> int:
    return source * source


DEFS = Definitions(
    jobs=[happy, partly_broken, interrupting, memory_only, define_asset_job("assets")],
    assets=[source, squared],
)


def run(job_name: str, run_config: dict[str, object] | None = None,
        step_selection: list[str] | None = None) -> tuple[bool, list[RunEvent]]:
    events: list[RunEvent] = []
    emitter = RunEmitter(run_id="run-1", attempt=2, sink=events.append)
    ok = execute_job(DEFS, job_name, emitter=emitter, run_config=run_config,
                     step_selection=step_selection)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert all(e.run_id == "run-1" and e.attempt == 2 for e in events)
    assert emitter.current_step is None
    return ok, events


def summary(events: list[RunEvent]) -> list[tuple[str, str | None]]:
    return [(event_type(e), e.step_key) for e in events]


def test_successful_run_emits_ordered_step_events_and_logs() -> None:
    ok, events = run("happy", {"ops": {"total": {"config": {"threshold": 5}}}})
    assert ok
    assert summary(events) == [
        ("RUN_START", None),
        ("STEP_START", "numbers"),
        ("STEP_SUCCESS", "numbers"),
        ("STEP_START", "double"),
        ("LOG_MESSAGE", "double"),
        ("STEP_SUCCESS", "double"),
        ("STEP_START", "total"),
        ("LOG_MESSAGE", "total"),
        ("STEP_SUCCESS", "total"),
        ("RUN_SUCCESS", None),
    ]
    start = events[0]
    assert isinstance(start, RunStart) and start.job_name == "happy" and start.pid > 0
    logs = [e for e in events if isinstance(e, LogMessage)]
    assert logs[0].level == "INFO" and logs[0].message == "doubling 3 values for run run-1"
    assert logs[1].level == "WARNING" and logs[1].message == "total=12 threshold=5"
    assert all(e.duration >= 0 for e in events if isinstance(e, StepSuccess))
    assert events[0].timestamp <= events[-1].timestamp


def test_failure_skips_downstream_and_keeps_independent_steps() -> None:
    ok, events = run("partly_broken", {"execution": {"executor": "in_process"}})
    assert not ok
    assert summary(events) == [
        ("RUN_START", None),
        ("STEP_START", "numbers"),
        ("STEP_SUCCESS", "numbers"),
        ("STEP_START", "divide_by_zero"),
        ("STEP_FAILURE", "divide_by_zero"),
        ("STEP_SKIPPED", "after_failure"),
        ("STEP_SKIPPED", "after_failure_2"),
        ("STEP_START", "independent"),
        ("STEP_SUCCESS", "independent"),
        ("RUN_FAILURE", None),
    ]
    failure = next(e for e in events if isinstance(e, StepFailure))
    assert failure.error.class_name == "ZeroDivisionError"
    # the traceback starts in the user's function, not in the executor
    assert "in divide_by_zero" in failure.error.stack
    assert "return sum(values) / 0" in failure.error.stack
    assert "sdk/_executor.py" not in failure.error.stack
    skips = [e for e in events if isinstance(e, StepSkipped)]
    assert all("divide_by_zero" in e.reason for e in skips)
    run_failure = events[-1]
    assert isinstance(run_failure, RunFailure)
    assert "divide_by_zero" in run_failure.message
    assert run_failure.error is not None and run_failure.error.class_name == "ZeroDivisionError"


def test_a_step_selection_runs_only_its_steps_and_mentions_no_other() -> None:
    ok, events = run("partly_broken", step_selection=["independent", "numbers"])
    assert ok
    assert summary(events) == [
        ("RUN_START", None),
        ("STEP_START", "numbers"),
        ("STEP_SUCCESS", "numbers"),
        ("STEP_START", "independent"),
        ("STEP_SUCCESS", "independent"),
        ("RUN_SUCCESS", None),
    ]


@pytest.mark.parametrize(("job_name", "selection", "problem"), [
    ("happy", ["numbers", "gone"],
     "job 'happy' has no step gone (its steps: numbers, double, total)"),
    ("memory_only", ["after_failure"],
     "step after_failure of job 'memory_only' takes the output of unstored, which is kept in "
     "the memory of the run that made it (io_manager_key=None) and which the step selection "
     "leaves out"),
])
def test_a_step_selection_the_job_cannot_run_fails_the_run_before_its_first_step(
        job_name: str, selection: list[str], problem: str) -> None:
    ok, events = run(job_name, step_selection=selection)
    assert not ok
    assert summary(events) == [("RUN_START", None), ("RUN_FAILURE", None)]
    failure = events[-1]
    assert isinstance(failure, RunFailure) and failure.error is not None
    assert failure.error.class_name == "StepSelectionError"
    assert failure.message == (f"Run of {job_name} failed before its first step: invalid "
                               f"step selection: {problem}")


def test_interrupt_in_a_step_is_recorded_then_reraised() -> None:
    events: list[RunEvent] = []
    with pytest.raises(KeyboardInterrupt):
        execute_job(
            DEFS, "interrupting", emitter=RunEmitter(run_id="r", attempt=1, sink=events.append)
        )
    assert summary(events) == [
        ("RUN_START", None),
        ("STEP_START", "interrupted"),
        ("STEP_FAILURE", "interrupted"),
        ("RUN_FAILURE", None),
    ]
    failure = events[2]
    assert isinstance(failure, StepFailure) and failure.error.class_name == "KeyboardInterrupt"


def test_an_interrupt_that_is_the_runs_cancel_is_recorded_as_canceled() -> None:
    events: list[RunEvent] = []
    with pytest.raises(KeyboardInterrupt):
        execute_job(DEFS, "interrupting", canceled=lambda: True,
                    emitter=RunEmitter(run_id="r", attempt=1, sink=events.append))
    assert summary(events) == [
        ("RUN_START", None),
        ("STEP_START", "interrupted"),
        ("STEP_CANCELED", "interrupted"),
        ("RUN_CANCELED", None),
    ]
    assert event_message(events[-1]) == "Run of interrupting was canceled during step interrupted"


def test_asset_job_materializes_each_asset() -> None:
    ok, events = run("assets")
    assert ok
    materialized = [e for e in events if isinstance(e, AssetMaterialization)]
    assert [(e.asset_key, e.step_key) for e in materialized] == [
        ("source", "source"),
        ("squared", "squared"),
    ]
    assert isinstance(events[-1], RunSuccess)


def test_unknown_job_raises_before_any_event() -> None:
    events: list[RunEvent] = []
    with pytest.raises(JobNotFoundError, match="known jobs: assets, happy"):
        execute_job(DEFS, "nope", emitter=RunEmitter(run_id="r", attempt=1, sink=events.append))
    assert events == []


def test_emitter_numbers_events_from_many_threads_in_sink_order() -> None:
    events: list[RunEvent] = []
    emitter = RunEmitter(run_id="r", attempt=1, sink=events.append)
    emitter.current_step = "busy"

    def emit_many() -> None:
        for _ in range(500):
            emitter.emit(StepStart)

    threads = [threading.Thread(target=emit_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [e.seq for e in events] == list(range(1, 2001))
    assert {e.step_key for e in events} == {"busy"}
    assert emitter.emit(StepStart, step_key=None).step_key is None


# a wall-clock bound: beside other tests it would measure their load, not the executor
@pytest.mark.alone
def test_per_step_overhead_is_well_under_a_millisecond() -> None:
    @op
    def step() -> None:
        return None

    @job
    def many() -> None:
        for _ in range(1000):
            step()

    defs = Definitions(jobs=[many])
    events: list[RunEvent] = []
    started = time.perf_counter()
    assert execute_job(defs, "many", emitter=RunEmitter(run_id="r", attempt=1, sink=events.append))
    per_step = (time.perf_counter() - started) / 1000
    assert len(events) == 2002
    # typically ~10 us; the bound leaves room for a slow, busy CI machine
    assert per_step < 0.0005, f"{per_step * 1e6:.0f} us per step"
