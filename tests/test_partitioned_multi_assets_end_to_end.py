"""Partitioned multi-assets and graph assets, and dynamic partitions, with real processes
(control plane, daemons, agent, code server, run workers), on the embedded default and on
PostgreSQL + Redis: a run of one partition reaches every asset a multi-asset or a graph asset
makes (``context.partition_key`` in each step), each asset's status is recorded per
partition, and their inputs read upstream partitions through their partition mappings; a
dynamic-partitioned asset reads its dynamic-partitioned upstream through the identity
mapping, the keys travelling with the run's launch."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tether.control_plane.storage import Store
from tether.wire import TimeWindowMapping, TimeWindowPartitions

from .conftest import free_port
from .deployment import Deployment
from .processes import processes_with_env
from .test_end_to_end import wait_loaded, worker_events
from .test_partitions_end_to_end import STATUS, launch, stdout

DEFS = '''
from tether import (AssetOut, AssetSelection, DailyPartitionsDefinition, Definitions,
                    DynamicPartitionsDefinition, TimeWindowPartitionMapping, asset,
                    define_asset_job, graph_asset, multi_asset, op)

daily = DailyPartitionsDefinition("2026-01-01", timezone="Europe/Paris")
files = DynamicPartitionsDefinition("files")


@asset(partitions_def=daily, group_name="daily")
def events(context) -> str:
    return f"events-{context.partition_key}"


@multi_asset(outs={"clicks": AssetOut(), "views": AssetOut()}, partitions_def=daily,
             partition_mappings={"events": TimeWindowPartitionMapping(start_offset=-1)},
             group_name="daily")
def split(context, events):
    print(f"split of {context.partition_key} read {events!r}")
    return f"clicks-{context.partition_key}", f"views-{context.partition_key}"


@op
def shout(context, views):
    print(f"shout of {context.partition_key} read {views!r}")
    # one partition is its value; several a dict of them by key (the first day has one)
    return (views.upper() if isinstance(views, str)
            else {day: value.upper() for day, value in views.items()})


@graph_asset(partitions_def=daily, group_name="daily",
             partition_mappings={"views": TimeWindowPartitionMapping(start_offset=-1)})
def loud(views):
    return shout(views)


@asset(partitions_def=daily, group_name="daily")
def report(context, clicks, loud) -> str:
    print(f"report of {context.partition_key}: {clicks} {loud}")
    return "ok"


@asset(partitions_def=files, group_name="files")
def raw_file(context) -> str:
    print(f"raw file {context.partition_key}")
    return f"rows of {context.partition_key}"


@asset(partitions_def=files, group_name="files")
def parsed_file(context, raw_file) -> str:
    print(f"parsed file {context.partition_key} from {raw_file!r}")
    return raw_file.upper()


@asset(group_name="totals")
def files_seen(raw_file) -> list[str]:
    # unpartitioned: it reads every partition of its dynamic upstream
    print(f"files seen: {sorted(raw_file)}")
    return sorted(raw_file)


defs = Definitions(
    assets=[events, split, loud, report, raw_file, parsed_file, files_seen],
    jobs=[define_asset_job("daily_job", AssetSelection.groups("daily")),
          define_asset_job("files_job", AssetSelection.groups("files")),
          define_asset_job("totals_job", AssetSelection.groups("totals"))])
'''

@pytest.fixture(params=["sqlite+valkey", "postgres+redis"])
def running(request: pytest.FixtureRequest, tmp_path: Path
            ) -> Iterator[tuple[Deployment, str]]:
    (tmp_path / "parts.py").write_text(DEFS)
    workspace = tmp_path / "workspace.toml"
    workspace.write_text('[[locations]]\nname = "parts"\npython_file = "parts.py"\n')
    if request.param == "sqlite+valkey":
        database_url = f"sqlite:///{tmp_path / 'tether.db'}"
        redis_url = request.getfixturevalue("broker_url")
    else:
        database_url = request.getfixturevalue("postgres_url")
        redis_url = request.getfixturevalue("system_redis_url")
    deployment = Deployment(database_url=database_url, redis_url=redis_url,
                            workspace=workspace, data_dir=tmp_path, port=free_port())
    try:
        deployment.wait_healthy()
        wait_loaded(deployment)
        yield deployment, database_url
    finally:
        codes = deployment.stop()
    assert all(code == 0 for code in codes.values()), deployment.output()
    assert processes_with_env(str(tmp_path)) == [], "processes left behind"


def _status(deployment: Deployment) -> dict[str, Any]:
    return {asset["key"]: asset["partitionStatus"]
            for asset in deployment.graphql(STATUS)["assets"]}


def test_a_partition_reaches_every_asset_of_a_multi_asset_and_a_graph_asset(
        running: tuple[Deployment, str]) -> None:
    deployment, database_url = running
    first = launch(deployment, "daily_job", "2026-01-01")
    assert first["status"] == "SUCCESS", deployment.output()
    second = launch(deployment, "daily_job", "2026-01-02")
    assert second["status"] == "SUCCESS", deployment.output()
    out = stdout(second)
    # the multi-asset's step and the graph's op run for the run's partition, and read the
    # previous day's upstream partition too, through their mappings
    assert ("split of 2026-01-02 read {'2026-01-01': 'events-2026-01-01', "
            "'2026-01-02': 'events-2026-01-02'}") in out
    assert ("shout of 2026-01-02 read {'2026-01-01': 'views-2026-01-01', "
            "'2026-01-02': 'views-2026-01-02'}") in out
    assert ("report of 2026-01-02: clicks-2026-01-02 {'2026-01-01': 'VIEWS-2026-01-01', "
            "'2026-01-02': 'VIEWS-2026-01-02'}") in out
    made = [e["message"] for e in worker_events(second) if e["type"] == "ASSET_MATERIALIZATION"]
    assert sorted(made) == sorted(f"Materialized asset {key} partition 2026-01-02"
                                  for key in ("events", "clicks", "views", "loud", "report"))
    status = _status(deployment)
    for key in ("clicks", "views", "loud", "report"):
        assert (status[key]["materialized"], status[key]["done"]) == (
            2, ["2026-01-01", "2026-01-02"]), key
    # the stored snapshot carries the multi-asset's and the graph asset's partitions and
    # their mappings
    store = Store.from_url(database_url)
    try:
        [location] = store.list_locations()
    finally:
        store.close()
    assert location.snapshot is not None
    assets = {asset.key: asset for asset in location.snapshot.assets}
    for key in ("clicks", "views", "loud"):
        assert isinstance(assets[key].partitions, TimeWindowPartitions), key
    for key, upstream in (("clicks", "events"), ("views", "events"), ("loud", "views")):
        mapping = assets[key].partition_mappings[upstream]
        assert isinstance(mapping, TimeWindowMapping) and mapping.start_offset == -1, key


ADD = "mutation($keys: [String!]!) { addDynamicPartitions(name: \"files\", keys: $keys) }"


def test_a_dynamic_partition_reads_its_dynamic_upstream_through_the_identity_mapping(
        running: tuple[Deployment, str]) -> None:
    deployment, _ = running
    deployment.graphql(ADD, keys=["a.csv", "b.csv"])
    run = launch(deployment, "files_job", "b.csv")
    assert run["status"] == "SUCCESS", deployment.output()
    assert "raw file b.csv" in stdout(run)
    assert "parsed file b.csv from 'rows of b.csv'" in stdout(run)
    status = _status(deployment)
    assert (status["raw_file"]["done"], status["parsed_file"]["done"]) == (["b.csv"], ["b.csv"])
    # a key added later reaches the runs launched after it
    deployment.graphql(ADD, keys=["c.csv"])
    later = launch(deployment, "files_job", "c.csv")
    assert later["status"] == "SUCCESS", deployment.output()
    assert "parsed file c.csv from 'rows of c.csv'" in stdout(later)
    # a mapping that enumerates the keys (every partition, for an unpartitioned asset) reads
    # those the launch carried: a.csv, deleted, is not among them
    deployment.graphql('mutation { deleteDynamicPartitions(name: "files", keys: ["a.csv"]) }')
    totals = launch(deployment, "totals_job", None)
    assert totals["status"] == "SUCCESS", deployment.output()
    assert "files seen: ['b.csv', 'c.csv']" in stdout(totals)
