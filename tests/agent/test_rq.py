"""The ``rq`` run-launcher backend, with real processes: runs are RQ jobs that ``tether agent
rq-worker`` processes execute; cancels go through the run worker (SIGTERM) and RQ's stop-job,
a cancel while queued calls the job off, and a lost RQ worker fails its run."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tether.broker import keys

from ..deployment import (
    AGENT,
    CANCEL,
    LAUNCH,
    RUN,
    Deployment,
    deployed,
    one_location,
    wait_loaded,
)

DEFS = '''
import signal
import time

from tether import Definitions, job, op


@op
def say() -> None:
    print("said")


@job
def quick_job() -> None:
    say()


@op
def tick() -> None:
    try:
        for second in range(60):
            print(f"tick {second}", flush=True)
            time.sleep(0.5)
    finally:
        print("cleaned up", flush=True)


@job
def slow_job() -> None:
    tick()


@op
def ignore_sigterm() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print("ignoring SIGTERM", flush=True)
    time.sleep(60)


@job
def stubborn_job() -> None:
    ignore_sigterm()


defs = Definitions(jobs=[quick_job, slow_job, stubborn_job])
'''



@pytest.fixture
def deployment(tmp_path: Path, broker_url: str) -> Iterator[Deployment]:
    workspace = one_location(tmp_path, "rq", DEFS, python_file="rq_defs.py",
                             working_directory=".")
    with deployed(redis_url=broker_url, workspace=workspace, data_dir=tmp_path,
                  processes=AGENT, env={"TETHER_RUN_LAUNCHER": "rq",
                                        "TETHER_TERMINATE_GRACE_SECONDS": "1"}) as deployment:
        wait_loaded(deployment)
        yield deployment


def run(deployment: Deployment, run_id: str) -> dict:
    return deployment.graphql(RUN, id=run_id)["run"]  # type: ignore[no-any-return]


def wait_status(deployment: Deployment, run_id: str, status: str) -> dict:
    return deployment.wait_for(  # type: ignore[no-any-return]
        lambda: (r := run(deployment, run_id))["status"] == status and r,
        timeout=60, what=f"run {run_id} {status}")


def stdout(run: dict) -> str:
    return "".join(chunk["data"] for chunk in run["logs"] if chunk["stream"] == "stdout")


def launch(deployment: Deployment, job: str) -> str:
    return deployment.graphql(LAUNCH, job=job)["launchRun"]["id"]  # type: ignore[no-any-return]


def test_runs_execute_on_an_rq_worker_and_cancel_through_rq(deployment: Deployment) -> None:
    # no RQ worker yet: the run waits in the RQ queue, and a cancel calls it off
    waiting = launch(deployment, "quick_job")
    deployment.wait_for(lambda: any("Enqueued as RQ job" in e["message"]
                                    for e in run(deployment, waiting)["events"]),
                        what="the run enqueued on RQ")
    deployment.graphql(CANCEL, id=waiting)
    called_off = wait_status(deployment, waiting, "CANCELED")
    assert "RUN_START" not in [e["type"] for e in called_off["events"]]

    deployment.start("rq-worker")
    done = wait_status(deployment, launch(deployment, "quick_job"), "SUCCESS")
    assert stdout(done) == "said\n"
    launched = next(e["message"] for e in done["events"] if e["type"] == "RUN_LAUNCHED")
    assert "on queue tether.runs.default" in launched

    # a cancel reaches the step as KeyboardInterrupt and its finally block runs
    slow = launch(deployment, "slow_job")
    deployment.wait_for(lambda: "tick 1" in stdout(run(deployment, slow)), what="ticking")
    deployment.graphql(CANCEL, id=slow)
    canceled = wait_status(deployment, slow, "CANCELED")
    assert "cleaned up" in stdout(canceled)
    assert "tick 50" not in stdout(canceled)

    # a step that ignores SIGTERM is stopped by RQ's stop-job after the grace period
    stubborn = launch(deployment, "stubborn_job")
    deployment.wait_for(lambda: "ignoring SIGTERM" in stdout(run(deployment, stubborn)),
                        what="stubborn_job running")
    deployment.graphql(CANCEL, id=stubborn)
    stopped = wait_status(deployment, stubborn, "CANCELED")
    assert any("stop-job" in e["message"] for e in stopped["events"]), stopped["events"]

    # the RQ worker is still there for the next run
    assert wait_status(deployment, launch(deployment, "quick_job"), "SUCCESS")
    # the canceled-while-queued run never ran, even with a worker around
    assert "RUN_START" not in [e["type"] for e in run(deployment, waiting)["events"]]


def test_a_lost_rq_worker_fails_its_run_and_the_next_worker_carries_on(
        deployment: Deployment, broker_url: str) -> None:
    deployment.start("rq-worker")
    slow = launch(deployment, "slow_job")
    deployment.wait_for(lambda: "tick 1" in stdout(run(deployment, slow)), what="ticking")
    # the whole host goes: the RQ worker and its work horse, at once
    client = redis.Redis.from_url(broker_url)
    horse = int(client.get(keys.executing_key(slow, 1)) or 0)
    client.close()
    worker = deployment.processes.pop("rq-worker")
    os.kill(horse, signal.SIGKILL)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()

    failed = wait_status(deployment, slow, "FAILURE")
    assert any("RQ worker running this run was lost" in e["message"]
               for e in failed["events"]), failed["events"]

    deployment.start("rq-worker")
    assert stdout(wait_status(deployment, launch(deployment, "quick_job"), "SUCCESS")) == "said\n"
