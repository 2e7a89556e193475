"""``DynamicOut``: steps mapped over values decided at run time run as one copy per mapping
key (each its own step in the run's events), and ``.collect()`` gathers their outputs."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tether import Definitions, DynamicOut, DynamicOutput, job, op
from tether.errors import DefinitionError, StepSelectionError
from tether.sdk import RunEmitter, execute_job, snapshot_definitions
from tether.wire import LogMessage, RunEvent, StepFailure, StepSkipped, event_type


@op(out=DynamicOut(str))
def files(context: Any) -> Iterator[DynamicOutput]:
    for name in context.op_config.get("names", ["a", "bad", "c"]):
        yield DynamicOutput(f"{name}.csv", mapping_key=name, metadata={"name": name})


@op
def size(path: str) -> int:
    if path.startswith("bad"):
        raise ValueError(f"cannot read {path}")
    return len(path)


@op
def double(n: int) -> int:
    return 2 * n


@op
def total(sizes: list[int]) -> int:
    return sum(sizes)


@job
def fan_out() -> None:
    total(files().map(lambda path: double(size(path))).collect())


@job
def gather_paths() -> None:
    total(files().map(size).collect())


DEFS = Definitions(jobs=[fan_out, gather_paths])


def run(job_name: str, storage: Path, names: list[str] | None = None,
        executor: str | None = None, **options: Any) -> list[RunEvent]:
    events: list[RunEvent] = []
    config: dict[str, Any] = (
        {"ops": {"files": {"config": {"names": names}}}} if names is not None else {})
    if executor is not None:
        config["execution"] = {"executor": executor}
    execute_job(DEFS, job_name, emitter=RunEmitter(run_id="run-1", attempt=1,
                                                   sink=events.append),
                location="loc", storage_dir=str(storage), run_config=config, **options)
    return events


def ends(events: list[RunEvent]) -> dict[str, str]:
    return {e.step_key: event_type(e) for e in events
            if event_type(e) in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED") and e.step_key}


def test_each_value_runs_its_own_copies_of_the_mapped_steps(tmp_path: Path) -> None:
    events = run("fan_out", tmp_path)
    assert ends(events) == {
        "files": "STEP_SUCCESS",
        "size[a]": "STEP_SUCCESS", "size[bad]": "STEP_FAILURE", "size[c]": "STEP_SUCCESS",
        "double[a]": "STEP_SUCCESS", "double[bad]": "STEP_SKIPPED",
        "double[c]": "STEP_SUCCESS", "total": "STEP_SKIPPED"}
    failure = next(e for e in events if isinstance(e, StepFailure))
    assert failure.error.message == "cannot read bad.csv"
    logs = [e.message for e in events if isinstance(e, LogMessage)]
    assert logs == ["output 'result[a]' metadata: name=a",
                    "output 'result[bad]' metadata: name=bad",
                    "output 'result[c]' metadata: name=c"]
    runs = tmp_path / "loc/runs/run-1"
    assert pickle.loads((runs / "files" / "result[c].pickle").read_bytes()) == "c.csv"
    assert pickle.loads((runs / "double[c]" / "result.pickle").read_bytes()) == 10


def test_collect_gathers_every_copy_in_the_order_the_values_came(tmp_path: Path) -> None:
    # one step at a time: the copies end in the order of their values
    events = run("gather_paths", tmp_path, names=["x", "long_name", "y"], executor="in_process")
    assert list(ends(events)) == ["files", "size[x]", "size[long_name]", "size[y]", "total"]
    assert event_type(events[-1]) == "RUN_SUCCESS"
    assert pickle.loads((tmp_path / "loc/runs/run-1/total/result.pickle").read_bytes()) == \
        5 + 13 + 5


def test_a_fan_out_of_a_hundred_values_runs_every_copy_and_collects_them_all(
        tmp_path: Path) -> None:
    names = [f"f{i:03d}" for i in range(100)]
    events = run("fan_out", tmp_path, names=names)
    done = ends(events)
    # two mapped steps per value, each its own step, then the collector
    for name in names:
        assert done[f"size[{name}]"] == done[f"double[{name}]"] == "STEP_SUCCESS"
    assert len(done) == 1 + 2 * 100 + 1 and done["total"] == "STEP_SUCCESS"
    assert event_type(events[-1]) == "RUN_SUCCESS"
    assert pickle.loads((tmp_path / "loc/runs/run-1/total/result.pickle").read_bytes()) == \
        2 * sum(len(f"{name}.csv") for name in names)


def test_no_values_skips_the_mapped_steps_and_the_collector(tmp_path: Path) -> None:
    events = run("fan_out", tmp_path, names=[])
    assert ends(events) == {"files": "STEP_SUCCESS", "size": "STEP_SKIPPED",
                            "double": "STEP_SKIPPED", "total": "STEP_SKIPPED"}
    assert next(e.reason for e in events if isinstance(e, StepSkipped)) == (
        "input 'path' takes output 'result' of step files, which it did not produce")
    assert event_type(events[-1]) == "RUN_SUCCESS"


def test_a_mapping_key_that_cannot_be_a_step_key_fails_the_step(tmp_path: Path) -> None:
    events = run("gather_paths", tmp_path, names=["a/b"])
    failure = next(e for e in events if isinstance(e, StepFailure))
    assert (failure.step_key, failure.error.class_name) == ("files", "OutputMismatch")
    assert "mapping key 'a/b' must be 1 to 64 letters, digits or underscores" in \
        failure.error.message


def test_the_snapshot_marks_dynamic_outputs_mapped_steps_and_collecting_inputs() -> None:
    nodes = {n.name: n for n in snapshot_definitions(DEFS, "loc").jobs[0].nodes}
    assert [o.dynamic for o in nodes["files"].outputs] == [True]
    assert (nodes["size"].mapped_over, nodes["double"].mapped_over) == ("files", "files")
    assert [(i.from_node, i.collect) for i in nodes["total"].inputs] == [("double", True)]


def test_a_selection_needs_the_dynamic_step_its_mapped_steps_hang_on() -> None:
    with pytest.raises(StepSelectionError, match="mapped over the values of step files"):
        fan_out.select(["size", "double", "total"])


def test_dynamic_wiring_mistakes_fail_at_definition_time() -> None:
    with pytest.raises(DefinitionError, match=r"take it inside \.map"):
        @job
        def uncollected() -> None:
            total(files())

    with pytest.raises(DefinitionError, match="maps one level deep"):
        @job
        def nested() -> None:
            files().map(lambda p: files().map(size))

    with pytest.raises(DefinitionError, match="more than one DynamicOut"):
        @op(out={"a": DynamicOut(), "b": DynamicOut()})
        def two() -> None: ...


def test_the_multiprocess_executor_fans_out_and_collects_like_the_thread_one(
        tmp_path: Path) -> None:
    # the mapping keys a step yields in its own process come back to the run worker
    events = run("fan_out", tmp_path / "fan", executor="multiprocess")
    assert ends(events) == {
        "files": "STEP_SUCCESS",
        "size[a]": "STEP_SUCCESS", "size[bad]": "STEP_FAILURE", "size[c]": "STEP_SUCCESS",
        "double[a]": "STEP_SUCCESS", "double[bad]": "STEP_SKIPPED",
        "double[c]": "STEP_SUCCESS", "total": "STEP_SKIPPED"}
    assert pickle.loads((tmp_path / "fan/loc/runs/run-1/double[c]/result.pickle")
                        .read_bytes()) == 10
    events = run("gather_paths", tmp_path / "gather", names=["x", "long_name", "y"],
                 executor="multiprocess")
    assert event_type(events[-1]) == "RUN_SUCCESS"
    assert pickle.loads((tmp_path / "gather/loc/runs/run-1/total/result.pickle")
                        .read_bytes()) == 5 + 13 + 5
    events = run("fan_out", tmp_path / "none", names=[], executor="multiprocess")
    assert ends(events) == {"files": "STEP_SUCCESS", "size": "STEP_SKIPPED",
                            "double": "STEP_SKIPPED", "total": "STEP_SKIPPED"}
