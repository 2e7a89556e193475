"""A supervisor that stops takes its code servers along, even those it adopted moments
before from a predecessor that was killed: no code server outlives the deployment."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import pytest

from ..deployment import Deployment
from .test_locations import GOOD, alive, deployment, servers_of, tether

__all__ = ["deployment"]  # the fixture, for the tests below


@pytest.mark.timeout(120)
@pytest.mark.parametrize("pause", ["none", "adopted"])
def test_a_supervisor_killed_restarted_and_stopped_leaves_no_code_server(
        deployment: Deployment, tmp_path: Path, pause: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "defs.py").write_text(GOOD)
    deployed = tether(deployment, "location", "deploy", "nightly", "--python-file", "defs.py",
                      "--working-directory", "project", "--wait", cwd=tmp_path)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    [server] = servers_of(deployment, "nightly")

    supervisor = deployment.processes["supervisor"]
    os.kill(supervisor.pid, signal.SIGKILL)
    supervisor.wait()
    deployment.start("supervisor")
    log = deployment.logs["supervisor"]
    restarted = deployment.processes["supervisor"]
    if pause == "adopted":
        deployment.wait_for(lambda: f"adopted the code server of nightly (pid {server.pid}"
                            in log.read_text(), timeout=20, what="the server to be adopted")
    else:
        # stopped as soon as it is up: its predecessor still owns the location a while
        deployment.wait_for(lambda: f"-supervisor-{restarted.pid} ready" in log.read_text(),
                            timeout=20, what="the new supervisor to start")
    # the deployment goes away: the location's folder first, then the supervisor
    shutil.rmtree(project)
    os.killpg(restarted.pid, signal.SIGTERM)
    assert restarted.wait(timeout=20) == 0, log.read_text()
    assert not alive(server.pid), f"code server {server.pid} left running\n" + log.read_text()
    assert servers_of(deployment, "nightly") == []
