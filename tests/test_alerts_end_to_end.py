"""Alerts in a real deployment (control plane, daemons, agent workers as processes), sent to
an HTTP receiver the test starts: policies loaded from TETHER_ALERTS_FILE, a failing run, the
receiver down and the daemons killed with SIGKILL before the alerts get through, a fresh
daemons process, the receiver back: exactly one alert per policy arrives, signed."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import time
from pathlib import Path

import pytest

from .conftest import free_port
from .deployment import Deployment
from .receivers import HttpReceiver

DEFS = '''
from tether import Definitions, job, op


@op
def explode() -> None:
    raise RuntimeError("the warehouse is on fire")


@job
def failing_job() -> None:
    explode()


@op
def fine() -> None:
    pass


@job
def fine_job() -> None:
    fine()


defs = Definitions(jobs=[failing_job, fine_job])
'''

ALERTS = '''
[[alert]]
name = "failures"
triggers = ["RUN_FAILURE"]
[alert.channel]
kind = "webhook"
url = "{url}/failures"
secret = "s3cret"

[[alert]]
name = "failing-job-in-slack"
triggers = ["RUN_FAILURE", "RUN_SUCCESS"]
[alert.filters]
jobs = ["failing_job"]
[alert.channel]
kind = "slack"
url = "{url}/slack"
'''

LAUNCH = 'mutation($job: String!) { launchRun(jobName: $job) { id } }'
RUN = 'query($id: ID!) { run(id: $id) { status } }'
DELIVERIES = "{ alertDeliveries { id policy status attempts lastError } }"


@pytest.mark.timeout(180)
def test_one_alert_per_policy_survives_a_killed_daemon_and_a_receiver_that_was_down(
        tmp_path: Path, broker_url: str) -> None:
    receiver = HttpReceiver(free_port())  # down until the daemons have been killed
    (tmp_path / "alerting_defs.py").write_text(DEFS)
    workspace = tmp_path / "workspace.toml"
    workspace.write_text('[[locations]]\nname = "alerting"\npython_file = "alerting_defs.py"\n')
    alerts_file = tmp_path / "alerts.toml"
    alerts_file.write_text(ALERTS.format(url=receiver.url))
    port = free_port()
    deployment = Deployment(
        database_url=f"sqlite:///{tmp_path / 'tether.db'}", redis_url=broker_url,
        workspace=workspace, data_dir=tmp_path, port=port,
        env={"TETHER_ALERTS_FILE": str(alerts_file), "TETHER_DAEMON_INTERVAL_SECONDS": "0.2",
             "TETHER_ALERT_RETRY_BASE_SECONDS": "0.5",
             "TETHER_PUBLIC_URL": "https://tether.example.com"})
    try:
        deployment.wait_healthy()
        deployment.wait_for(lambda: deployment.graphql("{ codeLocations { status } }")[
            "codeLocations"][0]["status"] == "LOADED", what="location loaded")
        policies = deployment.graphql("{ alertPolicies { name source } }")["alertPolicies"]
        assert sorted((p["name"], p["source"]) for p in policies) == [
            ("failing-job-in-slack", "file"), ("failures", "file")]

        run_id = deployment.graphql(LAUNCH, job="failing_job")["launchRun"]["id"]
        fine_id = deployment.graphql(LAUNCH, job="fine_job")["launchRun"]["id"]
        for run in (run_id, fine_id):
            deployment.wait_for(lambda run=run: deployment.graphql(RUN, id=run)["run"][
                "status"] in ("FAILURE", "SUCCESS"), what=f"run {run} to end")

        # the daemon tries, the receiver is down: both alerts wait, retried
        def tried() -> list[dict[str, object]] | None:
            found = deployment.graphql(DELIVERIES)["alertDeliveries"]
            return found if len(found) == 2 and all(
                d["attempts"] >= 1 for d in found) else None

        waiting = deployment.wait_for(tried, what="both alerts tried once")
        assert all(d["status"] == "PENDING" and "ConnectError" in str(d["lastError"])
                   for d in waiting)
        daemons = deployment.processes.pop("daemons")
        os.kill(daemons.pid, signal.SIGKILL)
        daemons.wait()

        receiver.start()
        deployment.start("daemons")
        posts = receiver.wait_for(2, timeout=60)
        time.sleep(3)  # more turns of the new daemon: nothing is sent again
        assert len(receiver.received) == 2
        by_path = {post.path: post for post in posts}
        assert set(by_path) == {"/failures", "/slack"}
        webhook = by_path["/failures"]
        expected = "sha256=" + hmac.new(b"s3cret", webhook.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(webhook.headers["X-Tether-Signature"], expected)
        alert = json.loads(webhook.body)
        assert alert["url"] == f"https://tether.example.com/runs/{run_id}"
        assert alert["text"] == "RuntimeError: the warehouse is on fire"
        slack = json.loads(by_path["/slack"].body)
        assert slack["blocks"][0]["text"]["text"] == "Run of failing_job failed"
        delivered = deployment.graphql(DELIVERIES)["alertDeliveries"]
        assert sorted((d["policy"], d["status"]) for d in delivered) == [
            ("failing-job-in-slack", "SENT"), ("failures", "SENT")]
    finally:
        receiver.stop()
        deployment.stop()
