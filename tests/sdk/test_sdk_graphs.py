"""``@graph``: nested compositions flattened into steps with qualified keys, their inputs and
outputs, and ``@graph_asset``: an asset computed by a graph."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

from tether import (
    Config,
    Definitions,
    Out,
    asset,
    define_asset_job,
    graph,
    graph_asset,
    job,
    op,
)
from tether.errors import DefinitionError
from tether.sdk import JobDefinition, RunEmitter, execute_job, snapshot_definitions
from tether.wire import RunEvent, StepSuccess


class Factor(Config):
    factor: int = 2


@op
def one() -> int:
    return 1


@op
def add(a: int, b: int) -> int:
    return a + b


@op
def scale(x: int, config: Factor) -> int:
    return x * config.factor


@op(out={"low": Out(int), "high": Out(int)})
def bounds(x: int) -> tuple[int, int]:
    return x - 1, x + 1


@graph
def inner(x: Any) -> Any:
    return scale(x)


@graph(out=["total", "scaled"])
def outer(x: Any) -> Any:
    scaled = inner(x)
    return add(x, scaled), inner(scaled)


@job
def nested() -> None:
    total, scaled = outer(one())
    low, high = bounds(add(total, scaled))
    add.alias("spread")(low, high)


def run(defs: Definitions, job_name: str, storage: Path, run_id: str = "run-1",
        **options: Any) -> list[RunEvent]:
    events: list[RunEvent] = []
    execute_job(defs, job_name, emitter=RunEmitter(run_id=run_id, attempt=1,
                                                   sink=events.append),
                location="loc", storage_dir=str(storage), **options)
    return events


def edges(definition: JobDefinition) -> dict[str, dict[str, str]]:
    return {node.name: dict(node.inputs) for node in definition.nodes}


def test_nested_graphs_flatten_into_steps_keyed_by_their_qualified_names() -> None:
    assert edges(nested) == {
        "one": {},
        "outer.inner.scale": {"x": "one"},
        "outer.add": {"a": "one", "b": "outer.inner.scale"},
        "outer.inner_2.scale": {"x": "outer.inner.scale"},
        "add": {"a": "outer.add", "b": "outer.inner_2.scale"},
        "bounds": {"x": "add"},
        "spread": {"a": "bounds", "b": "bounds"},
    }
    assert dict(nested.node("spread").from_outputs) == {"a": "low", "b": "high"}


def test_a_nested_graph_runs_with_config_addressed_by_qualified_step_key(
        tmp_path: Path) -> None:
    defs = Definitions(jobs=[nested])
    events = run(defs, "nested", tmp_path, run_config={
        "ops": {"outer.inner.scale": {"config": {"factor": 10}}}})
    # independent steps run side by side (the thread executor): any order they may end in
    assert sorted(e.step_key for e in events if isinstance(e, StepSuccess)) == sorted([
        "one", "outer.inner.scale", "outer.add", "outer.inner_2.scale", "add", "bounds",
        "spread"])
    runs = tmp_path / "loc/runs/run-1"

    def value(step: str, output: str = "result") -> Any:
        return pickle.loads((runs / step / f"{output}.pickle").read_bytes())

    # one times 10 is 10; outer.add: 1 + 10; outer.inner_2.scale: 10 times 2 (its default)
    assert (value("outer.inner.scale"), value("outer.add"), value("outer.inner_2.scale")) == \
        (10, 11, 20)
    assert (value("bounds", "low"), value("bounds", "high"), value("spread")) == (30, 32, 62)
    snapshot = snapshot_definitions(defs, "loc").jobs[0]
    schema_ops = snapshot.run_config_schema["properties"]["ops"]["properties"]
    assert "outer.inner.scale" in schema_ops


def test_a_graph_without_inputs_is_a_job_of_its_own() -> None:
    @graph
    def pipeline() -> None:
        inner(one())

    as_job = pipeline.to_job(name="pipeline_job")
    assert edges(as_job) == {"one": {}, "inner.scale": {"x": "one"}}


def test_graph_mistakes_fail_at_definition_time() -> None:
    with pytest.raises(DefinitionError, match="'outer' has no output 'sum'; its outputs: "
                                              "total, scaled"):
        @job
        def unknown_output() -> None:
            add(outer(one()).sum, one())

    @graph
    def two_outputs(x: Any) -> Any:
        return add(x, x), add(x, x)

    with pytest.raises(DefinitionError, match=r"name them with @graph\(out=\[\.\.\.\]\)"):
        @job
        def unnamed() -> None:
            two_outputs(one())

    with pytest.raises(DefinitionError, match="graph 'inner': missing a required argument"):
        @job
        def missing_input() -> None:
            inner()

    with pytest.raises(DefinitionError, match="can only be called inside a @job or @graph"):
        inner(1)


@asset
def base() -> int:
    return 5


@graph_asset
def derived(base: Any) -> Any:
    return scale(inner(base))


ASSETS = Definitions(assets=[base, derived], jobs=[
    define_asset_job("everything", ["base", "derived"]), define_asset_job("only", ["derived"])])


def test_a_graph_asset_materializes_the_graphs_output(tmp_path: Path) -> None:
    events = run(ASSETS, "everything", tmp_path)
    assert [e.step_key for e in events if isinstance(e, StepSuccess)] == [
        "base", "derived.inner.scale", "derived.scale", "derived"]
    stored = tmp_path / "loc/assets/derived.pickle"
    assert pickle.loads(stored.read_bytes()) == 20
    # alone, its graph loads the upstream asset's latest materialization
    (tmp_path / "loc/assets/base.pickle").write_bytes(pickle.dumps(1))
    events = run(ASSETS, "only", tmp_path, run_id="run-2")
    assert [e.step_key for e in events if isinstance(e, StepSuccess)] == [
        "derived.inner.scale", "derived.scale", "derived"]
    assert pickle.loads(stored.read_bytes()) == 4
    snapshot = snapshot_definitions(ASSETS, "loc")
    assert {a.key: a.deps for a in snapshot.assets} == {"base": [], "derived": ["base"]}
