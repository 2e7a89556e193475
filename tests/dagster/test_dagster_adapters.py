"""The adapters of ``tether.dagster`` build Tether's own definitions: a Config class's Field
defaults and descriptions reach the run config's JSON Schema (what a launch is checked
against), ``config_schema`` does too, ``AssetIn`` wires keys and partition mappings,
configurable resources and IO managers run as Tether's, a partitioned schedule made the
Dagster way ticks a partition, and a code location importing an unsupported name fails to
load with the message saying what to use instead."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import tether.dagster as dg
from tether.errors import CodeLocationLoadError, RunConfigError
from tether.sdk import (
    evaluate_schedule,
    evaluate_sensor,
    load_definitions,
    resolve_run_config,
    run_config_schema,
)
from tether.wire import LocationSpec


class Load(dg.Config):
    # a default before a required field, as pydantic allows
    limit: int = dg.Field(default=10, description="rows to load")
    table: str = dg.Field(description="the table to read")
    tags: list[str] = dg.Field(default=["a"])


@dg.op
def load(config: Load) -> list[str]:
    return [config.table] * config.limit


@dg.op(config_schema={"rate": dg.Field(float, default_value=0.5, description="per row"),
                      "label": str, "note": dg.Field(str, is_required=False)})
def scale(context: dg.OpExecutionContext) -> dict[str, Any]:
    return dict(context.op_config)


@dg.job
def load_job() -> None:
    load()
    scale()


def test_config_fields_and_config_schema_reach_the_run_config_schema() -> None:
    schema = run_config_schema(load_job)
    fields = schema["$defs"]["Load"]["properties"]
    assert fields["limit"] == {"type": "integer", "default": 10, "description": "rows to load"}
    assert fields["table"]["description"] == "the table to read"
    assert schema["$defs"]["Load"]["required"] == ["table"]
    [scale_config] = [name for name in schema["$defs"] if name != "Load"]
    declared = schema["$defs"][scale_config]
    assert declared["properties"]["rate"] == {"type": "number", "default": 0.5,
                                              "description": "per row"}
    assert declared["required"] == ["label"]
    # a mutable default is each instance's own
    first, second = Load(table="t"), Load(table="t")
    assert first.tags == ["a"] and first.tags is not second.tags


def test_a_launch_is_checked_against_config_schema_and_gets_its_defaults() -> None:
    with pytest.raises(RunConfigError, match=r"\$\.ops\.scale\.config\.label: missing"):
        resolve_run_config(load_job, {"ops": {"load": {"config": {"table": "t"}}}})
    with pytest.raises(RunConfigError,
                       match=r"\$\.ops\.scale\.config\.rate: expected float, got str"):
        resolve_run_config(load_job, {"ops": {"load": {"config": {"table": "t"}},
                                              "scale": {"config": {"label": "x", "rate": "a"}}}})
    result = load_job.execute_in_process(run_config={"ops": {
        "load": {"config": {"table": "t", "limit": 2}}, "scale": {"config": {"label": "x"}}}})
    assert result.output_for_node("load") == ["t", "t"]
    assert result.output_for_node("scale") == {"rate": 0.5, "label": "x", "note": None}


def test_config_schema_beside_a_config_parameter_is_refused() -> None:
    def both(context: Any, config: Load) -> None:
        pass

    with pytest.raises(dg.NotInTether, match=r"op both\(config_schema=\.\.\.\) with a Config "
                                              r"parameter 'config' is not supported"):
        dg.op(config_schema={"n": int})(both)


def test_config_schema_of_dagster_config_types_is_refused_naming_them() -> None:
    def bad(context: Any) -> None:
        pass

    with pytest.raises(dg.NotInTether, match=r"op bad\(config_schema=\{'n': \{'x': <class "):
        dg.op(config_schema={"n": {"x": int}})(bad)


def test_asset_in_wires_keys_prefixes_and_partition_mappings() -> None:
    daily = dg.DailyPartitionsDefinition(start_date="2026-11-01")

    @dg.asset(partitions_def=daily, key_prefix=["shop"])
    def events(context: dg.AssetExecutionContext) -> str:
        return context.partition_key

    @dg.asset(partitions_def=daily, ins={
        "previous": dg.AssetIn(key=["shop", "events"],
                               partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1)),
        "events": dg.AssetIn(key_prefix="shop")})
    def two_days(previous: Any, events: str) -> Any:
        return previous, events

    assert two_days.inputs == {"previous": "shop/events", "events": "shop/events"}
    assert two_days.partition_mappings["shop/events"].snapshot.start_offset == -1
    result = dg.materialize([events, two_days], partition_key="2026-11-02",
                            resources={"io_manager": Memory()},
                            selection=dg.AssetSelection.keys("shop/events"))
    assert result.success
    result = dg.materialize([events], partition_key="2026-11-03",
                            resources={"io_manager": STORE})
    assert result.asset_value(["shop", "events"], "2026-11-03") == "2026-11-03"


def test_multi_and_graph_assets_take_partitions_and_mappings_the_dagster_way() -> None:
    daily = dg.DailyPartitionsDefinition(start_date="2026-11-01")

    @dg.asset(partitions_def=daily)
    def orders(context: dg.AssetExecutionContext) -> str:
        return f"orders {context.partition_key}"

    @dg.multi_asset(outs={"clean": dg.AssetOut(), "rejected": dg.AssetOut()},
                    partitions_def=daily, backfill_policy=dg.BackfillPolicy.single_run(),
                    ins={"orders": dg.AssetIn(partition_mapping=dg.TimeWindowPartitionMapping(
                        start_offset=-1, end_offset=-1))})
    def split(context: dg.AssetExecutionContext, orders: str) -> Any:
        return f"{orders} read on {context.partition_key}", "none"

    @dg.op
    def count(context: dg.OpExecutionContext, orders: str) -> str:
        return f"{orders} counted on {context.partition_key}"

    @dg.graph_asset(partitions_def=daily, ins={"orders": dg.AssetIn(
        partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1))})
    def tally(orders: str) -> Any:
        return count(orders)

    for made in (*split.assets, tally):
        assert made.partitions_def is daily
    assert tally.partition_mappings["orders"].snapshot.start_offset == -1
    dg.materialize([orders], partition_key="2026-11-02", resources={"io_manager": STORE})
    # one run each: STORE keys values by asset key, and neither the multi-asset's whole
    # value nor the graph's op output has one
    split_run = dg.materialize([orders, split], partition_key="2026-11-03",
                               resources={"io_manager": STORE},
                               selection=dg.AssetSelection.keys("clean", "rejected"))
    assert split_run.asset_value("clean", "2026-11-03") == (
        "orders 2026-11-02 read on 2026-11-03")
    tally_run = dg.materialize([orders, tally], partition_key="2026-11-03",
                               resources={"io_manager": STORE},
                               selection=dg.AssetSelection.keys("tally"))
    assert tally_run.asset_value("tally", "2026-11-03") == (
        "orders 2026-11-02 counted on 2026-11-03")


class Memory(dg.ConfigurableIOManager):
    """An IO manager written the Dagster way: a ConfigurableIOManager with a field."""

    prefix: str = "mem"

    def handle_output(self, context: Any, obj: Any) -> None:
        STORED[(self.prefix, context.asset_key, context.partition_key)] = obj

    def load_input(self, context: Any) -> Any:
        upstream = context.upstream_output
        return STORED[(self.prefix, upstream.asset_key, upstream.partition_key)]


STORED: dict[tuple[Any, ...], Any] = {}
STORE = Memory(prefix="store")


class Warehouse(dg.ConfigurableResource):
    dsn: str
    opened: bool = False

    def setup_for_execution(self, context: Any) -> None:
        self.opened = True


def test_configurable_resources_read_env_vars_and_are_set_up_per_run(
        monkeypatch: pytest.MonkeyPatch) -> None:
    @dg.asset
    def orders(warehouse: Warehouse) -> str:
        assert warehouse.opened
        return warehouse.dsn

    monkeypatch.setenv("WAREHOUSE_DSN", "postgres://db")
    result = dg.materialize([orders], resources={
        "warehouse": Warehouse(dsn=dg.EnvVar("WAREHOUSE_DSN")), "io_manager": STORE})
    assert result.asset_value("orders") == "postgres://db"
    assert STORED[("store", "orders", None)] == "postgres://db"


def test_a_partitioned_job_schedule_made_the_dagster_way_ticks_the_day_that_ended() -> None:
    daily = dg.DailyPartitionsDefinition(start_date="2026-11-01", hour_offset=6,
                                         timezone="Europe/Paris")

    @dg.asset(partitions_def=daily)
    def day(context: dg.AssetExecutionContext) -> str:
        return context.partition_key

    job = dg.define_asset_job("day_job", [day], partitions_def=daily)
    schedule = dg.build_schedule_from_partitioned_job(
        job, default_status=dg.DefaultScheduleStatus.RUNNING)
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 6 * * *",
                                                                     "Europe/Paris")
    assert schedule.snapshot.default_running
    due = datetime(2026, 12, 3, 5, 0, tzinfo=UTC).timestamp()  # 06:00 in Paris
    [run] = evaluate_schedule(schedule, due).run_requests
    assert (run.partition, run.run_key, run.job_name) == ("2026-12-02", "2026-12-02", "day_job")
    with pytest.raises(dg.NotInTether, match=r"end_date=\.\.\.\) is not supported"):
        dg.DailyPartitionsDefinition("2026-11-01", "2026-12-01")


def test_a_location_importing_an_unsupported_name_fails_to_load_saying_what_instead(
        tmp_path: Path) -> None:
    (tmp_path / "defs.py").write_text(textwrap.dedent("""
        import tether.dagster as dg
        from tether.dagster import asset, FreshnessPolicy

        @asset
        def orders():
            return 1

        defs = dg.Definitions(assets=[orders])
    """))
    with pytest.raises(CodeLocationLoadError) as raised:
        load_definitions(LocationSpec(name="ported", python_file="defs.py",
                                      working_directory=str(tmp_path)))
    assert ("NotInTether: dagster.FreshnessPolicy is not supported by Tether; materialize on "
            "a schedule or from a sensor") in str(raised.value)
    assert "defs.py" in raised.value.user_traceback


def test_a_pydantic_field_in_a_config_class_gives_its_default_and_description() -> None:
    """Dagster's docs write Config fields with pydantic.Field; pydantic is not Tether's, so
    this runs where a Dagster project's environment has it (the Dagster virtualenv's)."""
    venv = Path(os.environ.get("TETHER_DAGSTER_VENV",
                               Path(__file__).resolve().parents[2] / "bench/.dagster-venv"))
    site = sorted(venv.glob("lib/python3*/site-packages"))
    if not site:
        pytest.skip(f"no virtualenv with pydantic at {venv} (see test_against_dagster.py)")
    probe = textwrap.dedent("""
        import json, msgspec, pydantic
        import tether.dagster as dg

        class Load(dg.Config):
            limit: int = pydantic.Field(default=10, description="rows to load")
            table: str = pydantic.Field(description="the table")

        schema = msgspec.json.schema(Load)["$defs"]["Load"]
        print(json.dumps([Load(table="t").limit, schema["properties"], schema["required"]]))
    """)
    # Tether's interpreter, with the Dagster environment's packages after its own
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(site[0])}, check=True)
    limit, properties, required = json.loads(done.stdout)
    assert limit == 10
    assert properties["limit"] == {"type": "integer", "default": 10,
                                   "description": "rows to load"}
    assert properties["table"] == {"type": "string", "description": "the table"}
    assert required == ["table"]


def test_a_context_parameter_is_found_by_its_annotation_whatever_its_name() -> None:
    @dg.asset
    def upstream(ctx: dg.AssetExecutionContext) -> str:
        return str(ctx.asset_key)

    @dg.op
    def say() -> str:
        return "hi"

    @dg.op(config_schema={"n": dg.Field(int, default_value=2)})
    def counted(op_context: dg.OpExecutionContext, value: str) -> str:
        return f"{value} x{op_context.op_config['n']}"

    @dg.job
    def counted_job() -> None:
        counted(say())

    assert upstream.op.takes_context and upstream.op.input_names == ()
    assert dg.materialize([upstream]).asset_value("upstream") == "upstream"
    assert counted.takes_context and counted.input_names == ("value",)
    assert counted_job.execute_in_process().output_for_node("counted") == "hi x2"
    # called directly, as a Dagster test does
    assert counted(dg.build_op_context(op_config={"n": 3}), "yo") == "yo x3"


def test_resources_hooks_graphs_and_sensor_results_made_the_dagster_way() -> None:
    closed: list[str] = []
    succeeded: list[str] = []

    @dg.resource
    def connection(context: Any) -> Any:
        yield "conn"
        closed.append("conn")

    @dg.success_hook
    def note(context: Any) -> None:
        succeeded.append(context.op_name)

    @dg.op
    def query(context: dg.OpExecutionContext) -> str:
        return f"{context.resources.connection} ok"

    @dg.graph
    def twice(value: str) -> str:
        return shout(value)

    @dg.op
    def shout(value: str) -> str:
        return value.upper()

    @dg.job(hooks={note})
    def query_job() -> None:
        twice(query())

    result = query_job.execute_in_process(resources={"connection": connection})
    assert result.success and closed == ["conn"]
    assert result.output_for_node("twice.shout") == "CONN OK"
    assert sorted(succeeded) == ["query", "shout"]

    @dg.sensor(job=query_job)
    def finds(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        return dg.SensorResult(run_requests=[dg.RunRequest("a")], cursor="a")

    outcome = evaluate_sensor(finds, None, None)
    assert [r.run_key for r in outcome.run_requests] == ["a"] and outcome.cursor == "a"


@pytest.mark.parametrize(("call", "named"), [
    (lambda: dg.AssetSelection.tag("team", "sales"), r"AssetSelection\.tag\(\.\.\.\)"),
    (lambda: dg.AssetSelection.key_prefixes(["shop"]),
     r"AssetSelection\.key_prefixes\(\.\.\.\)"),
    (lambda: dg.AssetSelection.all(include_sources=True),
     r"AssetSelection\.all\(include_sources=\.\.\.\)"),
    (lambda: dg.MetadataValue.table([]), r"MetadataValue\.table\(\.\.\.\)"),
    (lambda: dg.MetadataValue.timestamp(0.0), r"MetadataValue\.timestamp\(\.\.\.\)"),
])
def test_the_methods_tether_lacks_raise_naming_themselves(call: Any, named: str) -> None:
    with pytest.raises(dg.NotInTether, match=named + r" is not supported by Tether; "):
        call()


def test_the_selections_and_metadata_values_tether_has_are_its_own() -> None:
    @dg.asset(group_name="shop")
    def orders() -> int:
        return 1

    @dg.asset(group_name="shop")
    def refunds(orders: int) -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={
            "summary": dg.MetadataValue.md("**1**"), "ok": dg.MetadataValue.bool(True),
            "link": dg.MetadataValue.url("https://shop.example/refunds")})

    result = dg.materialize([orders, refunds],
                            selection=dg.AssetSelection.groups("shop") - dg.AssetSelection.keys(
                                "refunds").downstream(include_self=False))
    [event] = [e for e in result.events if type(e).__name__ == "AssetMaterialization"
               and e.asset_key == "refunds"]
    assert {label: type(value).__name__ for label, value in event.metadata.items()} == {
        "summary": "MarkdownValue", "ok": "JsonValue", "link": "UrlValue"}


def test_metadata_of_assets_specs_and_outs_is_the_assets_definition_metadata() -> None:
    from tether.sdk import snapshot_definitions
    from tether.wire import IntValue, JsonValue, TextValue, UrlValue

    @dg.asset(metadata={"owner": "sales", "docs": dg.MetadataValue.url("https://wiki/o")})
    def orders() -> int:
        return 1

    @dg.multi_asset(outs={"low": dg.AssetOut(metadata={"rank": dg.MetadataValue.int(1)}),
                          "high": dg.AssetOut()})
    def bounds(orders: int) -> tuple[int, int]:
        return orders, orders

    landing = dg.AssetSpec("landing", metadata={"ok": dg.MetadataValue.bool(True)})
    defs = dg.Definitions(assets=[orders, bounds, landing])
    by_key = {a.key: a.metadata for a in snapshot_definitions(defs, "loc").assets}
    assert by_key == {"orders": {"owner": TextValue(text="sales"),
                                 "docs": UrlValue(url="https://wiki/o")},
                      "low": {"rank": IntValue(value=1)}, "high": {},
                      "landing": {"ok": JsonValue(data=True)}}
