"""IO managers: every output is stored and every input loaded through one, in the run worker's
process; the default pickles them under the storage folder."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path
from typing import Any

from tether import (
    Definitions,
    EnvVar,
    InputContext,
    IOManager,
    OutputContext,
    Resource,
    asset,
    define_asset_job,
    job,
    op,
)
from tether.sdk import RunEmitter, execute_job
from tether.wire import RunEvent, StepFailure, StepSuccess, event_type


@asset
def raw() -> list[int]:
    return [1, 2, 3]


@asset
def report(raw: list[int]) -> str:
    return f"{len(raw)} rows, total {sum(raw)}"


@asset
def lock() -> Any:
    return threading.Lock()


@asset
def uses_lock(lock: Any) -> None:
    return None


@op
def numbers() -> list[int]:
    return [4, 5]


@op
def add(values: list[int]) -> int:
    return sum(values)


@op(io_manager_key=None)
def in_memory() -> object:
    # not picklable, and not stored: only steps of this run take it
    return threading.Lock()


@op
def kind(value: object) -> str:
    return type(value).__name__


@job
def sums() -> None:
    add(numbers())


@job
def memory() -> None:
    kind(in_memory())


DEFS = Definitions(
    assets=[raw, report, lock, uses_lock],
    jobs=[define_asset_job("everything", selection=["raw", "report"]),
          define_asset_job("report_only", selection=["report"]),
          define_asset_job("locks", selection=["lock", "uses_lock"]),
          sums, memory],
)


def run(defs: Definitions, job_name: str, storage: Path, *, run_id: str = "run-1",
        **options: Any) -> list[RunEvent]:
    events: list[RunEvent] = []
    execute_job(defs, job_name, emitter=RunEmitter(run_id=run_id, attempt=1,
                                                   sink=events.append),
                location="loc", storage_dir=str(storage), **options)
    return events


def outcomes(events: list[RunEvent]) -> dict[str, str]:
    return {e.step_key: event_type(e) for e in events
            if isinstance(e, StepSuccess | StepFailure) and e.step_key}


def failure(events: list[RunEvent], step: str) -> StepFailure:
    return next(e for e in events if isinstance(e, StepFailure) and e.step_key == step)


def test_a_downstream_only_job_loads_the_latest_materialization(tmp_path: Path) -> None:
    assert outcomes(run(DEFS, "everything", tmp_path)) == {"raw": "STEP_SUCCESS",
                                                           "report": "STEP_SUCCESS"}
    stored = tmp_path / "loc" / "assets" / "raw.pickle"
    assert pickle.loads(stored.read_bytes()) == [1, 2, 3]
    # a newer materialization of raw is what the next run of report loads
    stored.write_bytes(pickle.dumps([10, 20]))
    events = run(DEFS, "report_only", tmp_path, run_id="run-2")
    assert outcomes(events) == {"report": "STEP_SUCCESS"}
    assert pickle.loads((tmp_path / "loc/assets/report.pickle").read_bytes()) == \
        "2 rows, total 30"


def test_an_asset_never_materialized_fails_the_step_and_says_to_materialize_it(
        tmp_path: Path) -> None:
    events = run(DEFS, "report_only", tmp_path)
    error = failure(events, "report").error
    assert error.class_name == "StoredOutputNotFound"
    assert error.message.startswith("step report takes asset 'raw', which has never been "
                                    "materialized here")
    assert "materialize 'raw' first" in error.message


def test_an_unpicklable_output_fails_its_step_naming_it_and_keeps_the_old_value(
        tmp_path: Path) -> None:
    stored = tmp_path / "loc" / "assets" / "lock.pickle"
    stored.parent.mkdir(parents=True)
    stored.write_bytes(pickle.dumps("previous"))
    events = run(DEFS, "locks", tmp_path)
    error = failure(events, "lock").error
    assert error.class_name == "OutputStorageError"
    assert error.message.startswith("the output 'result' of step lock cannot be pickled "
                                    "(TypeError: cannot pickle '_thread.lock' object)")
    assert "io_manager_key=None" in error.message
    assert [event_type(e) for e in events if e.step_key == "uses_lock"] == ["STEP_SKIPPED"]
    # nothing half-written: the earlier materialization is intact, no temporary file is left
    assert pickle.loads(stored.read_bytes()) == "previous"
    assert sorted(p.name for p in stored.parent.iterdir()) == ["lock.pickle"]


def test_op_outputs_are_stored_per_run_and_a_selection_loads_the_named_run(
        tmp_path: Path) -> None:
    run(DEFS, "sums", tmp_path, run_id="first")
    assert pickle.loads((tmp_path / "loc/runs/first/numbers/result.pickle").read_bytes()) == \
        [4, 5]
    (tmp_path / "loc/runs/first/numbers/result.pickle").write_bytes(pickle.dumps([100]))
    events = run(DEFS, "sums", tmp_path, run_id="second", step_selection=["add"],
                 input_runs={"numbers": "first"})
    assert outcomes(events) == {"add": "STEP_SUCCESS"}
    assert pickle.loads((tmp_path / "loc/runs/second/add/result.pickle").read_bytes()) == 100


def test_an_opted_out_output_passes_in_memory_and_is_not_stored(tmp_path: Path) -> None:
    events = run(DEFS, "memory", tmp_path)
    assert outcomes(events) == {"in_memory": "STEP_SUCCESS", "kind": "STEP_SUCCESS"}
    stored = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.pickle"))
    assert stored == ["loc/runs/run-1/kind/result.pickle"]


class TableIO(Resource, IOManager, frozen=True):
    """Stores values as text files in a folder named by an environment variable."""

    folder: str | EnvVar

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        name = context.asset_key or context.step_key
        Path(str(self.folder), f"{name}.txt").write_text(repr(obj))

    def load_input(self, context: InputContext) -> Any:
        name = context.upstream_output.asset_key or context.upstream_output.step_key
        return eval(Path(str(self.folder), f"{name}.txt").read_text())


class BrokenIO(IOManager):
    def handle_output(self, context: OutputContext, obj: Any) -> None:
        raise ConnectionError(f"warehouse unreachable while storing {context.step_key}")

    def load_input(self, context: InputContext) -> Any:
        raise AssertionError("never loaded")


def test_a_custom_io_manager_stores_and_loads_by_key(tmp_path: Path, monkeypatch: Any) -> None:
    @asset(io_manager_key="tables")
    def counts() -> dict[str, int]:
        return {"a": 1}

    @asset
    def doubled(counts: dict[str, int]) -> dict[str, int]:
        return {k: v * 2 for k, v in counts.items()}

    folder = tmp_path / "tables"
    folder.mkdir()
    monkeypatch.setenv("TABLES_DIR", str(folder))
    defs = Definitions(assets=[counts, doubled], jobs=[define_asset_job("all")],
                       resources={"tables": TableIO(folder=EnvVar("TABLES_DIR"))})
    assert outcomes(run(defs, "all", tmp_path)) == {"counts": "STEP_SUCCESS",
                                                    "doubled": "STEP_SUCCESS"}
    assert (folder / "counts.txt").read_text() == "{'a': 1}"
    # doubled has the default IO manager
    assert pickle.loads((tmp_path / "loc/assets/doubled.pickle").read_bytes()) == {"a": 2}


def test_a_failing_io_manager_fails_its_step_with_the_users_traceback(tmp_path: Path) -> None:
    @asset(io_manager_key="broken")
    def fragile() -> int:
        return 1

    defs = Definitions(assets=[raw, fragile], jobs=[define_asset_job("all")],
                       resources={"broken": BrokenIO()})
    events = run(defs, "all", tmp_path)
    assert outcomes(events) == {"raw": "STEP_SUCCESS", "fragile": "STEP_FAILURE"}
    error = failure(events, "fragile").error
    assert (error.class_name, error.message) == ("ConnectionError",
                                                 "warehouse unreachable while storing fragile")
    # the traceback starts in the user's IO manager, not in Tether's executor
    assert error.stack.splitlines()[1].strip().startswith(f'File "{__file__}"')
    assert "_executor.py" not in error.stack and "_handover.py" not in error.stack
    # the other asset's value is stored regardless
    assert (tmp_path / "loc/assets/raw.pickle").exists()
