"""The daemons with real processes: `tether control-plane daemons` twice over, a tag
concurrency limit of 2, and runs that take a second. Never more than 2 tagged runs execute at
once, every run finishes, a held-back run says why, and when the leading daemon is killed the
other copy takes over."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ..conftest import free_port
from ..deployment import Deployment

DEFS = '''
import time

from tether import Definitions, job, op


@op
def query_warehouse() -> None:
    time.sleep(1.0)


@job
def warehouse_job() -> None:
    query_warehouse()


defs = Definitions(jobs=[warehouse_job])
'''

LAUNCH = """mutation($tags: JSON) { launchRun(jobName: "warehouse_job", tags: $tags) {
    id waitingReason } }"""
RUNS = "{ runs(limit: 100) { id status startTime endTime } }"
LOCATIONS = "{ codeLocations { status } }"
LIMITS = '[{"key": "database", "value": "warehouse", "limit": 2}]'


@pytest.fixture
def deployment(tmp_path: Path, broker_url: str) -> Iterator[Deployment]:
    (tmp_path / "warehouse_defs.py").write_text(DEFS)
    workspace = tmp_path / "workspace.toml"
    workspace.write_text('[[locations]]\nname = "warehouse"\n'
                         'python_file = "warehouse_defs.py"\n')
    running = Deployment(
        database_url=f"sqlite:///{tmp_path / 'tether.db'}", redis_url=broker_url,
        workspace=workspace, data_dir=tmp_path, port=free_port(),
        copies={"daemons": 2},
        env={"TETHER_TAG_CONCURRENCY_LIMITS": LIMITS, "TETHER_DAEMON_INTERVAL_SECONDS": "0.2",
             "TETHER_RUN_LAUNCHER": "warm"})
    try:
        running.wait_healthy()
        running.wait_for(lambda: running.graphql(LOCATIONS)["codeLocations"][0]["status"]
                         == "LOADED", what="location loaded")
        yield running
    finally:
        running.stop()


def _leader(running: Deployment) -> int | None:
    """The pid of the daemons process that holds the run queue's lease (None: none does)."""
    engine = sa.create_engine(running.env["TETHER_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            holder = conn.execute(sa.text(
                "SELECT holder FROM daemon_leases WHERE name = 'run_queue' "
                "AND lease_until >= :now"), {"now": time.time()}).scalar_one_or_none()
    finally:
        engine.dispose()
    return None if holder is None else int(holder.split(":")[1])


def _most_at_once(runs: list[dict[str, float]]) -> int:
    edges = sorted([(run["startTime"], 1) for run in runs] + [(run["endTime"], -1)
                                                              for run in runs])
    most = now = 0
    for _, change in edges:
        now += change
        most = max(most, now)
    return most


@pytest.mark.timeout(120)
def test_a_tag_limit_holds_across_a_daemon_failover(deployment: Deployment) -> None:
    daemons = {deployment.processes[name].pid: name for name in ("daemons.1", "daemons.2")}
    leader = deployment.wait_for(lambda: _leader(deployment), what="a leading daemon")
    assert leader in daemons

    launched = [deployment.graphql(LAUNCH, tags={"database": "warehouse"})["launchRun"]
                for _ in range(6)]
    # the first two are handed to the agent at once; the third waits for the limit
    assert not any("limit" in (run["waitingReason"] or "") for run in launched[:2])
    reason = launched[2]["waitingReason"]
    assert reason is not None and "tagged database=warehouse" in reason

    # the leader dies while the first runs execute; the other copy takes over
    os.kill(leader, signal.SIGKILL)
    deployment.processes.pop(daemons[leader]).wait()
    deployment.wait_for(lambda: _leader(deployment) not in (None, leader), timeout=30,
                        what="the other daemon to take over")

    def all_done() -> list[dict[str, float]] | None:
        runs = deployment.graphql(RUNS)["runs"]
        return runs if all(run["status"] == "SUCCESS" for run in runs) else None

    runs = deployment.wait_for(all_done, timeout=60, what="every run SUCCESS")
    assert len(runs) == 6
    assert _most_at_once(runs) == 2
