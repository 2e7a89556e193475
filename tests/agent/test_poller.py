"""The poller as an operator reads its log: a start alongside the control plane is quiet, an
outage of the control plane afterwards is a warning, and the poller picks up again."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from ..deployment import Deployment

UNREACHABLE = "WARNING poller tether.agent.poller: control plane unreachable"


@pytest.mark.timeout(120)
def test_a_start_is_quiet_and_a_later_outage_warns(tmp_path: Path, broker_url: str) -> None:
    workspace = tmp_path / "workspace.toml"
    workspace.write_text("locations = []\n")
    # as honcho starts them, but surely in this order: the poller is up before the control
    # plane listens (so not deployed(), which waits for the control plane)
    deployment = Deployment(redis_url=broker_url, workspace=workspace, data_dir=tmp_path,
                            processes=("poller",))
    log = deployment.logs["poller"]
    try:
        deployment.wait_for(lambda: "control plane unreachable" in log.read_text(),
                            what="the poller's first claim (logged at DEBUG)")
        deployment.start("control-plane")
        deployment.wait_healthy()
        # the agent's heartbeat got through: the poller reached the control plane
        deployment.wait_for(lambda: deployment.graphql("{ agents { id } }")["agents"],
                            what="the agent's first heartbeat")
        assert " WARNING " not in log.read_text(), log.read_text()

        control_plane = deployment.processes["control-plane"]
        os.kill(control_plane.pid, signal.SIGKILL)
        control_plane.wait()
        deployment.processes.pop("control-plane")
        deployment.wait_for(lambda: UNREACHABLE in log.read_text(), timeout=40,
                            what="the poller to warn of the outage")

        restarted_at = time.time()
        deployment.start("control-plane")
        deployment.wait_healthy()
        deployment.wait_for(
            lambda: deployment.graphql("{ agents { lastHeartbeat } }")["agents"][0]
            ["lastHeartbeat"] > restarted_at, what="the agent to be back")
    finally:
        codes = deployment.stop()
    assert codes == {"poller": 0, "control-plane": 0}, deployment.output()
