"""Op concurrency pools through the whole deployment: the control plane grants the slots,
the agent relays them, real run workers wait for them. Steps of a pool never execute beyond
its limit across runs; a waiting step says why; a run worker killed outright frees its
slots."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import free_port
from .deployment import Deployment
from .processes import processes_with_env

DEFS = '''
import time
from tether import Definitions, job, op

def make_loader(index):
    @op(name=f"load_{index}", pool="warehouse")
    def load():
        time.sleep(1.5)
        return index
    return load

@job
def loads():
    for index in range(3):
        make_loader(index)()

@op(pool="lake")
def hold_lake():
    time.sleep(600)

@job
def holds_lake():
    hold_lake()

@op(pool="lake")
def use_lake():
    return "used"

@job
def uses_lake():
    use_lake()

defs = Definitions(jobs=[loads, holds_lake, uses_lake])
'''

RUN = """
query Run($id: ID!) {
  run(id: $id) { id status events { seq type stepKey message timestamp } }
}"""
LAUNCH = """mutation($job: String!, $config: JSON) {
  launchRun(jobName: $job, runConfig: $config) { id } }"""
LOCATIONS = "{ codeLocations { name status error } }"
ENDED = ("SUCCESS", "FAILURE", "CANCELED")


@pytest.fixture
def deployment(tmp_path: Path, broker_url: str) -> Iterator[Deployment]:
    project = tmp_path / "project"
    project.mkdir()
    (project / "defs.py").write_text(DEFS)
    workspace = tmp_path / "workspace.toml"
    workspace.write_text('[[locations]]\nname = "pools"\npython_file = "defs.py"\n'
                         'working_directory = "project"\n')
    deployment = Deployment(database_url=f"sqlite:///{tmp_path / 'tether.db'}",
                            redis_url=broker_url, workspace=workspace, data_dir=tmp_path,
                            port=free_port(),
                            env={"TETHER_POOL_LIMITS": '{"warehouse": 2, "lake": 1}'})
    try:
        deployment.wait_healthy()

        def loaded() -> bool:
            locations = deployment.graphql(LOCATIONS)["codeLocations"]
            assert not locations or locations[0]["status"] != "ERROR", locations
            return bool(locations) and locations[0]["status"] == "LOADED"

        deployment.wait_for(loaded, what="location pools LOADED")
        yield deployment
    finally:
        codes = deployment.stop()
    assert all(code == 0 for code in codes.values()), f"unclean stop {codes}\n" + \
        deployment.output()
    assert processes_with_env(str(tmp_path)) == [], "processes left behind"


def launch(deployment: Deployment, job: str, executor: str = "thread") -> str:
    run_id: str = deployment.graphql(LAUNCH, job=job, config={
        "execution": {"executor": executor, "max_concurrent": 4}})["launchRun"]["id"]
    return run_id


def run_of(deployment: Deployment, run_id: str) -> dict[str, Any]:
    run: dict[str, Any] = deployment.graphql(RUN, id=run_id)["run"]
    return run


def ended(deployment: Deployment, run_id: str) -> dict[str, Any] | None:
    run = run_of(deployment, run_id)
    return run if run["status"] in ENDED else None


def test_a_pool_limits_its_steps_across_two_runs(deployment: Deployment) -> None:
    # two runs of three 1.5 s warehouse steps each, every step free to start at once, one
    # in step threads, one in step processes: the pool lets two of the six execute at a time
    run_ids = [launch(deployment, "loads", executor) for executor in ("thread", "multiprocess")]
    runs = [deployment.wait_for(lambda r=run_id: ended(deployment, r), timeout=120,
                                what=f"run {run_id} ended") for run_id in run_ids]
    assert [run["status"] for run in runs] == ["SUCCESS", "SUCCESS"], runs
    spans: list[tuple[float, float]] = []
    for run in runs:
        events = [event for event in run["events"] if event["stepKey"]]
        starts = {e["stepKey"]: e["timestamp"] for e in events if e["type"] == "STEP_START"}
        ends = {e["stepKey"]: e["timestamp"] for e in events if e["type"] == "STEP_SUCCESS"}
        assert sorted(starts) == sorted(ends) == ["load_0", "load_1", "load_2"]
        spans += [(starts[step], ends[step]) for step in starts]
        # each step said what it waited for before it started
        for step in starts:
            asked = [e for e in events if e["stepKey"] == step
                     and e["type"] == "STEP_SLOT_REQUESTED"]
            assert [e["message"] for e in asked] == [
                f"Step {step} waits for a slot in pool warehouse (limit 2)"]
            assert asked[0]["seq"] < next(e["seq"] for e in events if e["stepKey"] == step
                                          and e["type"] == "STEP_START")
    # from the step events: never more than two executing at once, and two did overlap
    overlaps = [sum(1 for start, end in spans if start <= moment < end)
                for moment, _ in spans]
    assert max(overlaps) == 2, sorted(spans)


def test_a_killed_run_worker_frees_its_slot(deployment: Deployment) -> None:
    holder = launch(deployment, "holds_lake")

    def holding() -> int | None:
        events = run_of(deployment, holder)["events"]
        if not any(e["type"] == "STEP_START" for e in events):
            return None
        started = next(e["message"] for e in events if e["type"] == "RUN_START")
        return int(re.search(r"\(pid (\d+)\)", started)[1])  # type: ignore[index]

    pid = deployment.wait_for(holding, timeout=60, what="hold_lake holding the lake slot")
    waiter = launch(deployment, "uses_lake")

    def waiting() -> bool:
        events = run_of(deployment, waiter)["events"]
        return any(e["type"] == "STEP_SLOT_REQUESTED" for e in events)

    deployment.wait_for(waiting, timeout=60, what="use_lake waiting for a slot")
    # it keeps waiting while the slot is held
    time.sleep(2)
    events = run_of(deployment, waiter)["events"]
    assert not any(e["type"] == "STEP_START" for e in events), events
    assert any(e["message"] == "Step use_lake waits for a slot in pool lake (limit 1)"
               for e in events)

    os.kill(pid, signal.SIGKILL)
    run = deployment.wait_for(lambda: ended(deployment, waiter), timeout=60,
                              what="use_lake granted the freed slot")
    assert run["status"] == "SUCCESS", run
    killed = deployment.wait_for(lambda: ended(deployment, holder), timeout=30,
                                 what="the killed run failed")
    assert killed["status"] == "FAILURE"
