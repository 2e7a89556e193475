"""`tether run launch --partition`, `tether run list --partition` and `tether partitions`
against a real control plane (the location's snapshot loaded through the store)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tether import Definitions, StaticPartitionsDefinition, job, op
from tether.control_plane.storage import Store
from tether.sdk import snapshot_definitions

from ..conftest import free_port
from ..control_plane.conftest import load_location
from ..deployment import Deployment


@pytest.fixture
def control_plane(tmp_path: Path, broker_url: str) -> Iterator[tuple[Deployment, Store]]:
    workspace = tmp_path / "workspace.toml"
    workspace.write_text("locations = []\n")
    database_url = f"sqlite:///{tmp_path / 'tether.db'}"
    deployment = Deployment(database_url=database_url, redis_url=broker_url,
                            workspace=workspace, data_dir=tmp_path, port=free_port(),
                            processes=("control-plane",))
    store = Store.from_url(database_url)

    @op
    def work() -> None:
        pass

    @job(partitions_def=StaticPartitionsDefinition(["eu", "us"]))
    def regions() -> None:
        work()

    try:
        deployment.wait_healthy()
        load_location(store, "parts", defines=snapshot_definitions(
            Definitions(jobs=[regions]), "parts"))
        yield deployment, store
    finally:
        store.close()
        deployment.stop()


def tether(deployment: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tether", *args], capture_output=True,
                          text=True, timeout=60,
                          env={**deployment.env, "TETHER_TOKEN": deployment.user_token})


def test_launch_and_list_runs_of_a_partition(control_plane: tuple[Deployment, Store]) -> None:
    deployment, store = control_plane
    launched = tether(deployment, "run", "launch", "regions", "--partition", "us")
    assert launched.returncode == 0, launched.stderr
    assert " of regions partition us (QUEUED)" in launched.stdout
    [run] = store.list_runs()
    assert run.partition == "us"
    refused = tether(deployment, "run", "launch", "regions", "--partition", "asia")
    assert refused.returncode == 1
    assert ("error: job 'regions' has no partition 'asia'; its partitions: static: eu, us"
            in refused.stderr)
    missing = tether(deployment, "run", "launch", "regions")
    assert "give the partition to run" in missing.stderr
    tether(deployment, "run", "launch", "regions", "--partition", "eu")
    listed = tether(deployment, "run", "list", "--partition", "us")
    assert run.run_id in listed.stdout and listed.stdout.count("regions") == 1
    assert listed.stdout.splitlines()[1].endswith(" us")


def test_dynamic_partitions_are_added_listed_and_deleted(
        control_plane: tuple[Deployment, Store]) -> None:
    deployment, store = control_plane
    added = tether(deployment, "partitions", "add", "files", "a.csv", "b.csv")
    assert added.stdout.strip() == "added 2 key(s) to files: a.csv, b.csv"
    again = tether(deployment, "partitions", "add", "files", "a.csv")
    assert again.stdout.strip() == "added 0 key(s) to files (all were there already)"
    assert tether(deployment, "partitions", "list", "files").stdout.split() == [
        "a.csv", "b.csv"]
    bad = tether(deployment, "partitions", "add", "files", "x|y")
    assert bad.returncode == 1 and "is not a usable key" in bad.stderr
    assert tether(deployment, "partitions", "delete", "files", "a.csv").stdout.strip() == (
        "deleted 1 key(s) from files")
    assert store.dynamic_partitions("files") == ["b.csv"]
