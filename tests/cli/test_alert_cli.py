"""`tether alert` against a real control plane and daemons: create a policy from options,
list it (secret hidden), test it against a real HTTP receiver (the command waits to say it
was sent), list the deliveries, see a refusal named, delete it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..conftest import free_port
from ..deployment import Deployment
from ..receivers import HttpReceiver


@pytest.fixture
def deployment(tmp_path: Path, broker_url: str) -> Iterator[Deployment]:
    workspace = tmp_path / "workspace.toml"
    workspace.write_text("locations = []\n")
    running = Deployment(database_url=f"sqlite:///{tmp_path / 'tether.db'}",
                         redis_url=broker_url, workspace=workspace, data_dir=tmp_path,
                         port=free_port(), processes=("control-plane", "daemons"),
                         env={"TETHER_DAEMON_INTERVAL_SECONDS": "0.2"})
    try:
        running.wait_healthy()
        yield running
    finally:
        running.stop()


def tether(deployment: Deployment, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tether", "alert", *args],
                          capture_output=True, text=True, timeout=60,
                          env={**deployment.env, "TETHER_TOKEN": deployment.user_token})


@pytest.mark.timeout(120)
def test_create_list_test_and_delete_an_alert_policy(deployment: Deployment) -> None:
    receiver = HttpReceiver(free_port()).start()
    try:
        created = tether(deployment, "create", "oncall", "--trigger", "RUN_FAILURE",
                         "--trigger", "RUN_LONG", "--long-run-minutes", "45",
                         "--job", "nightly_job", "--tag", "team=data", "--channel",
                         "webhook", "--url", f"{receiver.url}/hook", "--secret", "hush")
        assert created.returncode == 0, created.stderr
        assert "alert policy oncall created: RUN_FAILURE, RUN_LONG for" in created.stdout

        listed = tether(deployment, "list")
        assert "oncall" in listed.stdout and '"team": "data"' in listed.stdout
        assert "hush" not in listed.stdout and "[api]" in listed.stdout

        tested = tether(deployment, "test", "oncall")
        assert tested.returncode == 0, tested.stdout + tested.stderr
        assert "sent through policy oncall" in tested.stdout
        [post] = receiver.wait_for(1)
        assert post.path == "/hook" and json.loads(post.body)["test"] is True
        assert "X-Tether-Signature" in post.headers

        deliveries = tether(deployment, "deliveries")
        assert "SENT" in deliveries.stdout and "Test alert of policy oncall" in deliveries.stdout

        refused = tether(deployment, "create", "slow", "--trigger", "RUN_LONG",
                         "--channel", "slack", "--url", receiver.url)
        assert refused.returncode == 1
        assert "the RUN_LONG trigger needs long_run_minutes" in refused.stderr

        assert tether(deployment, "delete", "oncall").returncode == 0
        assert "no alert policies" in tether(deployment, "list").stdout
    finally:
        receiver.stop()
