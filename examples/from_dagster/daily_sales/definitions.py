"""A Dagster project of daily partitioned assets: each day's orders, the day's revenue per
region (checked), a schedule that runs each day once it has ended, a sensor that re-runs a
day when corrected orders for it arrive in an inbox folder, and a report job configured with
config_schema. It runs on Tether with `import tether.dagster as dg`."""

import os
import random
from pathlib import Path

import tether.dagster as dg

daily = dg.DailyPartitionsDefinition(start_date="2026-11-01")
REGIONS = ("eu", "us", "apac")


class OrderSource(dg.ConfigurableResource):
    """Where orders come from: a seeded generator standing in for the shop's database."""

    orders_per_day: int = dg.Field(default_value=20, description="orders in one day")
    inbox: str = dg.Field(default_value="inbox", description="corrected orders, one file "
                                                              "per day (YYYY-MM-DD.csv)")

    def orders(self, day: str) -> list[dict]:
        corrected = Path(self.inbox) / f"{day}.csv"
        if corrected.exists():
            return [{"region": region, "amount": float(amount)} for region, amount in
                    (line.split(",") for line in corrected.read_text().split())]
        rng = random.Random(day)
        return [{"region": rng.choice(REGIONS), "amount": round(rng.uniform(5, 200), 2)}
                for _ in range(self.orders_per_day)]


@dg.asset(partitions_def=daily, group_name="sales", compute_kind="python")
def orders(context: dg.AssetExecutionContext, source: OrderSource) -> list:
    """The day's orders."""
    rows = source.orders(context.partition_key)
    context.log.info(f"{len(rows)} orders on {context.partition_key}")
    return rows


@dg.asset(partitions_def=daily, group_name="sales",
          metadata={"currency": "EUR", "regions": dg.MetadataValue.json(list(REGIONS))})
def revenue(context: dg.AssetExecutionContext, orders: list) -> dict:
    """The day's revenue per region."""
    totals = {region: 0.0 for region in REGIONS}
    for order in orders:
        totals[order["region"]] = round(totals[order["region"]] + order["amount"], 2)
    context.add_output_metadata({"total": round(sum(totals.values()), 2),
                                 "day": context.partition_key})
    return totals


@dg.asset_check(asset=revenue)
def revenue_is_not_negative(revenue: dict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=all(v >= 0 for v in revenue.values()),
                               metadata={"regions": len(revenue)})


daily_sales_job = dg.define_asset_job(
    "daily_sales_job", selection=dg.AssetSelection.groups("sales"), partitions_def=daily)

daily_sales_schedule = dg.build_schedule_from_partitioned_job(daily_sales_job)


@dg.sensor(job=daily_sales_job, minimum_interval_seconds=1,
           default_status=dg.DefaultSensorStatus.RUNNING)
def corrected_orders(context: dg.SensorEvaluationContext):
    """Re-run a day when a file of corrected orders for it arrives in the inbox."""
    inbox = Path(os.environ.get("SALES_INBOX", "inbox"))
    names = sorted(path.name for path in inbox.glob("*.csv")) if inbox.is_dir() else []
    fresh = [name for name in names if context.cursor is None or name > context.cursor]
    if not fresh:
        return dg.SkipReason(f"no corrected orders after {context.cursor}")
    context.update_cursor(fresh[-1])
    return [dg.RunRequest(run_key=name, partition_key=name.removesuffix(".csv"))
            for name in fresh]


@dg.op(config_schema={"top": dg.Field(int, default_value=2, description="regions shown"),
                      "title": str})
def regions_report(context: dg.OpExecutionContext) -> str:
    top = context.op_config["top"]
    line = f"{context.op_config['title']}: top {top} of {', '.join(REGIONS)}"
    context.log.info(line)
    return line


@dg.job(tags={"team": "sales"})
def report_job():
    regions_report()


defs = dg.Definitions(
    assets=[orders, revenue, revenue_is_not_negative],
    jobs=[daily_sales_job, report_job],
    schedules=[daily_sales_schedule],
    sensors=[corrected_orders],
    resources={"source": OrderSource(inbox=dg.EnvVar("SALES_INBOX"))},
)
