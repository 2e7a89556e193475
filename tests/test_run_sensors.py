"""Sensors on runs and assets, end to end with real processes: the control plane hands each
tick the runs that failed, or the materializations, since the sensor's cursor; the
location's code server calls the user's function. A run-failure sensor launches a cleanup
job for each failure of the job it watches (not of others), and an asset sensor and a
multi-asset sensor fire once per materialization however many ticks follow."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import free_port
from .deployment import Deployment

DEFS = '''
from tether import (Definitions, RunRequest, asset, asset_sensor, define_asset_job, job,
                    multi_asset_sensor, op, run_failure_sensor)


@op
def explode() -> None:
    raise RuntimeError("disk full")


@job
def nightly_job() -> None:
    explode()


@job
def unwatched_job() -> None:
    explode()


@op
def clean_up() -> None:
    pass


@job
def cleanup_job() -> None:
    clean_up()


@op
def report() -> None:
    pass


@job
def report_job() -> None:
    report()


@asset
def orders() -> int:
    return 3


orders_job = define_asset_job("orders_job", [orders])


@run_failure_sensor(job=cleanup_job, monitored_jobs=[nightly_job], default_running=True,
                    minimum_interval_seconds=0.3)
def on_nightly_failure(context):
    return RunRequest(tags={"failed_run": context.run.run_id,
                            "reason": context.error.message})


@asset_sensor(asset_key="orders", job=report_job, default_running=True,
              minimum_interval_seconds=0.3)
def on_orders(context, materialization):
    return RunRequest(tags={"orders_run": materialization.run_id})


@multi_asset_sensor(monitored_assets=[orders], job=report_job, default_running=True,
                    minimum_interval_seconds=0.3)
def on_any_orders(context):
    latest = context.latest_materialization_by_key()["orders"]
    return RunRequest(tags={"batch_of": str(len(context.materializations)),
                            "latest_orders_run": latest.run_id})


defs = Definitions(jobs=[nightly_job, unwatched_job, cleanup_job, report_job, orders_job],
                   assets=[orders], sensors=[on_nightly_failure, on_orders, on_any_orders])
'''

LAUNCH = 'mutation($job: String!) { launchRun(jobName: $job) { id } }'
RUNS = "{ runs(limit: 100) { id jobName status tags } }"
SENSORS = '''{ automations(kind: "sensor") { name cursor watches
    ticks(limit: 50) { status error } } }'''


@pytest.fixture
def deployment(tmp_path: Path, broker_url: str) -> Iterator[Deployment]:
    (tmp_path / "watch_defs.py").write_text(DEFS)
    workspace = tmp_path / "workspace.toml"
    workspace.write_text('[[locations]]\nname = "watch"\npython_file = "watch_defs.py"\n')
    running = Deployment(
        database_url=f"sqlite:///{tmp_path / 'tether.db'}", redis_url=broker_url,
        workspace=workspace, data_dir=tmp_path, port=free_port(),
        env={"TETHER_DAEMON_INTERVAL_SECONDS": "0.2", "TETHER_RUN_LAUNCHER": "warm"})
    try:
        running.wait_healthy()
        running.wait_for(lambda: running.graphql("{ codeLocations { status } }")[
            "codeLocations"][0]["status"] == "LOADED", what="location loaded")
        yield running
    finally:
        running.stop()


def _runs(running: Deployment, job: str) -> list[dict[str, Any]]:
    return [run for run in running.graphql(RUNS)["runs"] if run["jobName"] == job]


def _ended(running: Deployment, run_id: str) -> bool:
    return any(run["id"] == run_id and run["status"] in ("SUCCESS", "FAILURE")
               for run in running.graphql(RUNS)["runs"])


@pytest.mark.timeout(150)
def test_a_failure_sensor_launches_a_job_and_asset_sensors_fire_once_per_materialization(
        deployment: Deployment) -> None:
    # each sensor's first tick sets its cursor at the newest event: history is not news
    deployment.wait_for(lambda: all(s["cursor"] for s in deployment.graphql(SENSORS)[
        "automations"]), what="every sensor's first tick")

    failed = deployment.graphql(LAUNCH, job="nightly_job")["launchRun"]["id"]
    unwatched = deployment.graphql(LAUNCH, job="unwatched_job")["launchRun"]["id"]
    materialized = []
    for _ in range(2):
        run_id = deployment.graphql(LAUNCH, job="orders_job")["launchRun"]["id"]
        deployment.wait_for(lambda run_id=run_id: _ended(deployment, run_id),
                            what="an orders run")
        materialized.append(run_id)
    deployment.wait_for(lambda: _ended(deployment, failed) and _ended(deployment, unwatched),
                        what="the failing runs")

    cleanup = deployment.wait_for(
        lambda: (runs := _runs(deployment, "cleanup_job")) and all(
            run["status"] == "SUCCESS" for run in runs) and runs, what="the cleanup run")
    reports = deployment.wait_for(
        lambda: (runs := [r for r in _runs(deployment, "report_job")
                          if "orders_run" in r["tags"]]) and len(runs) == 2 and runs,
        what="a report per materialization")
    time.sleep(3)  # ten more ticks of each sensor: nothing is news twice

    cleanup = _runs(deployment, "cleanup_job")
    assert [(run["tags"]["failed_run"], run["tags"]["reason"]) for run in cleanup] == [
        (failed, "disk full")]
    assert cleanup[0]["tags"]["tether/sensor"] == "on_nightly_failure"
    reports = _runs(deployment, "report_job")
    per_materialization = sorted(run["tags"]["orders_run"] for run in reports
                                 if "orders_run" in run["tags"])
    assert per_materialization == sorted(materialized)
    batched = [run["tags"] for run in reports if "batch_of" in run["tags"]]
    # the multi-asset sensor saw both, in one tick or in two
    assert sum(int(tags["batch_of"]) for tags in batched) == 2
    assert batched[0]["latest_orders_run"] == materialized[-1]
    sensors = deployment.graphql(SENSORS)["automations"]
    assert {s["name"]: s["watches"] for s in sensors} == {
        "on_nightly_failure": "runs of nightly_job that end FAILURE",
        "on_orders": "materializations of orders",
        "on_any_orders": "materializations of orders"}
    for sensor in sensors:
        assert not [t["error"] for t in sensor["ticks"] if t["status"] == "FAILURE"]
