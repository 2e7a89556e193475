"""The Dagster projects of ``examples/from_dagster`` (``import tether.dagster as dg``) on a
real deployment, on the embedded default and on PostgreSQL + Redis: both code locations
load; the quickstart's asset job and the partitioned project's jobs run; their schedules
tick (``tether schedule tick`` evaluates a stopped schedule once, as due at last midnight,
and launches the run it asks for); the sensor that was declared ``default_status=RUNNING``
ticks on its own and runs the day whose corrected orders arrive."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ..deployment import (
    ENDED,
    RUN,
    Deployment,
    databases,
    deployed,
    outcomes,
    run_to_end,
    wait_loaded,
    worker_events,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "from_dagster"

AUTOMATIONS = """query($kind: String!) { automations(kind: $kind) { name location running
    jobName cron ticks(limit: 20) { status scheduledTime runIds skipReason error } } }"""
LAUNCH = """mutation($job: String!, $config: JSON, $partition: String) {
    launchRun(jobName: $job, runConfig: $config, partition: $partition) { id } }"""
ASSETS = """{ assets { key kinds groupName metadata { label kind text }
    latestMaterialization { metadata { label kind text } } } }"""
RUNS = "{ runs(limit: 100) { id status partition jobName tags } }"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the example: its assets write data/ into its working directory."""
    copy = tmp_path / "from_dagster"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__", "data"))
    (copy / "inbox").mkdir()
    return copy


@pytest.fixture(params=["sqlite+valkey", "postgres+redis"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    return databases(request, request.param, tmp_path)


@pytest.fixture
def running(project: Path, tmp_path: Path, database_url: tuple[str, str]
            ) -> Iterator[Deployment]:
    database, broker = database_url
    with deployed(redis_url=broker, database_url=database, workspace=project / "workspace.toml",
                  data_dir=tmp_path, env={"TETHER_DAEMON_INTERVAL_SECONDS": "0.2"}
                  ) as deployment:
        wait_loaded(deployment, count=2)
        yield deployment


def _automation(deployment: Deployment, kind: str, name: str) -> dict[str, Any]:
    found = [a for a in deployment.graphql(AUTOMATIONS, kind=kind)["automations"]
             if a["name"] == name]
    assert found, f"no {kind} {name}"
    return found[0]


def _tick_now(deployment: Deployment, name: str) -> dict[str, Any]:
    """Tick the stopped daily schedule ``name`` as due at last midnight (UTC), through
    ``tether schedule tick``, and return the run the tick created, once it ended."""
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    done = deployment.cli("schedule", "tick", name, "--time", midnight.isoformat())
    assert done.returncode == 0, done.stderr
    assert f"schedule {name}: tick " in done.stdout and "is EVALUATING" in done.stdout
    tick = deployment.wait_for(
        lambda: next((t for t in _automation(deployment, "schedule", name)["ticks"]
                      if t["status"] != "EVALUATING"), None),
        what=f"a tick of {name}")
    assert tick["status"] == "SUCCESS", tick
    assert tick["scheduledTime"] == midnight.timestamp()
    [run_id] = tick["runIds"]
    assert not _automation(deployment, "schedule", name)["running"]
    return ended(deployment, run_id)


def ended(deployment: Deployment, run_id: str) -> dict[str, Any]:
    """The run once it ended and its worker's end event is stored (these steps print
    nothing, so there is no stdout to wait for)."""
    def stored() -> dict[str, Any] | None:
        run: dict[str, Any] = deployment.graphql(RUN, id=run_id)["run"]
        types = {e["type"] for e in worker_events(run)}
        return run if run["status"] in ENDED and types & {"RUN_SUCCESS", "RUN_FAILURE"} \
            else None

    return deployment.wait_for(stored, what=f"run {run_id} to end")


def _log_lines(run: dict[str, Any]) -> list[str]:
    return [e["message"] for e in worker_events(run) if e["type"] == "LOG_MESSAGE"]


@pytest.mark.timeout(180)
def test_the_quickstart_etl_port_runs_its_asset_job_and_its_schedule(
        running: Deployment, project: Path) -> None:
    schedule = _automation(running, "schedule", "all_assets_job_schedule")
    assert (schedule["cron"], schedule["jobName"], schedule["running"]) == (
        "0 0 * * *", "all_assets_job", False)

    run = run_to_end(running, "all_assets_job")
    assert run["status"] == "SUCCESS", run["error"]
    steps = outcomes(run)
    assert {steps[s] for s in ("topstory_ids", "topstories", "most_frequent_words")} == {
        "STEP_SUCCESS"}
    assert "Got 100 items so far." in _log_lines(run)
    # the words counted are those of the stories' titles (the port's stand-in for the API)
    items = json.loads((project / "quickstart_etl/defs/hackernews_items.json").read_text())
    stop = {"a", "the", "an", "of", "to", "in", "for", "and", "with", "on", "is"}
    punctuation = ".,-!?:;()[]'\"-"  # a set of characters, stripped as the example does
    words = Counter(w for item in items[:100] for w in
                    (raw.strip(punctuation) for raw in item["title"].lower().split())
                    if w and w not in stop)
    counted = json.loads((project / "data/most_frequent_words.json").read_text())
    assert counted == dict(sorted(words.items(), key=lambda x: x[1], reverse=True)[:25])

    assets = {a["key"]: a for a in running.graphql(ASSETS)["assets"]}
    assert assets["topstories"]["kinds"] == ["HackerNews API"]
    assert assets["topstories"]["groupName"] == "hackernews"
    metadata = {m["label"]: m for m in assets["topstories"]["latestMaterialization"]["metadata"]}
    assert metadata["num_records"]["text"] == "100"
    assert metadata["preview"]["kind"] == "markdown"

    scheduled = _tick_now(running, "all_assets_job_schedule")
    assert scheduled["status"] == "SUCCESS"
    assert outcomes(scheduled)["most_frequent_words"] == "STEP_SUCCESS"


@pytest.mark.timeout(180)
def test_the_partitioned_project_runs_its_days_its_schedule_and_its_sensor(
        running: Deployment, project: Path) -> None:
    launched = running.graphql(LAUNCH, job="daily_sales_job", partition="2026-11-05")
    run = ended(running, launched["launchRun"]["id"])
    assert run["status"] == "SUCCESS", run["error"]
    assert set(outcomes(run).values()) == {"STEP_SUCCESS"}
    assert "20 orders on 2026-11-05" in _log_lines(run)
    # @asset(metadata=...): the definition's metadata, typed, beside what runs report
    revenue = next(a for a in running.graphql(ASSETS)["assets"] if a["key"] == "revenue")
    assert revenue["metadata"] == [
        {"label": "currency", "kind": "text", "text": "EUR"},
        {"label": "regions", "kind": "json", "text": '["eu","us","apac"]'}]

    # op(config_schema=...): checked at launch, its default filled in for context.op_config
    report = ended(running, running.graphql(
        LAUNCH, job="report_job", config={"ops": {"regions_report": {
            "config": {"title": "Sales"}}}})["launchRun"]["id"])
    assert report["status"] == "SUCCESS"
    assert "Sales: top 2 of eu, us, apac" in _log_lines(report)
    assert report["tags"]["team"] == "sales"
    refused = running.http.post("/graphql", json={"query": LAUNCH, "variables": {
        "job": "report_job", "config": {"ops": {"regions_report": {"config": {"top": 1}}}}}})
    [error] = refused.json()["errors"]
    assert "$.ops.regions_report.config.title: missing required field" in error["message"]

    # the sensor was declared RUNNING: it ticks without being started
    sensor = _automation(running, "sensor", "corrected_orders")
    assert sensor["running"] is True
    running.wait_for(lambda: any(t["skipReason"] == "no corrected orders after None"
                                 for t in _automation(running, "sensor",
                                                      "corrected_orders")["ticks"]),
                     what="the sensor's first tick")
    (project / "inbox" / "2026-11-07.csv").write_text("eu,10.5\nus,4\n")

    def corrected() -> dict[str, Any] | None:
        runs = [r for r in running.graphql(RUNS)["runs"]
                if r["tags"].get("tether/sensor") == "corrected_orders"]
        return runs[0] if runs and runs[0]["status"] == "SUCCESS" else None

    sensed = running.wait_for(corrected, what="the corrected day's run")
    assert sensed["partition"] == "2026-11-07"
    assert "2 orders on 2026-11-07" in _log_lines(running.graphql(RUN, id=sensed["id"])["run"])

    # the partitioned schedule runs the day that ended last
    scheduled = _tick_now(running, "daily_sales_job_schedule")
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%d")
    assert scheduled["status"] == "SUCCESS"
    assert f"20 orders on {yesterday}" in _log_lines(scheduled)
