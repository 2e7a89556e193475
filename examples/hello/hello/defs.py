"""Definitions of the ``hello`` example location (``module = "hello.defs"``)."""

from __future__ import annotations

import sys
import time

from tether import (
    Config,
    Definitions,
    OpContext,
    ScheduleContext,
    SkipReason,
    asset,
    define_asset_job,
    job,
    op,
    schedule,
)


@op
def extract() -> list[int]:
    """Produce a few numbers."""
    return [1, 2, 3, 4]


@op(description="Double every number.")
def transform(context: OpContext, numbers: list[int]) -> list[int]:
    context.log.debug(f"doubling {len(numbers)} numbers")
    return [n * 2 for n in numbers]


@op
def load(context: OpContext, numbers: list[int]) -> int:
    """Print the total to stdout and log it."""
    total = sum(numbers)
    print(f"total = {total}")
    print("loading is done (this line goes to stderr)", file=sys.stderr)
    context.log.info(f"loaded {len(numbers)} numbers, total {total}")
    return total


@job
def hello_job() -> None:
    """Extract numbers, double them, load the total."""
    load(transform(extract()))


@op
def explode() -> None:
    raise ValueError("this op always fails, to show a failure with its traceback")


@job
def broken_job() -> None:
    """A job whose op raises ValueError."""
    explode()


@op
def wait_a_while(context: OpContext) -> None:
    """Tick once a second for a minute; cancel it to see the interruption and the cleanup."""
    try:
        for second in range(60):
            context.log.info(f"tick {second}")
            time.sleep(1)
    finally:
        print("cleaned up")


@job
def slow_job() -> None:
    """A job that takes a minute: try `tether run cancel` on it."""
    wait_a_while()


class ExportConfig(Config, frozen=True):
    table: str
    limit: int = 100


@op
def export(context: OpContext, config: ExportConfig) -> None:
    """Pretend to export rows to a table."""
    context.log.info(f"exported {config.limit} rows to {config.table}")


@job
def export_job() -> None:
    """A job with a run config: `table` is required, `limit` defaults to 100."""
    export()


@asset
def raw_numbers() -> list[int]:
    """Numbers as they arrive."""
    return list(range(10))


@asset
def even_numbers(raw_numbers: list[int]) -> list[int]:
    """The even ones."""
    return [n for n in raw_numbers if n % 2 == 0]


@asset(deps=[raw_numbers])
def report(context: OpContext, even_numbers: list[int]) -> str:
    """A one-line summary."""
    line = f"{len(even_numbers)} even numbers"
    context.log.info(line)
    return line


@schedule(cron="*/5 * * * *", job=hello_job)
def every_five_minutes(context: ScheduleContext) -> SkipReason | None:
    """hello_job every five minutes, except on the hour: `tether schedule start
    every_five_minutes`, then `tether schedule ticks every_five_minutes`."""
    if context.scheduled_time.minute == 0:
        return SkipReason("not on the hour")
    return None


@schedule(cron="0 6 * * *", assets=[raw_numbers, even_numbers, report])
def morning_report() -> None:
    """Refresh the assets every morning at 06:00 UTC."""


defs = Definitions(
    jobs=[hello_job, broken_job, slow_job, export_job, define_asset_job("refresh_assets")],
    assets=[raw_numbers, even_numbers, report],
    schedules=[every_five_minutes, morning_report],
)
