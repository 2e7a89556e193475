"""One Dagster program, run by ``test_against_dagster.py`` twice: with Dagster itself
(``python same_program.py dagster``, in Dagster's virtualenv) and with Tether
(``python same_program.py tether.dagster``). It prints, as JSON, what a user of each would
observe; the test checks both print the same."""

import importlib
import json
import os
import sys
from datetime import UTC, datetime

dg = importlib.import_module(sys.argv[1])
# Dagster's Config classes take pydantic's Field; tether.dagster's Field takes its keywords
Field = importlib.import_module("pydantic").Field if sys.argv[1] == "dagster" else dg.Field


class LoadConfig(dg.Config):
    limit: int = Field(default=10, description="rows to load")
    table: str


@dg.op(config_schema={"rate": dg.Field(float, default_value=0.5), "label": str})
def scaled(context):
    return {"rate": context.op_config["rate"], "label": context.op_config["label"]}


@dg.asset(group_name="shop", compute_kind="python")
def raw_orders(config: LoadConfig):
    return [config.table] * min(config.limit, 3)


@dg.asset(ins={"rows": dg.AssetIn(key="raw_orders")})
def order_count(rows):
    return dg.Output(len(rows), metadata={"rows": len(rows)})


@dg.asset(deps=[order_count])
def report():
    return dg.MaterializeResult(metadata={"note": dg.MetadataValue.md("**ok**")})


all_assets_job = dg.define_asset_job(name="all_assets_job")
nightly = dg.ScheduleDefinition(job=all_assets_job, cron_schedule="0 0 * * *",
                                default_status=dg.DefaultScheduleStatus.RUNNING)


@dg.schedule(cron_schedule="30 6 * * 1-5", job=all_assets_job,
             execution_timezone="Europe/Paris")
def weekdays(context):
    when = context.scheduled_execution_time
    return dg.RunRequest(run_key=when.strftime("%Y-%m-%d"), tags={"day": when.strftime("%a")})


@dg.sensor(job=all_assets_job, minimum_interval_seconds=45)
def files(context):
    seen = int(context.cursor or 0)
    context.update_cursor(str(seen + 2))
    return [dg.RunRequest(run_key=f"file-{n}") for n in (seen + 1, seen + 2)]


@dg.sensor(job=all_assets_job, default_status=dg.DefaultSensorStatus.RUNNING)
def quiet(context):
    return dg.SkipReason("nothing new")


daily = dg.DailyPartitionsDefinition(start_date="2026-11-01", hour_offset=2)


@dg.op
def load_day(context):
    return context.partition_key


@dg.job(partitions_def=daily)
def daily_job():
    load_day()


daily_schedule = dg.build_schedule_from_partitioned_job(daily_job)
defs = dg.Definitions(assets=[raw_orders, order_count, report], jobs=[daily_job],
                      schedules=[nightly, weekdays, daily_schedule], sensors=[files, quiet])

os.environ["SAME_PROGRAM_DSN"] = "postgres://db"
os.environ.pop("SAME_PROGRAM_UNSET", None)
result = dg.materialize([raw_orders, order_count, report],
                        run_config={"ops": {"raw_orders": {"config": {"table": "orders"}}}})
sensor_context = dg.build_sensor_context(cursor="4")
requests = files(sensor_context)
paris = datetime(2026, 12, 3, 5, 30, tzinfo=UTC)
scheduled = weekdays(dg.build_schedule_context(scheduled_execution_time=paris))

print(json.dumps({
    "config": [LoadConfig(table="t").limit, LoadConfig(table="t", limit=2).limit],
    "op_config": scaled(dg.build_op_context(op_config={"label": "x"})),
    "materialized": [result.success, result.asset_value("raw_orders"),
                     result.asset_value("order_count")],
    "nightly": [nightly.name, nightly.cron_schedule, nightly.job_name,
                nightly.default_status.value],
    "weekdays": [weekdays.name, weekdays.cron_schedule, weekdays.execution_timezone,
                 scheduled.run_key, scheduled.tags],
    "files": [files.minimum_interval_seconds, [r.run_key for r in requests],
              sensor_context.cursor, files.default_status.value],
    "quiet": [quiet.minimum_interval_seconds, quiet.default_status.value,
              quiet(dg.build_sensor_context()).skip_message],
    "daily_schedule": [daily_schedule.name, daily_schedule.cron_schedule],
    "partitions": daily.get_partition_keys(
        current_time=datetime(2026, 11, 4, 3, tzinfo=UTC)),
    "run_request": [dg.RunRequest("k", partition_key="2026-11-05").run_key,
                    dg.RunRequest("k", partition_key="2026-11-05").partition_key],
    "job_def": defs.get_job_def("daily_job").name,
    "env_var": [dg.EnvVar("SAME_PROGRAM_DSN").get_value(),
                dg.EnvVar("SAME_PROGRAM_DSN").env_var_name,
                dg.EnvVar("SAME_PROGRAM_UNSET").get_value("fallback")],
    "asset_key": [dg.AssetKey(["a", "b"]).parts, dg.AssetKey(["a", "b"]).to_user_string(),
                  dg.AssetKey(["a", "b"]).has_prefix(["a"]),
                  dg.AssetKey.from_user_string("x/y").parts],
}, sort_keys=True))
