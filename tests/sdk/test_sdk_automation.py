"""@schedule and @sensor: defined with their job, checked where they are defined, reported in
the snapshot, and evaluated one tick at a time into the runs they ask for, a skip, or the
user's error with its traceback."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tether import (
    Definitions,
    RunRequest,
    ScheduleContext,
    SensorContext,
    SkipReason,
    job,
    op,
    schedule,
    sensor,
)
from tether.errors import DefinitionError
from tether.sdk import evaluate_schedule, evaluate_sensor, snapshot_definitions
from tether.wire import RequestedRun


@op
def work() -> None:
    pass


@job
def nightly_job() -> None:
    work()


@schedule(cron="30 2 * * *", job=nightly_job, timezone="Europe/Paris")
def nightly(context: ScheduleContext) -> RunRequest | SkipReason:
    """Every night at 02:30 in Paris, except on Sundays."""
    if context.scheduled_time.weekday() == 6:
        return SkipReason("no run on Sundays")
    day = context.scheduled_time.strftime("%Y-%m-%d")
    return RunRequest(run_key=day, run_config={"day": day}, tags={"team": "data"})


@schedule(cron="*/5 * * * *", job="nightly_job")
def every_five_minutes() -> None:
    pass


@sensor(job=nightly_job, minimum_interval_seconds=5)
def new_rows(context: SensorContext):  # type: ignore[no-untyped-def]
    seen = int(context.cursor or 0)
    for row in range(seen + 1, seen + 3):
        yield RunRequest(run_key=f"row-{row}")
    context.update_cursor(str(seen + 2))


@sensor(job=nightly_job)
def broken(context: SensorContext) -> None:
    raise RuntimeError("the source is down")


DEFS = Definitions(jobs=[nightly_job], schedules=[nightly, every_five_minutes],
                   sensors=[new_rows, broken])


def _at(text: str, zone: str = "Europe/Paris") -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp()


def test_the_snapshot_reports_schedules_and_sensors() -> None:
    snapshot = snapshot_definitions(DEFS, "here")
    [first, second] = snapshot.schedules
    assert (first.name, first.job_name, first.cron, first.timezone) == (
        "nightly", "nightly_job", "30 2 * * *", "Europe/Paris")
    assert first.description.startswith("Every night")
    assert (second.name, second.timezone, second.default_running) == (
        "every_five_minutes", "UTC", False)
    assert [(s.name, s.minimum_interval_seconds) for s in snapshot.sensors] == [
        ("new_rows", 5.0), ("broken", 30.0)]


def test_a_schedule_tick_sees_its_time_in_its_timezone() -> None:
    outcome = evaluate_schedule(DEFS.schedules["nightly"], _at("2026-11-30T02:30:00"))
    assert outcome.run_requests == [RequestedRun(
        job_name="nightly_job", run_key="2026-11-30", run_config={"day": "2026-11-30"},
        tags={"team": "data"})]
    sunday = evaluate_schedule(DEFS.schedules["nightly"], _at("2026-11-29T02:30:00"))
    assert (sunday.run_requests, sunday.skip_reason) == ([], "no run on Sundays")


def test_a_schedule_whose_function_returns_nothing_asks_for_one_run() -> None:
    outcome = evaluate_schedule(DEFS.schedules["every_five_minutes"], 1_800_000_000.0)
    assert outcome.run_requests == [RequestedRun(job_name="nightly_job")]
    assert outcome.error is None


def test_a_sensor_keeps_its_cursor_between_ticks() -> None:
    first = evaluate_sensor(DEFS.sensors["new_rows"], None, None)
    assert [r.run_key for r in first.run_requests] == ["row-1", "row-2"]
    assert first.cursor == "2"
    second = evaluate_sensor(DEFS.sensors["new_rows"], first.cursor, 1.0)
    assert [r.run_key for r in second.run_requests] == ["row-3", "row-4"]
    assert second.cursor == "4"


def test_a_sensor_that_raises_reports_the_users_traceback_and_keeps_its_cursor() -> None:
    outcome = evaluate_sensor(DEFS.sensors["broken"], "7", None)
    assert outcome.error is not None
    assert (outcome.error.class_name, outcome.error.message) == (
        "RuntimeError", "the source is down")
    assert "in broken" in outcome.error.stack and "tether/sdk" not in outcome.error.stack
    assert outcome.cursor == "7" and outcome.run_requests == []


def test_a_tick_that_returns_something_else_is_an_error() -> None:
    @sensor(job=nightly_job)
    def confused() -> str:
        return "run please"

    outcome = evaluate_sensor(confused, None, None)
    assert outcome.error is not None and "got str" in outcome.error.message


@pytest.mark.parametrize(("cron", "zone", "says"), [
    ("every day", "UTC", "not a five-field cron expression"),
    ("0 0 * * * *", "UTC", "not a five-field cron expression"),
    ("0 0 * * *", "Mars/Olympus", "unknown timezone 'Mars/Olympus'"),
])
def test_a_bad_schedule_fails_where_it_is_defined(cron: str, zone: str, says: str) -> None:
    with pytest.raises(DefinitionError, match=says):
        schedule(cron=cron, job=nightly_job, timezone=zone)


def test_a_schedule_of_an_unknown_job_fails_in_definitions() -> None:
    @schedule(cron="0 * * * *", job="no_such_job")
    def orphan() -> None:
        pass

    with pytest.raises(DefinitionError, match=r"targets job 'no_such_job'.*known jobs: "
                                              r"nightly_job"):
        Definitions(jobs=[nightly_job], schedules=[orphan])
    with pytest.raises(DefinitionError, match="two schedules are named 'nightly'"):
        Definitions(jobs=[nightly_job], schedules=[nightly, nightly])


def test_a_schedule_or_sensor_can_target_an_asset_selection() -> None:
    from tether import asset

    @asset
    def raw() -> list[int]:
        return [1, 2, 3]

    @asset(deps=[raw])
    def report() -> None:
        pass

    @asset
    def unrelated() -> None:
        pass

    @schedule(cron="0 * * * *", assets=[raw, "report"])
    def refresh() -> None:
        pass

    @sensor(assets="unrelated")  # one key, not its letters
    def on_change() -> RunRequest:
        return RunRequest(run_key="once")

    defs = Definitions(assets=[raw, report, unrelated], schedules=[refresh],
                       sensors=[on_change])
    made = defs.get_job("refresh_assets")
    assert [node.asset_key for node in made.nodes] == ["raw", "report"]
    assert defs.get_job("on_change_assets").nodes[0].asset_key == "unrelated"
    [request] = evaluate_schedule(defs.schedules["refresh"], 1_800_000_000.0).run_requests
    assert request.job_name == "refresh_assets"
    snapshot = snapshot_definitions(defs, "here")
    assert snapshot.schedules[0].job_name == "refresh_assets"
    assert snapshot.job("refresh_assets") is not None

    with pytest.raises(DefinitionError, match="exactly one of job= and assets="):
        schedule(cron="0 * * * *", job=nightly_job, assets=[raw])(lambda: None)
    with pytest.raises(DefinitionError, match="exactly one of job= and assets="):
        sensor()(lambda: None)
