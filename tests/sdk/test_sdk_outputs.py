"""Named outputs (``out=``), typed and ordering-only inputs (``ins=``, ``In(Nothing)``), and
optional outputs whose consumers are skipped when they are not produced."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tether import Definitions, In, Nothing, OpContext, Out, Output, job, op
from tether.errors import DefinitionError
from tether.sdk import RunEmitter, execute_job, snapshot_definitions
from tether.wire import LogMessage, RunEvent, StepFailure, StepSkipped, event_type

calls: list[str] = []


@op(out={"evens": Out(list), "odds": Out(list)})
def split(context: OpContext) -> tuple[list[int], list[int]]:
    numbers = context.op_config.get("numbers", [1, 2, 3, 4, 5])
    return [n for n in numbers if n % 2 == 0], [n for n in numbers if n % 2]


@op(out={"total": Out(int), "warning": Out(str, is_required=False)})
def check(context: OpContext, evens: list[int]) -> Iterator[Output]:
    yield Output(sum(evens), output_name="total", metadata={"count": len(evens)})
    if not evens:
        yield Output("no even numbers", output_name="warning")


@op
def count(odds: list[int]) -> int:
    return len(odds)


@op
def alert(warning: str) -> str:
    calls.append(warning)
    return warning.upper()


@op
def after_alert(shouted: str) -> str:
    return shouted


@op
def setup_table() -> None:
    calls.append("setup")


@op(ins={"ready": In(Nothing)})
def load(total: int) -> int:
    calls.append("load")
    return total


@job
def numbers() -> None:
    evens, odds = split()
    total, warning = check(evens)
    after_alert(alert(warning))
    count(odds)
    load(total, ready=setup_table())


DEFS = Definitions(jobs=[numbers])


def run(storage: Path, *, run_id: str = "run-1", run_config: dict[str, Any] | None = None,
        **options: Any) -> list[RunEvent]:
    events: list[RunEvent] = []
    execute_job(DEFS, "numbers", emitter=RunEmitter(run_id=run_id, attempt=1,
                                                    sink=events.append),
                location="loc", storage_dir=str(storage), run_config=run_config, **options)
    return events


def ends(events: list[RunEvent]) -> dict[str, str]:
    return {e.step_key: event_type(e) for e in events
            if event_type(e) in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED") and e.step_key}


def stored(storage: Path, run_id: str, step: str, output: str) -> Any:
    return pickle.loads((storage / "loc/runs" / run_id / step / f"{output}.pickle").read_bytes())


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    calls.clear()


def test_each_named_output_is_stored_under_its_name_and_feeds_the_input_wired_to_it(
        tmp_path: Path) -> None:
    events = run(tmp_path)
    assert ends(events) == {
        "split": "STEP_SUCCESS", "check": "STEP_SUCCESS", "alert": "STEP_SKIPPED",
        "after_alert": "STEP_SKIPPED", "count": "STEP_SUCCESS",
        "setup_table": "STEP_SUCCESS", "load": "STEP_SUCCESS"}
    assert event_type(events[-1]) == "RUN_SUCCESS"
    assert stored(tmp_path, "run-1", "split", "evens") == [2, 4]
    assert stored(tmp_path, "run-1", "split", "odds") == [1, 3, 5]
    assert stored(tmp_path, "run-1", "check", "total") == 6
    assert stored(tmp_path, "run-1", "count", "result") == 3
    assert not (tmp_path / "loc/runs/run-1/check/warning.pickle").exists()
    # the Nothing dependency ran first, and passed no value
    assert calls == ["setup", "load"]
    skipped = {e.step_key: e.reason for e in events if isinstance(e, StepSkipped)}
    assert skipped == {
        "alert": "input 'warning' takes output 'warning' of step check, which it did not "
                 "produce",
        "after_alert": "input 'shouted' takes the output of step alert, which was skipped"}
    logs = [e.message for e in events if isinstance(e, LogMessage)]
    assert "output 'total' metadata: count=2" in logs


def test_an_optional_output_produced_runs_the_steps_that_take_it(tmp_path: Path) -> None:
    events = run(tmp_path, run_config={"ops": {"split": {"config": {"numbers": [1, 3]}}}})
    assert ends(events)["alert"] == ends(events)["after_alert"] == "STEP_SUCCESS"
    assert stored(tmp_path, "run-1", "after_alert", "result") == "NO EVEN NUMBERS"


def test_a_selection_loads_each_input_from_the_output_it_is_wired_to(tmp_path: Path) -> None:
    run(tmp_path, run_id="first")
    events = run(tmp_path, run_id="second", step_selection=["count", "load"],
                 input_runs={"split": "first", "check": "first"})
    assert ends(events) == {"count": "STEP_SUCCESS", "load": "STEP_SUCCESS"}
    assert stored(tmp_path, "second", "count", "result") == 3
    assert stored(tmp_path, "second", "load", "result") == 6
    # an optional output the earlier run did not produce skips its consumer again
    events = run(tmp_path, run_id="third", step_selection=["alert"],
                 input_runs={"check": "first"})
    assert ends(events) == {"alert": "STEP_SKIPPED"}
    reason = next(e.reason for e in events if isinstance(e, StepSkipped))
    assert reason == ("input 'warning' takes optional output 'warning' of step check, which "
                      "run first did not produce")


def test_the_snapshot_carries_outputs_and_the_output_each_input_reads() -> None:
    snapshot = snapshot_definitions(DEFS, "loc").jobs[0]
    nodes = {node.name: node for node in snapshot.nodes}
    assert [(o.name, o.type_name, o.is_required) for o in nodes["check"].outputs] == [
        ("total", "int", True), ("warning", "str", False)]
    assert [(i.name, i.from_node, i.from_output, i.nothing) for i in nodes["load"].inputs] == [
        ("total", "check", "total", False), ("ready", "setup_table", "result", True)]
    assert [(o.name, o.type_name) for o in nodes["count"].outputs] == [("result", "Any")]


def test_outputs_named_like_tuple_methods_are_reached_by_name() -> None:
    @op(out={"index": Out(), "count": Out()})
    def stats() -> tuple[int, int]:
        return 0, 1

    @job
    def named() -> None:
        handles = stats()
        alert(handles.count)
        alert.alias("alert_index")(handles.index)

    assert dict(named.node("alert").from_outputs) == {"warning": "count"}
    assert dict(named.node("alert_index").from_outputs) == {"warning": "index"}


def test_an_ordering_only_input_waits_for_a_list_of_ops(tmp_path: Path) -> None:
    @op
    def first() -> None:
        calls.append("first")

    @op
    def second() -> None:
        calls.append("second")

    @op(ins={"ready": In(Nothing)})
    def last() -> None:
        calls.append("last")

    @job
    def ordered() -> None:
        last(ready=[first(), second()])

    assert ordered.node("last").after == ("first", "second")
    events: list[RunEvent] = []
    execute_job(Definitions(jobs=[ordered]), "ordered",
                emitter=RunEmitter(run_id="r", attempt=1, sink=events.append))
    assert calls == ["first", "second", "last"]
    inputs = snapshot_definitions(Definitions(jobs=[ordered]), "loc").jobs[0].nodes[2].inputs
    assert [(i.name, i.from_node, i.nothing) for i in inputs] == [
        ("ready", None, True), ("first", "first", True), ("second", "second", True)]


def failure(job_def: Any) -> StepFailure:
    events: list[RunEvent] = []
    execute_job(Definitions(jobs=[job_def]), job_def.name,
                emitter=RunEmitter(run_id="r", attempt=1, sink=events.append))
    return next(e for e in events if isinstance(e, StepFailure))


def test_returning_the_wrong_number_of_outputs_fails_the_step_saying_what_to_return() -> None:
    @op(out={"a": Out(), "b": Out()})
    def three():  # type: ignore[no-untyped-def]
        return 1, 2, 3

    @job
    def wrong_count() -> None:
        three()

    error = failure(wrong_count).error
    assert error.class_name == "OutputMismatch"
    assert error.message.startswith("step three returned a tuple of 3, but its op declares 2 "
                                    "outputs (a, b)")
    assert error.stack == ""


def test_a_required_output_not_produced_fails_the_step() -> None:
    @op(out={"a": Out(), "b": Out()})
    def only_a() -> Iterator[Output]:
        yield Output(1, output_name="a")

    @job
    def missing() -> None:
        only_a()

    assert failure(missing).error.message.startswith(
        "step only_a did not produce required output 'b'; produce it, or declare it "
        "Out(..., is_required=False)")


def test_a_value_of_the_wrong_type_fails_the_step() -> None:
    @op(out=Out(int))
    def text() -> str:
        return "1"

    @job
    def typed() -> None:
        text()

    assert failure(typed).error.message == \
        "step text: output 'result' is a str, not the declared int"


def test_wiring_mistakes_fail_at_definition_time() -> None:
    with pytest.raises(DefinitionError, match="'split' has no output 'even'; its outputs: "
                                              "evens, odds"):
        @job
        def unknown_output() -> None:
            count(split().even)

    with pytest.raises(DefinitionError, match="got all 2 outputs of 'split'"):
        @job
        def both() -> None:
            count(split())

    with pytest.raises(DefinitionError, match="annotated to return 3 value"):
        @op(out={"a": Out(), "b": Out()})
        def annotated() -> tuple[int, int, int]:
            return 1, 2, 3

    with pytest.raises(DefinitionError, match="is In\\(Nothing\\), which passes no value"):
        @op(ins={"ready": In(Nothing)})
        def takes_ready(ready: int) -> None: ...

    with pytest.raises(DefinitionError, match="ins= names 'missing', which is not a parameter"):
        @op(ins={"missing": In(int)})
        def no_missing() -> None: ...

    with pytest.raises(DefinitionError, match="only known when the job runs"):
        @job
        def unpack_single() -> None:
            _a, _b = count(split().odds)


def test_the_multiprocess_executor_skips_what_an_optional_output_left_out_feeds(
        tmp_path: Path) -> None:
    # which outputs a step produced in its own process comes back to the run worker
    in_processes = {"execution": {"executor": "multiprocess"}}
    events = run(tmp_path / "left-out", run_config=in_processes)
    assert ends(events) == {
        "split": "STEP_SUCCESS", "check": "STEP_SUCCESS", "alert": "STEP_SKIPPED",
        "after_alert": "STEP_SKIPPED", "count": "STEP_SUCCESS",
        "setup_table": "STEP_SUCCESS", "load": "STEP_SUCCESS"}
    skipped = {e.step_key: e.reason for e in events if isinstance(e, StepSkipped)}
    assert skipped["alert"] == ("input 'warning' takes output 'warning' of step check, which "
                                "it did not produce")
    assert event_type(events[-1]) == "RUN_SUCCESS"
    events = run(tmp_path / "made", run_config={
        **in_processes, "ops": {"split": {"config": {"numbers": [1, 3]}}}})
    assert ends(events)["alert"] == ends(events)["after_alert"] == "STEP_SUCCESS"
    assert stored(tmp_path / "made", "run-1", "after_alert", "result") == "NO EVEN NUMBERS"
