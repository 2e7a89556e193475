"""Partitioned runs with real processes (control plane, daemons, agent, code server, run
workers), on the embedded default and on PostgreSQL + Redis: runs of a partition get their
key and store each partition apart, a downstream partition reads the previous day's too, the
status per partition follows success, failure and re-run (and survives a rebuild from the
event log), bad partitions are refused with clear errors, and a sensor adds a dynamic
partition and runs it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tether.control_plane.storage import PartitionState, Store

from .conftest import free_port
from .deployment import Deployment
from .processes import processes_with_env
from .test_end_to_end import wait_loaded, worker_events

DEFS = '''
import os
from pathlib import Path

from tether import (DailyPartitionsDefinition, Definitions, DynamicPartitionsDefinition,
                    RunRequest, SensorResult, SkipReason, StaticPartitionsDefinition,
                    TimeWindowPartitionMapping, asset, define_asset_job, job, op, sensor)

MARKERS = Path(os.environ["MARKERS"])
daily = DailyPartitionsDefinition("2026-01-01", timezone="Europe/Paris")
files = DynamicPartitionsDefinition("files")


@asset(partitions_def=daily)
def events(context) -> str:
    if (MARKERS / context.partition_key).exists():
        raise RuntimeError(f"the source of {context.partition_key} is not ready")
    start = context.partition_time_window.start.isoformat()
    print(f"events of {context.partition_key} from {start}")
    return f"events-{context.partition_key}"


@asset(partitions_def=daily,
       partition_mappings={"events": TimeWindowPartitionMapping(start_offset=-1)})
def two_days(context, events):
    print(f"two_days of {context.partition_key} read {events!r}")
    return events


@asset(partitions_def=files)
def file_rows(context) -> str:
    print(f"loaded file {context.partition_key}")
    return context.partition_key


@op
def plain() -> None:
    pass


@job
def unpartitioned() -> None:
    plain()


@op
def regional(context) -> None:
    print(f"region {context.partition_key}")


@job(partitions_def=StaticPartitionsDefinition(["eu", "us"]))
def regions() -> None:
    regional()


files_job = define_asset_job("files_job", [file_rows])


@sensor(job=files_job, minimum_interval_seconds=0.3, default_running=True)
def new_files(context):
    if context.cursor == "done":
        return SkipReason("a.csv is known already")
    return SensorResult(run_requests=[RunRequest(run_key="a.csv", partition_key="a.csv")],
                        dynamic_partitions_requests=[files.build_add_request(["a.csv"])],
                        cursor="done")


defs = Definitions(assets=[events, two_days, file_rows],
                   jobs=[define_asset_job("daily_job", [events, two_days]), unpartitioned,
                         regions, files_job],
                   sensors=[new_files])
'''

LAUNCH = """mutation($job: String!, $partition: String) {
  launchRun(jobName: $job, partition: $partition) { id partition } }"""
STATUS = """{ assets { key partitions { kind count } partitionStatus {
  total materialized failed inProgress missing failedKeys: keys(state: FAILED)
  done: keys(state: MATERIALIZED) } } }"""
RUN = """query($id: ID!) { run(id: $id) {
  id status partition events { seq type stepKey message } logs { stream data } } }"""
RUNS = """query($partition: String) { runs(partition: $partition) { id partition jobName } }"""
REEXECUTE = """mutation($id: ID!) { reexecuteRun(id: $id) { id partition } }"""


@pytest.fixture(params=["sqlite+valkey", "postgres+redis"])
def running(request: pytest.FixtureRequest, tmp_path: Path
            ) -> Iterator[tuple[Deployment, Path, str]]:
    (tmp_path / "partitioned.py").write_text(DEFS)
    markers = tmp_path / "markers"
    markers.mkdir()
    workspace = tmp_path / "workspace.toml"
    workspace.write_text('[[locations]]\nname = "parts"\npython_file = "partitioned.py"\n')
    if request.param == "sqlite+valkey":
        database_url = f"sqlite:///{tmp_path / 'tether.db'}"
        redis_url = request.getfixturevalue("broker_url")
    else:
        database_url = request.getfixturevalue("postgres_url")
        redis_url = request.getfixturevalue("system_redis_url")
    deployment = Deployment(database_url=database_url, redis_url=redis_url,
                            workspace=workspace, data_dir=tmp_path, port=free_port(),
                            env={"MARKERS": str(markers),
                                 "TETHER_DAEMON_INTERVAL_SECONDS": "0.2"})
    try:
        deployment.wait_healthy()
        wait_loaded(deployment)
        yield deployment, markers, database_url
    finally:
        codes = deployment.stop()
    assert all(code == 0 for code in codes.values()), deployment.output()
    assert processes_with_env(str(tmp_path)) == [], "processes left behind"


def ended(deployment: Deployment, run_id: str) -> dict[str, Any]:
    """The run once its worker's outcome is stored (and, for a success, its stdout)."""
    def stored() -> dict[str, Any] | None:
        run: dict[str, Any] = deployment.graphql(RUN, id=run_id)["run"]
        types = {e["type"] for e in worker_events(run)}
        if run["status"] == "FAILURE" and "RUN_FAILURE" in types:
            return run
        return run if run["status"] == "SUCCESS" and "RUN_SUCCESS" in types and run["logs"] \
            else None

    result: dict[str, Any] = deployment.wait_for(stored, what=f"run {run_id} to end")
    return result


def launch(deployment: Deployment, job: str, partition: str | None) -> dict[str, Any]:
    run = deployment.graphql(LAUNCH, job=job, partition=partition)["launchRun"]
    return ended(deployment, run["id"])


def stdout(run: dict[str, Any]) -> str:
    return "".join(chunk["data"] for chunk in run["logs"] if chunk["stream"] == "stdout")


def status(deployment: Deployment, key: str) -> dict[str, Any]:
    found: dict[str, Any] = next(a for a in deployment.graphql(STATUS)["assets"]
                                 if a["key"] == key)
    return found


def test_partitioned_runs_and_their_status(running: tuple[Deployment, Path, str]) -> None:
    deployment, markers, database_url = running
    first = launch(deployment, "daily_job", "2026-01-01")
    assert first["status"] == "SUCCESS", deployment.output()
    second = launch(deployment, "daily_job", "2026-01-02")
    assert second["status"] == "SUCCESS", deployment.output()
    assert "events of 2026-01-02 from 2026-01-02T00:00:00+01:00" in stdout(second)
    # the previous day's partition, stored by the first run, and this run's own
    assert ("two_days of 2026-01-02 read {'2026-01-01': 'events-2026-01-01', "
            "'2026-01-02': 'events-2026-01-02'}") in stdout(second)
    planned = [e for e in worker_events(second) if e["type"] == "ASSET_MATERIALIZATION"]
    assert [e["message"] for e in planned] == [
        "Materialized asset events partition 2026-01-02",
        "Materialized asset two_days partition 2026-01-02"]

    (markers / "2026-01-03").touch()
    failed = launch(deployment, "daily_job", "2026-01-03")
    assert failed["status"] == "FAILURE"
    events = status(deployment, "events")
    assert events["partitions"]["kind"] == "time_window"
    total = events["partitions"]["count"]
    assert events["partitionStatus"] == {
        "total": total, "materialized": 2, "failed": 1, "inProgress": 0,
        "missing": total - 3, "failedKeys": ["2026-01-03"],
        "done": ["2026-01-01", "2026-01-02"]}
    # the downstream step was skipped, not failed: the failed run leaves it failed too, as
    # its run planned it and ended without it
    assert status(deployment, "two_days")["partitionStatus"]["failedKeys"] == ["2026-01-03"]

    (markers / "2026-01-03").unlink()
    rerun = deployment.graphql(REEXECUTE, id=failed["id"])["reexecuteRun"]
    assert rerun["partition"] == "2026-01-03"
    assert ended(deployment, rerun["id"])["status"] == "SUCCESS", deployment.output()
    after = status(deployment, "events")["partitionStatus"]
    assert (after["materialized"], after["failed"]) == (3, 0)

    runs = deployment.graphql(RUNS, partition="2026-01-03")["runs"]
    assert {run["id"] for run in runs} == {failed["id"], rerun["id"]}
    assert {run["partition"] for run in runs} == {"2026-01-03"}

    store = Store.from_url(database_url)
    try:
        before = {key: store.asset_partition_status(key, _partitions(store, key)).states
                  for key in ("events", "two_days")}
        # the sensor's partition may be among them too
        assert store.rebuild_partition_status() >= 6
        rebuilt = {key: store.asset_partition_status(key, _partitions(store, key)).states
                   for key in ("events", "two_days")}
    finally:
        store.close()
    assert rebuilt == before
    assert list(rebuilt["events"].values()) == [PartitionState.MATERIALIZED] * 3


def _partitions(store: Store, asset_key: str) -> Any:
    [location] = store.list_locations()
    assert location.snapshot is not None
    return next(a for a in location.snapshot.assets if a.key == asset_key).partitions


def test_bad_partitions_are_refused_and_a_sensor_adds_one(
        running: tuple[Deployment, Path, str]) -> None:
    deployment, _, _ = running
    for job, partition, message in (
            ("daily_job", "2025-12-31",
             "job 'daily_job' has no partition '2025-12-31'; its partitions: daily from "
             "2026-01-01T00:00:00 (2026-01-01 to"),
            ("regions", "asia", "job 'regions' has no partition 'asia'; its partitions: "
                                "static: eu, us"),
            ("unpartitioned", "eu", "job 'unpartitioned' is not partitioned, so a run of it "
                                    "has no partition (got 'eu'); launch it without one"),
            ("regions", None, "job 'regions' is partitioned (static: eu, us); give the "
                              "partition to run")):
        with pytest.raises(AssertionError) as raised:
            deployment.graphql(LAUNCH, job=job, partition=partition)
        assert message in str(raised.value)
        assert "BAD_INPUT" in str(raised.value)

    region = launch(deployment, "regions", "us")
    assert region["status"] == "SUCCESS" and "region us" in stdout(region)

    # the sensor ticks on its own: it adds the key, then runs its partition
    def sensed() -> dict[str, Any] | None:
        runs = deployment.graphql(RUNS, partition="a.csv")["runs"]
        return runs[0] if runs else None

    run = deployment.wait_for(sensed, what="the sensor's run of partition a.csv")
    assert deployment.graphql('{ dynamicPartitions(name: "files") }') == {
        "dynamicPartitions": ["a.csv"]}
    assert run["jobName"] == "files_job"
    done = ended(deployment, run["id"])
    assert done["status"] == "SUCCESS" and "loaded file a.csv" in stdout(done)
    rows = status(deployment, "file_rows")
    assert rows["partitions"] == {"kind": "dynamic", "count": 1}
    assert rows["partitionStatus"]["done"] == ["a.csv"]
