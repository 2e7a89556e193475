"""Backfills with real processes (control plane, daemons, agent, code server, run workers), on
the embedded default and on PostgreSQL + Redis: 365 daily partitions run once each although
the daemons are killed (SIGKILL) mid-way; the run queue's limit throttles a backfill's runs and
a cancel stops them; failed partitions re-run as a linked backfill; an asset backfill
materializes its partitions (as the per-partition status says); bad input is refused with
what is allowed; the CLI launches, waits with progress, lists, shows and cancels."""

from __future__ import annotations

import os
import re
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .deployment import Deployment, databases, deployed, one_location, wait_loaded

DEFS = '''
import os
import time
from pathlib import Path

from tether import (DailyPartitionsDefinition, Definitions, StaticPartitionsDefinition,
                    asset, define_asset_job, job, op)

MARKERS = Path(os.environ["MARKERS"])
daily = DailyPartitionsDefinition("2025-01-01")


@op
def load(context) -> None:
    if (MARKERS / context.partition_key).exists():
        raise RuntimeError(f"the source of {context.partition_key} is not ready")
    print(f"loaded {context.partition_key}")


@job(partitions_def=daily)
def daily_load() -> None:
    load()


@op
def wait_for_release(context) -> None:
    deadline = time.monotonic() + 120
    while not (MARKERS / "release").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


@job(partitions_def=StaticPartitionsDefinition([f"r{n}" for n in range(10)]))
def slow() -> None:
    wait_for_release()


@op
def plain_op() -> None:
    pass


@job
def plain() -> None:
    plain_op()


@asset(partitions_def=daily)
def sales(context) -> str:
    return f"sales of {context.partition_key}"


defs = Definitions(assets=[sales], jobs=[daily_load, slow, plain,
                                         define_asset_job("sales_job", [sales])])
'''

FIELDS = """id status partitionCount partitionRange progress failedPartitions parentId
  counts { status count }"""
LAUNCH = f"""mutation($job: String, $assets: [String!], $from: String, $to: String,
                      $partitions: [String!], $location: String) {{
  launchBackfill(jobName: $job, assetSelection: $assets, from: $from, to: $to,
                 partitions: $partitions, location: $location) {{ {FIELDS} }} }}"""
BACKFILL = f"""query($id: ID!) {{ backfill(id: $id) {{ {FIELDS}
  runs(limit: 1000) {{ id status partition }} }} }}"""
CANCEL = f"mutation($id: ID!) {{ cancelBackfill(id: $id) {{ {FIELDS} }} }}"
STATUS = """{ assets { key partitionStatus { materialized
  done: keys(state: MATERIALIZED, limit: 1000) } } }"""


@pytest.fixture(params=["sqlite+valkey", "postgres+redis"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _workspace(tmp_path: Path) -> tuple[Path, Path]:
    markers = tmp_path / "markers"
    markers.mkdir()
    return one_location(tmp_path, "parts", DEFS), markers


@pytest.fixture
def limited(request: pytest.FixtureRequest, kind: str, tmp_path: Path
            ) -> Iterator[tuple[Deployment, Path]]:
    """A deployment whose run queue runs at most 3 runs at once."""
    workspace, markers = _workspace(tmp_path)
    database_url, redis_url = databases(request, kind, tmp_path)
    with deployed(data_dir=tmp_path, redis_url=redis_url, database_url=database_url,
                  workspace=workspace,
                  env={"MARKERS": str(markers), "TETHER_DAEMON_INTERVAL_SECONDS": "0.2",
                       "TETHER_MAX_CONCURRENT_RUNS": "3", "TETHER_RUN_LAUNCHER": "warm"}
                  ) as deployment:
        wait_loaded(deployment)
        yield deployment, markers


def _backfill(deployment: Deployment, backfill_id: str) -> dict[str, Any]:
    found: dict[str, Any] = deployment.graphql(BACKFILL, id=backfill_id)["backfill"]
    return found


def _ended(deployment: Deployment, backfill_id: str, timeout: float = 120
           ) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        backfill = _backfill(deployment, backfill_id)
        return backfill if backfill["status"] in ("COMPLETED", "FAILED", "CANCELED") else None

    return deployment.wait_for(ended, timeout=timeout, what=f"backfill {backfill_id} to end")


def _counts(backfill: dict[str, Any]) -> dict[str, int]:
    return {count["status"]: count["count"] for count in backfill["counts"]}


def test_365_partitions_run_once_each_though_the_daemons_are_killed_mid_way(
        request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> None:
    workspace, markers = _workspace(tmp_path)
    database_url, redis_url = databases(request, kind, tmp_path)
    # small batches, so that the daemon is killed between two of them
    with deployed(data_dir=tmp_path, redis_url=redis_url, database_url=database_url,
                  workspace=workspace,
                  env={"MARKERS": str(markers), "TETHER_DAEMON_INTERVAL_SECONDS": "0.2",
                       "TETHER_BACKFILL_BATCH_SIZE": "3", "TETHER_RUN_LAUNCHER": "warm"}
                  ) as deployment:
        wait_loaded(deployment)
        backfill = deployment.graphql(LAUNCH, job="daily_load", **{
            "from": "2025-01-01", "to": "2025-12-31"})["launchBackfill"]
        assert (backfill["partitionCount"], backfill["partitionRange"]) == (
            365, "2025-01-01 to 2025-12-31")

        def started() -> int:
            created = 365 - _counts(_backfill(deployment, backfill["id"])).get(
                "NOT_CREATED", 365)
            return created

        deployment.wait_for(started, timeout=60, what="the first runs of the backfill")
        os.killpg(deployment.processes["daemons"].pid, signal.SIGKILL)
        deployment.processes["daemons"].wait()
        at_kill = started()
        assert 0 < at_kill < 365, f"the daemon created {at_kill} runs before it was killed"
        # another copy takes the lease over once the dead one's lapses, and goes on
        deployment.start("daemons")
        ended = _ended(deployment, backfill["id"], timeout=300)
        assert ended["status"] == "COMPLETED", ended
        assert _counts(ended) == {"SUCCESS": 365}
        partitions = Counter(run["partition"] for run in ended["runs"])
        assert len(partitions) == 365 and set(partitions.values()) == {1}


def test_the_run_queue_throttles_a_backfill_and_a_cancel_stops_it(
        limited: tuple[Deployment, Path]) -> None:
    deployment, _ = limited
    backfill = deployment.graphql(LAUNCH, job="slow")["launchBackfill"]
    assert backfill["partitionCount"] == 10

    def three_started() -> dict[str, int] | None:
        counts = _counts(_backfill(deployment, backfill["id"]))
        return counts if counts.get("STARTED") == 3 and counts.get("QUEUED") == 7 else None

    deployment.wait_for(three_started, what="3 runs started, 7 waiting in the run queue")
    # the limit holds: no fourth one starts while the three wait
    assert _counts(_backfill(deployment, backfill["id"]))["STARTED"] == 3
    canceled = deployment.cli("backfill", "cancel", backfill["id"])
    assert canceled.returncode == 0, canceled.stderr
    assert re.match(rf"backfill {backfill['id']} is CANCEL(ING|ED) \(", canceled.stdout)
    ended = _ended(deployment, backfill["id"])
    assert (ended["status"], _counts(ended)) == ("CANCELED", {"CANCELED": 10})
    body = deployment.http.post("/graphql", json={
        "query": CANCEL, "variables": {"id": backfill["id"]}}).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    assert "has already ended (CANCELED)" in body["errors"][0]["message"]


def test_failed_partitions_re_run_and_assets_are_materialized(
        limited: tuple[Deployment, Path]) -> None:
    deployment, markers = limited
    for day in ("2025-03-02", "2025-03-04"):
        (markers / day).touch()
    # through the CLI, waiting with progress shown
    done = deployment.cli("backfill", "launch", "daily_load", "--from", "2025-03-01",
                          "--to", "2025-03-05", "--wait", timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "100% FAILED" in done.stdout
    assert "failed partitions: 2025-03-02, 2025-03-04" in done.stderr
    backfill_id = done.stdout.split()[1].rstrip(":")
    failed = _backfill(deployment, backfill_id)
    assert _counts(failed) == {"SUCCESS": 3, "FAILURE": 2}
    for marker in markers.iterdir():
        marker.unlink()
    again = deployment.cli("backfill", "rerun-failed", backfill_id, "--wait", timeout=120)
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"re-runs 2 failed partition(s) of backfill {backfill_id}" in again.stdout
    assert "100% COMPLETED" in again.stdout
    rerun = {"id": again.stdout.split()[1]}
    ended = _backfill(deployment, rerun["id"])
    assert (ended["status"], _counts(ended)) == ("COMPLETED", {"SUCCESS": 2})
    assert (ended["parentId"], ended["partitionCount"]) == (backfill_id, 2)
    assert sorted(run["partition"] for run in ended["runs"]) == ["2025-03-02", "2025-03-04"]
    listed = deployment.cli("backfill", "list")
    assert f"{rerun['id']}  COMPLETED" in listed.stdout
    shown = deployment.cli("backfill", "show", backfill_id)
    assert "failed:     2025-03-02, 2025-03-04" in shown.stdout

    assets = deployment.graphql(LAUNCH, assets=["sales"], location="parts",
                                partitions=["2025-06-01", "2025-06-02", "2025-06-03"]
                                )["launchBackfill"]
    assert _ended(deployment, assets["id"])["status"] == "COMPLETED"
    sales = next(a for a in deployment.graphql(STATUS)["assets"] if a["key"] == "sales")
    assert sales["partitionStatus"]["done"] == ["2025-06-01", "2025-06-02", "2025-06-03"]


BAD_INPUT = [
    ({"job": "plain"}, "job 'plain' is not partitioned: a backfill runs a partitioned job's"),
    ({"job": "daily_load", "partitions": ["2025-01-01", "someday"]},
     "no partition 'someday'; the partitions: daily from 2025-01-01"),
    ({"job": "daily_load", "from": "2024-12-31"},
     "'2024-12-31' is outside the partitions, daily from 2025-01-01"),
    ({"job": "daily_load", "from": "2025-02-01", "to": "2025-01-01"},
     "the range '2025-02-01' to '2025-01-01' is empty: '2025-01-01' comes before"),
    ({"job": "slow", "assets": ["sales"]}, "either a job or a selection of assets: give one"),
]


def test_bad_input_is_refused_and_viewers_cannot_launch(
        limited: tuple[Deployment, Path]) -> None:
    from tether.control_plane.storage import Store

    deployment, _ = limited
    for variables, message in BAD_INPUT:
        body = deployment.http.post("/graphql", json={"query": LAUNCH,
                                                      "variables": variables}).json()
        assert body["errors"][0]["extensions"]["code"] == "BAD_INPUT", body
        assert message in body["errors"][0]["message"]
    store = Store.from_url(deployment.env["TETHER_DATABASE_URL"])
    viewer = store.create_token("user", role="viewer", name="viewer")
    store.close()
    refused = deployment.http.post(
        "/graphql", headers={"authorization": f"Bearer {viewer}"},
        json={"query": LAUNCH, "variables": {"job": "daily_load"}}).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert deployment.graphql("{ backfills { id } }")["backfills"] == []
    cli = deployment.cli("backfill", "launch", "daily_load", "--from", "2025-02-01", "--to",
                         "2025-01-01")
    assert cli.returncode == 1
    assert "the range '2025-02-01' to '2025-01-01' is empty" in cli.stderr
