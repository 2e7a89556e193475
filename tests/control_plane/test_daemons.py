"""The daemons with real processes: `tether control-plane daemons` twice over, a tag
concurrency limit of 2, and runs that take a second. Never more than 2 tagged runs execute at
once, every run finishes, a held-back run says why, and when the leading daemon is killed the
other copy takes over. A run worker killed with SIGKILL fails its attempt with the reason, a
retry succeeds, and the killed attempt's late events are refused."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import sqlalchemy as sa

from tether.broker import entry_fields, keys
from tether.wire import LogMessage

from ..deployment import LAUNCH as LAUNCH_JOB
from ..deployment import RUN, Deployment, deployed, one_location, wait_loaded

DEFS = '''
import time
from pathlib import Path

from tether import Definitions, job, op


@op
def query_warehouse() -> None:
    time.sleep(1.0)


@job
def warehouse_job() -> None:
    query_warehouse()


@op
def flaky_once() -> None:
    # the first attempt hangs (the test kills it); the next one finds the marker
    marker = Path("flaky_marker")
    if not marker.exists():
        marker.write_text("first attempt")
        time.sleep(60)


@job
def flaky_job() -> None:
    flaky_once()


defs = Definitions(jobs=[warehouse_job, flaky_job])
'''

LAUNCH = """mutation($tags: JSON) { launchRun(jobName: "warehouse_job", tags: $tags) {
    id waitingReason } }"""
RUNS = "{ runs(limit: 100) { id status startTime endTime } }"
LIMITS = '[{"key": "database", "value": "warehouse", "limit": 2}]'


@pytest.fixture
def deployment(tmp_path: Path, broker_url: str) -> Iterator[Deployment]:
    workspace = one_location(tmp_path, "warehouse", DEFS, python_file="warehouse_defs.py")
    with deployed(
            redis_url=broker_url, workspace=workspace, data_dir=tmp_path,
            copies={"daemons": 2},
            env={"TETHER_TAG_CONCURRENCY_LIMITS": LIMITS, "TETHER_DAEMON_INTERVAL_SECONDS": "0.2",
                 "TETHER_RUN_LAUNCHER": "warm"}) as running:
        wait_loaded(running)
        yield running


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


@pytest.mark.timeout(120)
def test_a_killed_run_worker_fails_its_attempt_and_a_retry_succeeds(
        deployment: Deployment) -> None:
    run_id = deployment.graphql(LAUNCH_JOB, job="flaky_job",
                                tags={"tether/max_retries": "1"})["launchRun"]["id"]

    def worker_pid() -> int | None:
        run = deployment.graphql(RUN, id=run_id)["run"]
        if not any(e["type"] == "STEP_START" for e in run["events"]):
            return None
        launched = [e["message"] for e in run["events"] if e["type"] == "RUN_LAUNCHED"]
        match = re.search(r"pid (\d+)", launched[0]) if launched else None
        return int(match.group(1)) if match else None

    pid = deployment.wait_for(worker_pid, what="the first attempt's step to start")
    os.kill(pid, signal.SIGKILL)

    def retried_and_done() -> dict[str, Any] | None:
        run = deployment.graphql(RUN, id=run_id)["run"]
        return run if run["attempt"] == 2 and run["status"] == "SUCCESS" else None

    run = deployment.wait_for(retried_and_done, timeout=60, what="attempt 2 SUCCESS")
    first = [e for e in run["events"] if e["attempt"] == 1]
    [failure] = [e for e in first if e["type"] == "RUN_FAILURE"]
    assert "exited with code -9" in failure["message"]
    assert any("attempt 2 queued after attempt 1 failed" in e["message"] for e in run["events"])

    # a straggler of the killed attempt reaches the broker late: it is refused, not stored
    client = redis.Redis.from_url(deployment.env["TETHER_REDIS_URL"])
    client.xadd(keys.OUT_EVENTS, entry_fields(LogMessage(
        run_id=run_id, attempt=1, seq=10_000, timestamp=time.time(), level="INFO",
        message="too late")))  # type: ignore[arg-type]
    deployment.wait_for(lambda: client.xlen(keys.OUT_EVENTS) == 0, what="the upload")
    client.close()
    events = deployment.graphql(RUN, id=run_id)["run"]["events"]
    assert not any(e["message"] == "too late" for e in events)
    assert deployment.graphql(RUN, id=run_id)["run"]["status"] == "SUCCESS"
