"""The Docker agent for real: dockerd runs here, code servers and runs are containers of an
image built from this checkout, on the host's network. These tests share one deployment:
they only launch runs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

from ..deployment import Deployment
from .conftest import LOCATION, containers_of

RUN = """
query Run($id: ID!) {
  run(id: $id) {
    id status error { className message stack }
    events { type message }
    logs { stream data }
  }
}"""
LAUNCH = """mutation($job: String!, $config: JSON, $tags: JSON) {
  launchRun(jobName: $job, runConfig: $config, tags: $tags) { id }
}"""
LOCATIONS = "{ codeLocations { name status error generation image jobs { name } } }"


def location(deployment: Deployment) -> dict[str, Any]:
    return next(loc for loc in deployment.graphql(LOCATIONS)["codeLocations"]
                if loc["name"] == LOCATION)


def wait_loaded(deployment: Deployment, generation: float | None = None) -> dict[str, Any]:
    def loaded() -> dict[str, Any] | None:
        found = location(deployment)
        assert found["status"] != "ERROR", found["error"]
        if found["status"] == "LOADED" and (generation is None
                                            or found["generation"] >= generation):
            return found
        return None

    result: dict[str, Any] = deployment.wait_for(loaded, timeout=90,
                                                 what=f"{LOCATION} LOADED")
    return result


def launch(deployment: Deployment, job: str, **variables: Any) -> str:
    run_id: str = deployment.graphql(LAUNCH, job=job, **variables)["launchRun"]["id"]
    return run_id


def run_of(deployment: Deployment, run_id: str) -> dict[str, Any]:
    run: dict[str, Any] = deployment.graphql(RUN, id=run_id)["run"]
    return run


def wait_ended(deployment: Deployment, run_id: str, timeout: float = 90) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        run = run_of(deployment, run_id)
        return run if run["status"] in ("SUCCESS", "FAILURE", "CANCELED") else None

    deployment.wait_for(ended, timeout=timeout, what=f"run {run_id} to end")
    # its last logs may trail its end
    time.sleep(0.5)
    return run_of(deployment, run_id)


def stdout(run: dict[str, Any]) -> str:
    return "".join(chunk["data"] for chunk in run["logs"] if chunk["stream"] == "stdout")


def run_container(client: Any, run_id: str) -> Any:
    found = client.containers.list(all=True, filters={"label": f"tether.run_id={run_id}"},
                                   ignore_removed=True)
    return found[0] if found else None


def test_a_run_executes_in_a_container_of_the_locations_image_with_its_limits(
        shared_docker_deployment: Deployment, docker_client: Any, image: str) -> None:
    deployment = shared_docker_deployment
    loaded = wait_loaded(deployment)
    assert loaded["image"] == image
    assert {job["name"] for job in loaded["jobs"]} == {"hello", "sleepy", "snoop"}
    # the code server is a container of the image, labelled with its location and deploy
    servers = [c for c in containers_of(docker_client)
               if c.labels["tether.role"] == "code-server"]
    assert len(servers) == 1 and servers[0].image.tags[0] == image
    assert servers[0].labels["tether.location"] == LOCATION
    assert servers[0].attrs["HostConfig"]["NetworkMode"] == "host"

    run_id = launch(deployment, "hello", tags={"tether/cpu": "0.5", "tether/memory": "256Mi"})
    run = wait_ended(deployment, run_id)

    assert run["status"] == "SUCCESS", (run, deployment.output())
    out = stdout(run)
    # the location's env reached the run's container
    assert "hi from a container (image v1)" in out
    # the tags' limits are the container's cgroup limits
    assert f"= {256 * 1024 * 1024}" in out, out
    assert "cfs_quota_us = 50000" in out or "cpu.max = 50000 100000" in out, out
    assert any(e["type"] == "RUN_LAUNCHED" and "in container" in e["message"]
               for e in run["events"])
    # the run's container is gone once its exit was reported
    deployment.wait_for(lambda: run_container(docker_client, run_id) is None,
                        what="the run container removed")


def test_a_canceled_run_container_is_stopped_and_the_run_ends_canceled(
        shared_docker_deployment: Deployment, docker_client: Any) -> None:
    deployment = shared_docker_deployment
    wait_loaded(deployment)
    run_id = launch(deployment, "sleepy")
    deployment.wait_for(lambda: "sleeping" in stdout(run_of(deployment, run_id)),
                        timeout=90, what="sleepy sleeping")
    assert run_container(docker_client, run_id).status == "running"

    cancel = subprocess.run(
        [sys.executable, "-m", "tether", "run", "cancel", run_id, "--wait"],
        capture_output=True, text=True, timeout=90,
        env={**deployment.env, "TETHER_TOKEN": deployment.user_token})
    assert cancel.returncode == 0, cancel.stdout + cancel.stderr

    run = run_of(deployment, run_id)
    assert run["status"] == "CANCELED", run
    assert any(e["type"] == "STEP_CANCELED" for e in run["events"])
    deployment.wait_for(lambda: run_container(docker_client, run_id) is None,
                        what="the run container removed")


def test_a_killed_run_container_fails_its_run_with_the_reason(
        shared_docker_deployment: Deployment, docker_client: Any) -> None:
    deployment = shared_docker_deployment
    wait_loaded(deployment)
    run_id = launch(deployment, "sleepy")
    deployment.wait_for(lambda: "sleeping" in stdout(run_of(deployment, run_id)),
                        timeout=90, what="sleepy sleeping")

    container = run_container(docker_client, run_id)
    subprocess.run(["docker", "-H", deployment.env["TETHER_DOCKER_HOST"], "kill",
                    container.id], check=True, capture_output=True)
    run = wait_ended(deployment, run_id)

    assert run["status"] == "FAILURE"
    assert run["error"]["message"] == "Run worker exited with code 137"
    # the reason and the container's last output come with it
    assert "was killed (SIGKILL, exit code 137)" in run["error"]["stack"]
    assert "sleeping" in run["error"]["stack"]


def test_user_code_in_a_run_container_cannot_reach_the_agents_token(
        shared_docker_deployment: Deployment) -> None:
    deployment = shared_docker_deployment
    wait_loaded(deployment)
    token_file = str(deployment.agent_token_file)
    run_id = launch(deployment, "snoop",
                    config={"ops": {"look_around": {"config": {"token_file": token_file}}}})
    run = wait_ended(deployment, run_id)
    assert run["status"] == "SUCCESS", run

    line = next(line for line in stdout(run).splitlines() if line.startswith("SNOOP "))
    seen = json.loads(line.removeprefix("SNOOP "))
    # the agent's token file is not in the container, nor the token in any environment it
    # can see, and only its own processes are: no agent process
    assert seen["token_file_exists"] is False
    assert seen["agent_token_in_any_environ"] is False
    assert not any("tether agent" in cmd or "AGENT" in cmd for cmd in seen["processes"])
    assert all("execute-run" in cmd or "docker-init" in cmd for cmd in seen["processes"]), \
        seen["processes"]
    # of Tether's settings it has only the restricted broker URL and the storage folder
    assert set(seen["tether_env"]) <= {"TETHER_REDIS_URL", "TETHER_STORAGE_DIR",
                                       "TETHER_LOG_LEVEL", "TETHER_LOG_FORMAT"}
    # and that broker URL is the run workers' ACL user, not the agent's
    assert seen["broker_user"].startswith("tether-run-worker")
    assert deployment.agent_token not in stdout(run)


