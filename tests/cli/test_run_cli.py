"""`tether run launch` against a real control plane, with the test playing the agent through
the store: when to say why a run waits, and how a run's time reads."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tether.control_plane.storage import Store
from tether.wire import LaunchRun, RunLaunched, RunStart, RunSuccess

from ..control_plane.conftest import load_location
from ..deployment import Deployment, deployed
from ..waiting import eventually


@pytest.fixture
def control_plane(tmp_path: Path, broker_url: str) -> Iterator[tuple[Deployment, Store]]:
    workspace = tmp_path / "workspace.toml"
    workspace.write_text("locations = []\n")
    with deployed(redis_url=broker_url, workspace=workspace, data_dir=tmp_path,
                  processes=("control-plane",)) as deployment:
        store = Store.from_url(f"sqlite:///{tmp_path / 'tether.db'}")
        try:
            load_location(store)
            yield deployment, store
        finally:
            store.close()


def launch(deployment: Deployment) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tether", "run", "launch", "hello_job", "--wait"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**deployment.env, "TETHER_TOKEN": deployment.user_token})


def run_as_agent(store: Store, *, claim_after: float) -> float:
    """Claim the launch once it is ``claim_after`` seconds old, then run it to SUCCESS; how
    old it was when claimed."""
    [run] = eventually(store.list_runs, timeout=30, every=0.02, what="the CLI's launch")
    # the CLI must wait this long for the run to be claimed: time passes on purpose
    while time.time() - run.created_at < claim_after:
        time.sleep(0.02)
    [item] = store.claim_work("agent", ["default"], 10, 30)
    claimed_at = time.time() - run.created_at
    assert isinstance(item.payload, LaunchRun)
    store.store_results([RunLaunched(work_id=item.work_id, epoch=item.epoch, run_id=run.run_id,
                                     attempt=1, pid=1, agent_id="agent")])
    store.store_events([
        RunStart(run_id=run.run_id, attempt=1, seq=1, timestamp=time.time(),
                 job_name="hello_job"),
        RunSuccess(run_id=run.run_id, attempt=1, seq=2, timestamp=time.time())])
    return claimed_at


def test_a_run_claimed_at_once_does_not_say_it_waits(
        control_plane: tuple[Deployment, Store]) -> None:
    deployment, store = control_plane
    cli = launch(deployment)
    claimed_at = run_as_agent(store, claim_after=0.0)
    out, err = cli.communicate(timeout=60)
    assert cli.returncode == 0, out + err
    assert claimed_at < 0.5  # well within the second a launch waits before explaining
    assert "waiting:" not in out and "status: SUCCESS" in out


def test_a_run_still_queued_a_second_later_says_why(
        control_plane: tuple[Deployment, Store]) -> None:
    deployment, store = control_plane
    cli = launch(deployment)
    run_as_agent(store, claim_after=2.5)
    out, err = cli.communicate(timeout=60)
    assert cli.returncode == 0, out + err
    lines = out.splitlines()
    [waiting] = [line for line in lines if "waiting:" in line]
    assert waiting == ("  waiting: no live agent serves queue 'default': start one with "
                       "TETHER_QUEUES=default (agents heartbeat every few seconds)")
    assert lines.index(waiting) < lines.index("  status: SUCCESS")
