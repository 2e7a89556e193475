"""The Docker agent for real, where a test changes its deployment: code servers replaced by
a redeploy or adopted by a restarted supervisor, a run container outliving its launcher. Each
test has a deployment of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

from ..deployment import Deployment
from ..docker_engine import derived_image
from .conftest import LOCATION, containers_of
from .test_docker_runs import launch, location, run_of, stdout, wait_ended, wait_loaded


def code_servers(client: Any) -> list[Any]:
    return [c for c in containers_of(client) if c.labels["tether.role"] == "code-server"]


def test_a_redeploy_with_a_new_image_tag_replaces_the_code_server_and_runs_use_it(
        docker_deployment: Deployment, docker_client: Any, image: str) -> None:
    deployment = docker_deployment
    first = wait_loaded(deployment)
    [old] = code_servers(docker_client)
    new_image = derived_image(docker_client, image, f"{image}-v2", "ENV TEST_IMAGE=v2")

    # an image the Engine does not have: the deploy fails saying so; the old server serves on
    missing = subprocess.run(
        [sys.executable, "-m", "tether", "location", "deploy", LOCATION, "--python-file",
         "/app/defs.py", "--image", "tether-test:not-built", "--wait", "--timeout", "60"],
        capture_output=True, text=True, timeout=120,
        env={**deployment.env, "TETHER_TOKEN": deployment.user_token})
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert ("image 'tether-test:not-built' is not on this Docker Engine and cannot be pulled"
            in missing.stdout + missing.stderr)
    assert [c.id for c in code_servers(docker_client)] == [old.id]

    deploy = subprocess.run(
        [sys.executable, "-m", "tether", "location", "deploy", LOCATION, "--python-file",
         "/app/defs.py", "--image", new_image, "--env", "GREETING=hi", "--wait"],
        capture_output=True, text=True, timeout=120,
        env={**deployment.env, "TETHER_TOKEN": deployment.user_token})
    assert deploy.returncode == 0, deploy.stdout + deploy.stderr

    loaded = wait_loaded(deployment, generation=first["generation"] + 1)
    assert loaded["image"] == new_image
    assert "hello_v2" in {job["name"] for job in loaded["jobs"]}
    # blue/green: the new deploy's container serves, the old one is stopped and gone
    deployment.wait_for(lambda: [c.id for c in code_servers(docker_client)] != [old.id]
                        and len(code_servers(docker_client)) == 1, timeout=30,
                        what="the old code-server container gone")
    [new] = code_servers(docker_client)
    assert new.image.tags == [new_image]
    assert new.labels["tether.generation"] == str(int(loaded["generation"]))

    run = wait_ended(deployment, launch(deployment, "hello_v2"))
    assert run["status"] == "SUCCESS", run
    assert "hi from a container (image v2)" in stdout(run)


def test_a_restarted_supervisor_adopts_the_running_code_server_container(
        docker_deployment: Deployment, docker_client: Any) -> None:
    deployment = docker_deployment
    wait_loaded(deployment)
    [server] = code_servers(docker_client)

    supervisor = deployment.processes["supervisor"]
    os.kill(supervisor.pid, signal.SIGKILL)
    supervisor.wait()
    # the container outlives its supervisor
    server.reload()
    assert server.status == "running"
    deployment.start("supervisor")
    log = deployment.logs["supervisor"]
    deployment.wait_for(lambda: "adopted the code server of in_docker" in log.read_text(),
                        timeout=30, what="the container to be adopted")
    time.sleep(2.5)  # two health checks of the adopted server
    assert [c.id for c in code_servers(docker_client)] == [server.id]
    after = log.read_text().split("adopted the code server of in_docker")[1]
    assert "starting a code server for in_docker" not in after
    assert location(deployment)["status"] == "LOADED"

    # it still serves through the adopting supervisor: a redeploy replaces it
    redeploy = subprocess.run(
        [sys.executable, "-m", "tether", "location", "redeploy", LOCATION, "--wait"],
        capture_output=True, text=True, timeout=120,
        env={**deployment.env, "TETHER_TOKEN": deployment.user_token})
    assert redeploy.returncode == 0, redeploy.stdout + redeploy.stderr
    deployment.wait_for(lambda: server.id not in [c.id for c in code_servers(docker_client)],
                        timeout=30, what="the adopted container stopped")


def test_a_run_container_that_dies_after_its_launcher_died_fails_its_run(
        docker_deployment: Deployment, docker_client: Any) -> None:
    deployment = docker_deployment
    wait_loaded(deployment)
    run_id = launch(deployment, "sleepy")
    deployment.wait_for(lambda: "sleeping" in stdout(run_of(deployment, run_id)),
                        timeout=90, what="sleepy sleeping")
    launcher = deployment.processes["launcher"]
    os.kill(launcher.pid, signal.SIGKILL)
    launcher.wait()
    [container] = docker_client.containers.list(
        filters={"label": f"tether.run_id={run_id}"}, ignore_removed=True)
    container.kill()
    deployment.start("launcher")

    # nobody watched it end: the next launcher's check finds it and reports it
    run = wait_ended(deployment, run_id, timeout=60)
    assert run["status"] == "FAILURE"
    assert run["error"]["message"] == "Run worker exited with code 137"
    assert "was killed (SIGKILL, exit code 137) (no launcher watched it)" in \
        run["error"]["stack"]
    assert "sleeping" in run["error"]["stack"]
    deployment.wait_for(lambda: not docker_client.containers.list(
        all=True, filters={"label": f"tether.run_id={run_id}"}, ignore_removed=True),
        what="the run container removed")
