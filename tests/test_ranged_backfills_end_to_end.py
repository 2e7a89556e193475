"""Ranged backfills with real processes (control plane, daemons, agent, code server, run
workers): a backfill of 30 daily partitions of a single_run asset makes one run, whose body
sees the whole range (and a downstream asset of the run its value), and all 30 partitions
show materialized; a multi_run(10) asset's makes three runs; a failed ranged run fails each
partition of its range; an asset's policy without partitions, and multi_run(0), are refused
with what is allowed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .deployment import Deployment, databases, deployed, one_location, wait_loaded
from .test_assets_io import signed_in

DEFS = '''
import json
import os
from pathlib import Path

from tether import (BackfillPolicy, DailyPartitionsDefinition, Definitions, asset,
                    define_asset_job)

SEEN = Path(os.environ["SEEN"])
daily = DailyPartitionsDefinition("2025-01-01")


@asset(partitions_def=daily, backfill_policy=BackfillPolicy.single_run())
def totals(context) -> dict:
    window = context.partition_time_window
    seen = {"range": list(context.partition_key_range), "keys": context.partition_keys,
            "window": [window.start.isoformat(), window.end.isoformat()],
            "ranged": context.has_partition_key_range}
    try:
        context.partition_key
    except Exception as exc:
        seen["partition_key"] = str(exc)
    (SEEN / f"totals-{context.run_id}.json").write_text(json.dumps(seen))
    return {key: int(key[-2:]) for key in context.partition_keys}


@asset(partitions_def=daily, backfill_policy=BackfillPolicy.single_run())
def report(context, totals: dict) -> int:
    # in the ranged run, the upstream value is the one covering the range
    (SEEN / f"report-{context.run_id}.json").write_text(json.dumps(sorted(totals)))
    return sum(totals.values())


@asset(partitions_def=daily, backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=10))
def sums(context) -> int:
    (SEEN / f"sums-{context.run_id}.json").write_text(json.dumps(context.partition_keys))
    return len(context.partition_keys)


@asset(partitions_def=daily, backfill_policy=BackfillPolicy.single_run())
def flaky(context) -> int:
    raise RuntimeError(f"the source of {context.partition_key_range.start} is not ready")


defs = Definitions(assets=[totals, report, sums, flaky],
                   jobs=[define_asset_job("daily_assets")])
'''

LAUNCH = """mutation($assets: [String!], $from: String, $to: String) {
  launchBackfill(assetSelection: $assets, from: $from, to: $to, location: "ranged") {
    id partitionCount } }"""
BACKFILL = """query($id: ID!) { backfill(id: $id) { id status partitionCount failedPartitions
  counts { status count }
  runs(limit: 1000) { id status partition partitionRange { start end } } } }"""
STATUS = """{ assets { key partitionStatus { materialized failed
  done: keys(state: MATERIALIZED, limit: 1000) failedKeys: keys(state: FAILED, limit: 1000)
  } } }"""


@pytest.fixture(params=["sqlite+valkey", "postgres+redis"])
def ranged(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Deployment, Path]]:
    seen = tmp_path / "seen"
    seen.mkdir()
    workspace = one_location(tmp_path, "ranged", DEFS)
    database_url, redis_url = databases(request, str(request.param), tmp_path)
    with deployed(data_dir=tmp_path, redis_url=redis_url, database_url=database_url,
                  workspace=workspace,
                  env={"SEEN": str(seen), "TETHER_DAEMON_INTERVAL_SECONDS": "0.2",
                       "TETHER_BACKFILL_BATCH_SIZE": "4", "TETHER_RUN_LAUNCHER": "warm"}
                  ) as deployment:
        wait_loaded(deployment)
        yield deployment, seen


def _ended(deployment: Deployment, backfill_id: str) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        found: dict[str, Any] = deployment.graphql(BACKFILL, id=backfill_id)["backfill"]
        return found if found["status"] in ("COMPLETED", "FAILED", "CANCELED") else None

    return deployment.wait_for(ended, timeout=120, what=f"backfill {backfill_id} to end")


def _status(deployment: Deployment, key: str) -> dict[str, Any]:
    found: dict[str, Any] = next(asset for asset in deployment.graphql(STATUS)["assets"]
                                 if asset["key"] == key)["partitionStatus"]
    return found


def test_a_single_run_backfill_runs_the_whole_range_once(
        ranged: tuple[Deployment, Path]) -> None:
    deployment, seen = ranged
    days = [f"2025-01-{day:02d}" for day in range(1, 31)]
    backfill = deployment.graphql(LAUNCH, assets=["totals", "report"], **{
        "from": "2025-01-01", "to": "2025-01-30"})["launchBackfill"]
    assert backfill["partitionCount"] == 30
    ended = _ended(deployment, backfill["id"])
    assert ended["status"] == "COMPLETED", ended
    assert {c["status"]: c["count"] for c in ended["counts"]} == {"SUCCESS": 30}
    # one run, of the whole range
    [run] = ended["runs"]
    assert (run["partition"], run["partitionRange"]) == (
        None, {"start": "2025-01-01", "end": "2025-01-30"})
    run_id = run["id"]
    body = json.loads((seen / f"totals-{run_id}.json").read_text())
    assert body["range"] == ["2025-01-01", "2025-01-30"] and body["keys"] == days
    assert body["window"] == ["2025-01-01T00:00:00+00:00", "2025-01-31T00:00:00+00:00"]
    assert body["ranged"] is True
    assert "read context.partition_key_range" in body["partition_key"]
    assert json.loads((seen / f"report-{run_id}.json").read_text()) == days
    for key in ("totals", "report"):
        status = _status(deployment, key)
        assert (status["materialized"], status["done"]) == (30, days)
    # the runs list shows the range
    browser = signed_in(deployment)
    page = browser.get("/runs").text
    browser.close()
    assert "2025-01-01…2025-01-30" in page


def test_a_multi_run_backfill_makes_a_run_per_ten_partitions(
        ranged: tuple[Deployment, Path]) -> None:
    deployment, seen = ranged
    backfill = deployment.graphql(LAUNCH, assets=["sums"], **{
        "from": "2025-02-01", "to": "2025-03-02"})["launchBackfill"]
    ended = _ended(deployment, backfill["id"])
    assert ended["status"] == "COMPLETED", ended
    ranges = sorted(((run["id"], run["partitionRange"]["start"], run["partitionRange"]["end"])
                     for run in ended["runs"]), key=lambda found: found[1])
    assert [(start, end) for _, start, end in ranges] == [
        ("2025-02-01", "2025-02-10"), ("2025-02-11", "2025-02-20"), ("2025-02-21", "2025-03-02")]
    for run_id, start, _ in ranges:
        keys = json.loads((seen / f"sums-{run_id}.json").read_text())
        assert len(keys) == 10 and keys[0] == start
    assert _status(deployment, "sums")["materialized"] == 30
    shown = deployment.cli("backfill", "show", backfill["id"])
    assert shown.returncode == 0, shown.stderr
    for _, start, end in ranges:
        assert f"SUCCESS    {start} to {end}" in shown.stdout


def test_a_failed_ranged_run_fails_every_partition_of_its_range(
        ranged: tuple[Deployment, Path]) -> None:
    deployment, _ = ranged
    backfill = deployment.graphql(LAUNCH, assets=["flaky"], **{
        "from": "2025-04-01", "to": "2025-04-05"})["launchBackfill"]
    ended = _ended(deployment, backfill["id"])
    days = [f"2025-04-0{day}" for day in range(1, 6)]
    assert (ended["status"], ended["failedPartitions"]) == ("FAILED", days)
    assert {c["status"]: c["count"] for c in ended["counts"]} == {"FAILURE": 5}
    status = _status(deployment, "flaky")
    assert (status["failed"], status["failedKeys"], status["materialized"]) == (5, days, 0)
