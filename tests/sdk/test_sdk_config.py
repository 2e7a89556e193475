"""Config classes and resources: what an op receives, the run config's JSON Schema, and the
control plane's check of a run config against it, which must word every error as the run
worker's own conversion does."""

from __future__ import annotations

from typing import Literal

import msgspec
import pytest

from tether import Config, Definitions, EnvVar, OpContext, Resource, asset, job, op
from tether.control_plane.storage import config_scaffold
from tether.control_plane.storage._run_config import run_config_errors
from tether.errors import DefinitionError, RunConfigError
from tether.sdk import RunEmitter, execute_job, resolve_run_config, run_config_schema
from tether.wire import LogMessage, RunEvent, RunFailure, RunSuccess, StepFailure


class Window(Config, frozen=True):
    days: int = 7


class LoadConfig(Config, frozen=True):
    table: str
    limit: int = 100
    mode: Literal["append", "replace"] = "append"
    ratio: float | None = None
    columns: list[str] = msgspec.field(default_factory=list)
    window: Window = Window()


class Warehouse(Resource, frozen=True):
    url: str
    schema: str = "public"


@op
def extract(config: Window) -> list[int]:
    return list(range(config.days))


@op
def load(context: OpContext, rows: list[int], config: LoadConfig,
         warehouse: Warehouse) -> None:
    context.log.info(f"{len(rows)} rows into {config.table} (limit {config.limit}, "
                     f"{config.mode}) at {warehouse.url}/{warehouse.schema}")


@op
def untyped(context: OpContext) -> None:
    context.log.info(f"threshold {context.op_config.get('threshold')}")


@job
def etl() -> None:
    load(extract())
    untyped()


def run(defs: Definitions, run_config: dict) -> list[RunEvent]:
    events: list[RunEvent] = []
    execute_job(defs, "etl", emitter=RunEmitter(run_id="r", attempt=1, sink=events.append),
                run_config=run_config)
    return events


def test_an_op_receives_its_config_with_defaults_and_its_resource_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert load.input_names == ("rows",)
    assert (load.config_param, load.config_type, load.resource_params) == (
        "config", LoadConfig, ("warehouse",))
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://db.internal")
    defs = Definitions(jobs=[etl], resources={"warehouse": Warehouse(url=EnvVar("WAREHOUSE_URL"))})
    events = run(defs, {"ops": {"load": {"config": {"table": "sales", "mode": "replace"}},
                                "untyped": {"config": {"threshold": 3}}}})
    # the two steps are independent: they may run side by side, in either order
    logs = sorted(e.message for e in events if isinstance(e, LogMessage))
    assert logs == ["7 rows into sales (limit 100, replace) at postgresql://db.internal/public",
                    "threshold 3"]
    assert isinstance(events[-1], RunSuccess)


def test_an_unset_environment_variable_fails_the_step_that_needs_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    defs = Definitions(jobs=[etl], resources={"warehouse": Warehouse(url=EnvVar("WAREHOUSE_URL"))})
    events = run(defs, {"ops": {"load": {"config": {"table": "sales"}}}})
    [failure] = [e for e in events if isinstance(e, StepFailure)]
    assert failure.step_key == "load"
    assert "resource 'warehouse', field 'url': the environment variable WAREHOUSE_URL is not " \
        "set" in failure.error.message


def test_an_invalid_run_config_fails_the_run_before_its_first_step() -> None:
    defs = Definitions(jobs=[etl], resources={"warehouse": Warehouse(url="x")})
    events = run(defs, {"ops": {"load": {"config": {"table": "t", "limit": "10"}}}})
    assert [type(e) for e in events][1:] == [RunFailure]
    assert events[-1].message.endswith(  # type: ignore[union-attr]
        "invalid run config: $.ops.load.config.limit: expected int, got str")


def test_a_missing_resource_or_two_configs_are_definition_errors() -> None:
    with pytest.raises(DefinitionError, match="takes the resource\\(s\\) 'warehouse'"):
        Definitions(jobs=[etl])
    with pytest.raises(DefinitionError, match="both take a Config"):
        @op
        def twice(a: Window, b: Window) -> None: ...


BAD_CONFIGS = [
    {"ops": {"load": {"config": {"table": "t", "limit": "10"}}}},
    {"ops": {"load": {"config": {"limit": 10}}}},
    {"ops": {"load": {"config": {"table": "t", "limt": 10}}}},
    {"ops": {"load": {"config": {"table": "t", "mode": "upsert"}}}},
    {"ops": {"load": {"config": {"table": "t", "ratio": "half"}}}},
    {"ops": {"load": {"config": {"table": "t", "columns": ["a", 2]}}}},
    {"ops": {"load": {"config": {"table": "t", "window": {"days": 1.5}}}}},
    {"ops": {"load": {"config": {"table": "t", "limit": True}}}},
    {"ops": {"load": {"config": {"table": 5}}}},
    {"ops": {"extract": {"config": {"days": None}}, "load": {"config": {"table": "t"}}}},
]


@pytest.mark.parametrize("run_config", BAD_CONFIGS)
def test_the_control_plane_check_words_errors_as_the_run_worker_does(run_config: dict) -> None:
    with pytest.raises(RunConfigError) as raised:
        resolve_run_config(etl, run_config)
    schema = run_config_schema(etl)
    assert run_config_errors(schema, run_config) == raised.value.problems
    assert str(raised.value).startswith("$.ops.")


def test_the_example_error_and_valid_configs() -> None:
    schema = run_config_schema(etl)
    assert run_config_errors(schema, BAD_CONFIGS[0]) == [
        "$.ops.load.config.limit: expected int, got str"]
    good = {"ops": {"load": {"config": {"table": "t", "ratio": 0.5, "window": {"days": 3}}},
                    "untyped": {"config": {"anything": [1]}}}}
    assert run_config_errors(schema, good) == []
    assert resolve_run_config(etl, good)["load"] == LoadConfig(table="t", ratio=0.5,
                                                              window=Window(days=3))


def test_no_config_names_the_required_fields_it_lacks_not_the_top_object() -> None:
    # "$: object missing required field ops" said nothing of what to write
    schema = run_config_schema(etl)
    assert run_config_errors(schema, {}) == ["$.ops.load.config.table: missing required field"]
    with pytest.raises(RunConfigError) as raised:
        resolve_run_config(etl, {})
    assert raised.value.problems == ["$.ops.load.config.table: missing required field"]


def test_every_problem_is_reported_with_its_path() -> None:
    # a wrong limit no longer hides the missing table, nor one op's error another's
    schema = run_config_schema(etl)
    config = {"ops": {"extract": {"config": {"days": "a week"}},
                      "load": {"config": {"limit": "10", "mode": "upsert", "colour": 1}}}}
    assert run_config_errors(schema, config) == [
        "$.ops.extract.config.days: expected int, got str",
        "$.ops.load.config.limit: expected int, got str",
        "$.ops.load.config.mode: invalid enum value 'upsert'",
        "$.ops.load.config: object contains unknown field colour",
        "$.ops.load.config.table: missing required field",
    ]
    with pytest.raises(RunConfigError) as raised:
        resolve_run_config(etl, config)
    # the run worker's msgspec stops at the first problem of each op's config
    assert str(raised.value) == ("2 problems:\n"
                                 "  $.ops.extract.config.days: expected int, got str\n"
                                 "  $.ops.load.config.limit: expected int, got str")


def test_the_scaffold_fills_defaults_and_marks_required_fields() -> None:
    scaffold = config_scaffold(run_config_schema(etl))
    assert scaffold.config == {"ops": {
        "extract": {"config": {"days": 7}},
        "load": {"config": {"table": None, "limit": 100, "mode": "append", "ratio": None,
                            "columns": [], "window": {"days": 7}}},
    }}
    assert scaffold.required == ["ops.load.config.table (str)"]
    # filled in, it is a valid run config
    scaffold.config["ops"]["load"]["config"]["table"] = "sales"
    assert run_config_errors(run_config_schema(etl), scaffold.config) == []
    assert config_scaffold({}) == ({}, [])


def test_jobs_without_config_have_no_schema() -> None:
    @asset
    def plain() -> int:
        return 1

    @job
    def no_config() -> None:
        untyped()

    assert run_config_schema(no_config) == {}
    assert run_config_errors({}, {"ops": {"x": 1}}) == []
