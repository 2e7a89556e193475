"""Sensors end to end, with real processes: the daemons' scheduler asks for ticks, the
supervisor has the location's code server evaluate the user's function, and the control plane
creates the runs it asks for. A sensor watching a directory makes one run per new file and
none for the files that were there before; its cursor survives a restart of the control
plane, the daemons and the agent; a sensor that raises shows the user's traceback and keeps
ticking."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .deployment import Deployment, deployed, one_location, wait_loaded

DEFS = '''
import os
from pathlib import Path

from tether import Definitions, RunRequest, SkipReason, job, op, sensor

INBOX = Path(os.environ["INBOX"])


@op
def ingest() -> None:
    pass


@job
def ingest_job() -> None:
    ingest()


@sensor(job=ingest_job, minimum_interval_seconds=0.3)
def new_files(context):
    names = sorted(path.name for path in INBOX.iterdir())
    if context.cursor is None:
        # first tick: the files already there are not new
        context.update_cursor(names[-1] if names else "")
        return SkipReason(f"starting after {len(names)} existing file(s)")
    fresh = [name for name in names if name > context.cursor]
    if fresh:
        context.update_cursor(fresh[-1])
    return [RunRequest(run_key=name, tags={"file": name}) for name in fresh]


@sensor(job=ingest_job, minimum_interval_seconds=0.3)
def always_fails(context):
    raise ValueError("the upstream API is down")


@sensor(job=ingest_job, minimum_interval_seconds=0.3)
def same_key(context):
    # asks for the same run every time: only its first tick creates it
    return RunRequest(run_key="the-only-run")


defs = Definitions(jobs=[ingest_job], sensors=[new_files, always_fails, same_key])
'''

SET_RUNNING = """mutation($name: String!, $running: Boolean!) {
    setAutomationRunning(kind: "sensor", name: $name, running: $running) { running } }"""
SENSORS = """{ automations(kind: "sensor") { name cursor
    ticks(limit: 50) { status runIds skipReason error } } }"""
RUNS = "{ runs(limit: 100) { id status tags } }"


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("2026-01-old.csv", "2026-02-old.csv"):
        (inbox / name).write_text("old\n")
    return inbox


@pytest.fixture
def deployment(tmp_path: Path, inbox: Path, broker_url: str) -> Iterator[Deployment]:
    workspace = one_location(tmp_path, "files", DEFS, python_file="sensor_defs.py",
                             env={"INBOX": str(inbox)})
    with deployed(redis_url=broker_url, workspace=workspace, data_dir=tmp_path,
                  env={"TETHER_DAEMON_INTERVAL_SECONDS": "0.2",
                       "TETHER_RUN_LAUNCHER": "warm"}) as running:
        wait_loaded(running)
        yield running


def _sensor(running: Deployment, name: str) -> dict[str, Any]:
    return next(s for s in running.graphql(SENSORS)["automations"] if s["name"] == name)


def _file_runs(running: Deployment) -> dict[str, str]:
    """file name -> status of the runs the sensor created."""
    return {run["tags"]["file"]: run["status"] for run in running.graphql(RUNS)["runs"]
            if run["tags"].get("tether/sensor") == "new_files"}


@pytest.mark.timeout(120)
def test_a_sensor_runs_each_new_file_once_across_a_restart(
        deployment: Deployment, inbox: Path) -> None:
    deployment.graphql(SET_RUNNING, name="new_files", running=True)
    # its first tick only notes where the existing files end
    deployment.wait_for(lambda: _sensor(deployment, "new_files")["cursor"] == "2026-02-old.csv",
                        what="the sensor's first tick")
    for name in ("2026-03-a.csv", "2026-03-b.csv", "2026-03-c.csv"):
        (inbox / name).write_text("new\n")
    done = deployment.wait_for(
        lambda: (runs := _file_runs(deployment)) and len(runs) == 3
        and set(runs.values()) == {"SUCCESS"} and runs, what="three runs SUCCESS")
    assert sorted(done) == ["2026-03-a.csv", "2026-03-b.csv", "2026-03-c.csv"]

    # the control plane, its daemons and the agent's poller and supervisor restart; the
    # cursor is kept in the control plane's database
    for name in ("control-plane", "daemons", "poller", "supervisor"):
        process = deployment.processes.pop(name)
        process.terminate()
        process.wait(timeout=15)
        deployment.start(name)
    deployment.wait_healthy()
    (inbox / "2026-04-d.csv").write_text("newer\n")
    deployment.wait_for(lambda: len(_file_runs(deployment)) == 4
                        and _file_runs(deployment).get("2026-04-d.csv") == "SUCCESS",
                        what="the fourth file's run")
    assert sorted(_file_runs(deployment)) == [
        "2026-03-a.csv", "2026-03-b.csv", "2026-03-c.csv", "2026-04-d.csv"]
    ticks = _sensor(deployment, "new_files")["ticks"]
    assert "starting after 2 existing file(s)" in [t["skipReason"] for t in ticks]
    assert not any(t["status"] == "FAILURE" for t in ticks)


@pytest.mark.timeout(60)
def test_a_sensor_that_raises_shows_the_error_and_keeps_ticking(
        deployment: Deployment) -> None:
    deployment.graphql(SET_RUNNING, name="always_fails", running=True)
    ticks = deployment.wait_for(
        lambda: len(failed := [t for t in _sensor(deployment, "always_fails")["ticks"]
                               if t["status"] == "FAILURE"]) >= 3 and failed,
        what="three failed ticks")
    assert all("ValueError: the upstream API is down" in t["error"] for t in ticks)
    assert all("sensor_defs.py" in t["error"] for t in ticks)
    assert deployment.graphql(RUNS)["runs"] == []


def tether(running: Deployment, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "tether", *args], capture_output=True,
                          text=True, timeout=60,
                          env={**running.env, "TETHER_TOKEN": running.user_token})
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.timeout(60)
def test_sensor_ticks_say_which_created_a_run_and_which_found_its_run_key_taken(
        deployment: Deployment) -> None:
    # no tick yet: said, not an empty output
    assert tether(deployment, "sensor", "ticks", "same_key") == (
        "no ticks yet: sensor same_key [files] is stopped; `tether sensor start same_key`\n")
    deployment.graphql(SET_RUNNING, name="same_key", running=True)
    ticks = deployment.wait_for(
        lambda: len(ended := [t for t in _sensor(deployment, "same_key")["ticks"]
                              if t["status"] != "EVALUATING"]) >= 3 and ended,
        what="three ticks of same_key")
    [run_id] = ticks[-1]["runIds"]

    lines = tether(deployment, "sensor", "ticks", "same_key").splitlines()
    created = [line for line in lines if "created run" in line]
    assert len(created) == 1 and f"SUCCESS    created run {run_id}" in created[0]
    assert lines[-1] == created[0]  # the oldest tick made the run
    taken = [line for line in lines if "SKIPPED" in line]
    assert len(taken) >= 2 and all(
        f"run key 'the-only-run' has run {run_id} already, not created again" in line
        for line in taken)
    assert not any(f"runs {run_id}" in line for line in lines)
