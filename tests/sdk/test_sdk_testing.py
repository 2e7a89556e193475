"""What a project's unit tests call: ``materialize``, ``job.execute_in_process`` and
``build_op_context``, in this process, leaving no files behind."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tether import (
    Config,
    InitResourceContext,
    OpContext,
    Resource,
    asset,
    build_op_context,
    job,
    materialize,
    op,
    resource,
)
from tether.wire import StepFailure, StepStart, StepSuccess


class Greeting(Config):
    word: str = "hello"


class Counter(Resource):
    start: int

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._opened = True


@op
def names() -> list[str]:
    return ["ada", "grace"]


@op
def greet(context: OpContext, config: Greeting, people: list[str]) -> list[str]:
    context.log.info(f"greeting {len(people)}")
    return [f"{config.word} {p}" for p in people]


@op
def count(counter: Counter, greetings: list[str]) -> int:
    assert counter._opened
    return counter.start + len(greetings)


@job
def greetings_job() -> None:
    count(greet(names()))


@op
def broken() -> None:
    raise ZeroDivisionError("no people")


@job
def broken_job() -> None:
    broken()


@asset
def raw() -> list[int]:
    return [1, 2, 3]


@asset
def doubled(raw: list[int]) -> list[int]:
    return [v * 2 for v in raw]


@pytest.fixture
def empty_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_job_runs_in_process_with_resources_and_each_output_is_readable(
        empty_cwd: Path) -> None:
    result = greetings_job.execute_in_process(
        resources={"counter": Counter(start=10)},
        run_config={"ops": {"greet": {"config": {"word": "hi"}}}})
    assert result.success
    assert result.output_for_node("greet") == ["hi ada", "hi grace"]
    assert result.output_for_node("count") == 12
    assert [type(e) for e in result.events_for_node("names")] == [StepStart, StepSuccess]
    assert {e.step_key for e in result.all_node_events} == {"names", "greet", "count"}
    assert any(getattr(e, "message", "") == "greeting 2" for e in result.events)
    # outputs stayed in memory
    assert list(empty_cwd.iterdir()) == []


def test_a_failing_step_is_raised_as_the_op_raised_it_unless_asked_not_to() -> None:
    with pytest.raises(ZeroDivisionError, match="no people"):
        broken_job.execute_in_process()

    result = broken_job.execute_in_process(raise_on_error=False)
    assert not result.success
    [failure] = result.step_failures
    assert isinstance(failure, StepFailure) and failure.step_key == "broken"
    assert "test_sdk_testing.py" in failure.error.stack


def test_materialize_runs_assets_in_order_and_reads_their_values(empty_cwd: Path) -> None:
    result = materialize([doubled, raw])
    assert result.success
    assert result.asset_value("doubled") == [2, 4, 6]
    assert result.asset_value(["raw"]) == [1, 2, 3]
    assert list(empty_cwd.iterdir()) == []


def test_materialize_a_selection_with_a_resource_whose_teardown_runs() -> None:
    closed: list[str] = []

    @resource
    def client() -> Iterator[str]:
        yield "client-1"
        closed.append("client-1")

    @asset
    def uses_client(context: OpContext) -> str:
        return str(context.resources.client)

    result = materialize([uses_client, raw], selection=["uses_client"],
                         resources={"client": client})
    assert result.asset_value("uses_client") == "client-1"
    assert closed == ["client-1"]
    assert {e.step_key for e in result.all_node_events} == {"uses_client"}


def test_an_op_is_called_directly_with_a_built_context() -> None:
    @op
    def configured(context: OpContext) -> str:
        context.log.info("configured")
        return f"{context.op_config['word']} {context.resources.counter.start}"

    with build_op_context(resources={"counter": Counter(start=3)},
                          op_config={"word": "x"}) as context:
        assert configured(context) == "x 3"
        assert context.resources.counter._opened
    assert [getattr(e, "message", None) for e in context.events] == ["configured"]


def test_import_tether_does_not_import_the_testing_helpers_dependencies() -> None:
    import subprocess
    import sys

    probe = ("import sys, tether; print(sorted(m for m in sys.modules "
             "if m in ('pickle', 'tether.sdk._storage')))")
    output = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, env={**os.environ}).stdout
    assert output.strip() == "[]"
