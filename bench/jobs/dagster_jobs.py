"""The benchmark's jobs for Dagster; ``tether_jobs.py`` defines the same ones for Tether, line
for line, so the two sides of ``dagster_side_by_side.py`` execute the same user code."""

from dagster import DailyPartitionsDefinition, Definitions, OpExecutionContext, job, op

# lines ``emit`` logs
LINES = 10_000
# leaves of ``fan_out``: with its source, 50 ops
LEAVES = 49


@op
def source() -> int:
    return 1


@op
def leaf(value: int) -> int:
    return value


@op
def emit(context: OpExecutionContext) -> None:
    for line in range(LINES):
        context.log.info(f"row {line} processed")


@job
def one_op() -> None:
    source()


@job
def fan_out() -> None:
    value = source()
    for _ in range(LEAVES):
        leaf(value)


@job
def log_lines() -> None:
    emit()


# a backfill runs one_op's op for each day
@job(partitions_def=DailyPartitionsDefinition("2024-01-01"))
def daily() -> None:
    source()


defs = Definitions(jobs=[one_op, fan_out, log_lines, daily])
