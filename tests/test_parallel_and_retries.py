"""Parallel steps and retries through the whole deployment: control plane, agent, real run
workers, and the CLI's `tether run launch --wait`."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .deployment import LAUNCH, RUN, Deployment, deployed, one_location, wait_loaded

DEFS = '''
import time
from pathlib import Path
from tether import Definitions, OpContext, RetryPolicy, job, op

HERE = Path(__file__).parent

def make_sleeper(index):
    @op(name=f"sleep_{index}")
    def sleeper():
        time.sleep(1)
        return index
    return sleeper

@op
def total(values):
    return sum(values)

@job
def fan_out():
    for index in range(8):
        make_sleeper(index)()

@op(retry_policy=RetryPolicy(max_retries=2, delay=0.5))
def flaky(context: OpContext):
    if context.retry_number < 2:
        raise ConnectionError(f"attempt {context.retry_number + 1} lost the connection")
    return "fetched"

@job
def flaky_job():
    flaky()

@op
def fails_first_time():
    marker = HERE / "failed-once"
    if not marker.exists():
        marker.write_text("x")
        raise RuntimeError("first attempt fails")
    return "second attempt works"

@job
def run_retry_job():
    fails_first_time()

def make_waiter(index):
    @op(name=f"wait_{index}")
    def waiter():
        try:
            print(f"wait {index} started")
            time.sleep(600)
        finally:
            print(f"wait {index} cleaned up")
    return waiter

@job
def waits():
    for index in range(3):
        make_waiter(index)()

defs = Definitions(jobs=[fan_out, flaky_job, run_retry_job, waits])
'''



@pytest.fixture
def deployment(tmp_path: Path, broker_url: str) -> Iterator[Deployment]:
    workspace = one_location(tmp_path, "steps", DEFS, working_directory="project")
    with deployed(redis_url=broker_url, workspace=workspace, data_dir=tmp_path) as deployment:
        # fails at once, with the error, if the location does not load
        wait_loaded(deployment)
        yield deployment


def launch(deployment: Deployment, job: str, *args: str) -> subprocess.CompletedProcess[str]:
    return deployment.cli("run", "launch", job, "--wait", *args, timeout=120)


def run_id_of(cli: subprocess.CompletedProcess[str]) -> str:
    return cli.stdout.split("Launched run ", 1)[1].split()[0]


def test_parallel_steps_retries_and_wait_through_the_deployment(
        deployment: Deployment) -> None:
    # eight one-second steps, four at a time: about two seconds of steps
    cli = launch(deployment, "fan_out", "--config",
                 json.dumps({"execution": {"max_concurrent": 4}}))
    assert cli.returncode == 0, cli.stdout + cli.stderr
    run = deployment.graphql(RUN, id=run_id_of(cli))["run"]
    starts = {e["stepKey"]: e["timestamp"] for e in run["events"] if e["type"] == "STEP_START"}
    ends = {e["stepKey"]: e["timestamp"] for e in run["events"]
            if e["type"] == "STEP_SUCCESS"}
    assert len(starts) == len(ends) == 8
    # overlap from the events themselves: four steps running at the latest first start
    first_wave = sorted(starts.values())[3]
    assert sum(1 for key in starts if starts[key] <= first_wave < ends[key]) == 4
    assert 1.9 < max(ends.values()) - min(starts.values()) < 3.0

    # a retry policy with delays: two STEP_RETRY, then success, no failed step
    cli = launch(deployment, "flaky_job")
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert cli.stdout.count("STEP_RETRY") == 2
    run = deployment.graphql(RUN, id=run_id_of(cli))["run"]
    flaky = [e for e in run["events"] if e["stepKey"] == "flaky" and e["seq"] is not None]
    assert [e["type"] for e in flaky] == ["STEP_START", "STEP_RETRY", "STEP_START",
                                          "STEP_RETRY", "STEP_START", "STEP_SUCCESS"]
    retry = flaky[1]
    assert "attempt 1 failed (ConnectionError: attempt 1 lost the connection)" in \
        retry["message"]
    assert flaky[2]["timestamp"] - retry["timestamp"] >= 0.5
    assert run["status"] == "SUCCESS" and run["stepsFailed"] == 0

    # a run-level retry: --wait follows the failed first attempt to the second one
    cli = launch(deployment, "run_retry_job", "--tag", "tether/max_retries=1")
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "status: FAILURE (will be retried)" in cli.stdout
    assert "attempt 2" in cli.stdout
    assert cli.stdout.rstrip().splitlines()[-1].split()[2] == "SUCCESS"
    run = deployment.graphql(RUN, id=run_id_of(cli))["run"]
    assert (run["status"], run["attempt"], run["willRetry"]) == ("SUCCESS", 2, False)


def test_a_cancel_stops_every_running_step_process(deployment: Deployment) -> None:
    run_id = deployment.graphql(LAUNCH, job="waits", config={
        "execution": {"executor": "multiprocess", "max_concurrent": 3}})["launchRun"]["id"]

    def all_started() -> bool:
        logs = deployment.graphql(RUN, id=run_id)["run"]["logs"]
        return len({c["stepKey"] for c in logs if "started" in c["data"]}) == 3

    deployment.wait_for(all_started, what="three steps running")
    cancel = deployment.cli("run", "cancel", run_id, "--wait")
    assert cancel.returncode == 0, cancel.stdout + cancel.stderr
    assert "status: CANCELED" in cancel.stdout

    def settled() -> dict | None:
        run = deployment.graphql(RUN, id=run_id)["run"]
        cleaned = {c["stepKey"] for c in run["logs"] if "cleaned up" in c["data"]}
        return run if len(cleaned) == 3 else None

    run = deployment.wait_for(settled, timeout=30, what="every step's finally block")
    canceled = sorted(e["stepKey"] for e in run["events"] if e["type"] == "STEP_CANCELED")
    assert canceled == ["wait_0", "wait_1", "wait_2"]
    assert run["status"] == "CANCELED"
    assert not any("FAILURE" in e["type"] for e in run["events"])
