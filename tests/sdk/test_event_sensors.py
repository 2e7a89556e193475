"""@run_status_sensor, @run_failure_sensor, @asset_sensor and @multi_asset_sensor: checked
where they are defined, reported in the snapshot with what they watch, and evaluated over a
tick's news: the user's function per run or materialization (or per tick), run keys made of
what they react to, and the cursor moved past the news only when the function succeeds."""

from __future__ import annotations

import pytest

from tether import (
    Definitions,
    RunRequest,
    SkipReason,
    asset,
    asset_sensor,
    job,
    multi_asset_sensor,
    op,
    run_failure_sensor,
    run_status_sensor,
)
from tether.errors import DefinitionError
from tether.sdk import evaluate_sensor, snapshot_definitions
from tether.wire import ErrorInfo, MaterializationRecord, RunStatusChange


@op
def work() -> None:
    pass


@job
def nightly_job() -> None:
    work()


@job
def cleanup_job() -> None:
    work()


@asset
def orders() -> int:
    return 1


def _failure(event_id: int, run_id: str) -> RunStatusChange:
    return RunStatusChange(event_id=event_id, run_id=run_id, job_name="nightly_job",
                           location="here", status="FAILURE", timestamp=1.0,
                           error=ErrorInfo(class_name="OSError", message="disk full"))


def test_a_run_failure_sensor_is_called_per_failed_run_with_run_keys_of_its_own() -> None:
    @run_failure_sensor(job=cleanup_job, monitored_jobs=[nightly_job])
    def on_failure(context):
        if context.run.run_id == "r2":
            return SkipReason("r2 is known to fail")
        return RunRequest(tags={"failed": context.run.run_id, "why": context.error.message})

    defs = Definitions(jobs=[nightly_job, cleanup_job], sensors=[on_failure])
    [snapshot] = snapshot_definitions(defs, "here").sensors
    assert (snapshot.sensor_type, snapshot.run_statuses, snapshot.monitored_jobs) == (
        "run_status", ["FAILURE"], ["nightly_job"])

    outcome = evaluate_sensor(on_failure, "10", None,
                              run_changes=[_failure(11, "r1"), _failure(12, "r2"),
                                           _failure(13, "r3")], events_until=20)
    assert [(r.run_key, r.tags["failed"], r.tags["why"]) for r in outcome.run_requests] == [
        ("r1:FAILURE", "r1", "disk full"), ("r3:FAILURE", "r3", "disk full")]
    assert outcome.cursor == "20" and outcome.error is None

    quiet = evaluate_sensor(on_failure, "20", None, events_until=25)
    assert quiet.run_requests == [] and quiet.skip_reason == "nothing new"
    assert quiet.cursor == "25"


def test_a_sensor_that_raises_keeps_its_cursor_so_the_news_comes_again() -> None:
    @run_status_sensor(run_status=["SUCCESS", "FAILURE"], job=cleanup_job)
    def broken(context):
        raise KeyError("oops")

    outcome = evaluate_sensor(broken, "10", None, run_changes=[_failure(11, "r1")],
                              events_until=20)
    assert outcome.error is not None and outcome.error.class_name == "KeyError"
    assert outcome.cursor == "10"


def test_asset_sensors_fire_per_materialization_or_per_tick() -> None:
    news = [MaterializationRecord(event_id=event_id, asset_key="orders", run_id=run_id,
                                  timestamp=1.0) for event_id, run_id in ((5, "a"), (9, "b"))]

    @asset_sensor(asset_key=orders, job=cleanup_job)
    def each(context, materialization):
        return RunRequest(tags={"from": materialization.run_id})

    @multi_asset_sensor(monitored_assets=["orders", "customers"], job=cleanup_job)
    def batch(context):
        latest = context.latest_materialization_by_key()
        assert latest["customers"] is None
        return RunRequest(tags={"count": str(len(context.materializations)),
                                "latest": latest["orders"].run_id})

    assert each.snapshot.sensor_type == "asset" and each.snapshot.asset_keys == ["orders"]
    assert batch.snapshot.sensor_type == "multi_asset"
    per_event = evaluate_sensor(each, "4", None, materializations=news, events_until=9)
    assert [(r.run_key, r.tags["from"]) for r in per_event.run_requests] == [
        ("materialization-5", "a"), ("materialization-9", "b")]
    per_tick = evaluate_sensor(batch, "4", None, materializations=news, events_until=9)
    [request] = per_tick.run_requests
    assert (request.run_key, request.tags) == ("materializations-9",
                                               {"count": "2", "latest": "b"})
    assert per_tick.cursor == "9"


def test_bad_definitions_are_refused_naming_what_is_allowed() -> None:
    with pytest.raises(DefinitionError, match="run_status takes SUCCESS, FAILURE, CANCELED"):
        run_status_sensor(run_status="EXPLODED", job=cleanup_job)
    with pytest.raises(DefinitionError, match="give monitored_assets"):
        multi_asset_sensor(monitored_assets=[], job=cleanup_job)
    with pytest.raises(DefinitionError, match="give exactly one of job= and assets="):
        run_failure_sensor()(lambda context: None)
