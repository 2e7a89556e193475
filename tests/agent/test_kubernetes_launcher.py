"""The launcher with the kubernetes agent kind: each run attempt becomes a Job, a cancel
deletes it, and a pod that cannot start (or dies) fails its run with the reason.

The Kubernetes API is a fake (tests/kubernetes_fake.py: no API server can run here) that the
real ``kubernetes`` client talks to over HTTP; the broker is a real Valkey and the control
plane's store a real SQLite database, so the runs are launched from, and fail in, the store
as they would in a deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis.asyncio as aioredis

from tether.agent import Launcher
from tether.agent import _target_kubernetes as target_module
from tether.agent._kubernetes import KubernetesApi
from tether.agent._target_kubernetes import KubernetesTarget
from tether.broker import keys, publish
from tether.control_plane.storage import RunStatus, Store
from tether.wire import (
    JobSnapshot,
    KubernetesOptions,
    LaunchRun,
    LoadLocation,
    LocationLoaded,
    LocationSnapshot,
    LocationSpec,
    RunLaunched,
    RunLaunchFailed,
    RunTerminated,
    RunWorkerExited,
    Toleration,
    WorkItem,
)

from ..kubernetes_fake import FakeKubernetes, fake_kubernetes
from ..streams import read_stream

SPEC = LocationSpec(
    name="etl", module="etl.defs", working_directory="/app", image="registry.example/etl:sha1",
    env={"WAREHOUSE_PASSWORD": "wh-secret"}, agent_kind="kubernetes",
    k8s=KubernetesOptions(service_account="etl-runner", node_selector={"pool": "batch"},
                          tolerations=[Toleration(key="dedicated", value="batch",
                                                  effect="NoSchedule")]))
TAGS = {"tether/cpu": "500m", "tether/memory": "512Mi", "team": "data"}
WORKER_URL = "redis://tether-run-worker-db0:run-secret@tether-redis:6379/0"
# what the agent's own environment holds; none of it but the log settings reaches a pod
AGENT_ENV = {"TETHER_AGENT_TOKEN": "agent-secret", "TETHER_REDIS_URL": "redis://agent@x/0",
             "TETHER_LOG_LEVEL": "DEBUG", "PATH": "/usr/bin", "HOSTNAME": "agent-pod"}


@pytest.fixture
def kube() -> Iterator[FakeKubernetes]:
    yield from fake_kubernetes()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store.from_url(f"sqlite:///{tmp_path / 'tether.db'}")
    store.migrate()
    yield store
    store.close()


def launch_work(store: Store, tags: dict[str, str] | None = None) -> tuple[str, WorkItem]:
    """Deploy the location, load it as an agent would, launch a run of its job and claim
    the LaunchRun the control plane made of it (with the run's tags)."""
    store.deploy_location(SPEC)
    [load] = store.claim_work("agent-1", ["default"], 10, 60)
    assert isinstance(load.payload, LoadLocation)
    store.store_results([LocationLoaded(
        work_id=load.work_id, epoch=load.epoch, location="etl",
        generation=load.payload.generation,
        snapshot=LocationSnapshot(location="etl", jobs=[JobSnapshot(name="etl_job")]))])
    run_id = store.launch_run("etl_job", tags=TAGS if tags is None else tags)
    [item] = store.claim_work("agent-1", ["default"], 10, 60)
    assert isinstance(item.payload, LaunchRun)
    return run_id, item


@contextlib.asynccontextmanager
async def launcher(broker_url: str, kube: FakeKubernetes) -> AsyncIterator[KubernetesTarget]:
    """A launcher of the kubernetes kind handling the work stream until the block ends."""
    kube.put("deployments", {"apiVersion": "apps/v1", "kind": "Deployment",
                             "metadata": {"name": "tether-launcher", "uid": "launcher-uid"}})
    client = aioredis.Redis.from_url(broker_url)
    api = KubernetesApi(api_url=kube.url, namespace="tether", owner="tether-launcher")
    target = KubernetesTarget(api, redis=client, agent_id="agent-1", redis_url=WORKER_URL,
                              base_env=AGENT_ENV, terminate_grace=7, ttl_seconds=600)
    target.check_interval = 0.1
    stop = asyncio.Event()
    running = asyncio.ensure_future(Launcher(
        redis=client, redis_url=WORKER_URL, agent_id="agent-1", consumer="launcher-a",
        base_env=AGENT_ENV, kinds={"kubernetes": target}, agent_kind="process",
        terminate_grace=7).run(stop))
    try:
        yield target
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=30)
        await client.aclose()


async def results(broker_url: str, kind: type, count: int = 1) -> list[Any]:
    """The first ``count`` results of type ``kind`` on the results stream, once there."""
    for _ in range(200):
        found = [r for r in read_stream(broker_url, keys.OUT_RESULTS) if isinstance(r, kind)]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {kind.__name__} reported: "
                         f"{read_stream(broker_url, keys.OUT_RESULTS)}")


async def test_a_launch_creates_one_job_per_attempt_with_the_locations_settings(
        broker_url: str, kube: FakeKubernetes, store: Store) -> None:
    run_id, item = launch_work(store)
    client = aioredis.Redis.from_url(broker_url)
    # delivered twice (a lease that ran out): one Job, reported launched twice
    redelivered = WorkItem(work_id=item.work_id, epoch=item.epoch + 1, lease_until=0.0,
                           payload=item.payload)
    async with launcher(broker_url, kube):
        await publish(client, keys.WORK_RUNS, [item])
        await results(broker_url, RunLaunched)
        await publish(client, keys.WORK_RUNS, [redelivered])
        launched = await results(broker_url, RunLaunched, 2)
    await client.aclose()

    [job] = kube.items("jobs")
    name = f"tether-run-{run_id}-1"
    assert job["metadata"]["name"] == name
    assert [r.kubernetes_job for r in launched] == [f"tether/{name}"] * 2
    assert [r.epoch for r in launched] == [item.epoch, item.epoch + 1]
    labels = job["metadata"]["labels"]
    assert labels == {"app.kubernetes.io/managed-by": "tether", "tether.io/agent": "agent-1",
                      "tether.io/location": "etl", "tether.io/run-id": run_id,
                      "tether.io/attempt": "1"}
    assert job["metadata"]["ownerReferences"] == [{
        "apiVersion": "apps/v1", "kind": "Deployment", "name": "tether-launcher",
        "uid": "launcher-uid", "blockOwnerDeletion": False}]
    assert job["spec"]["ttlSecondsAfterFinished"] == 600
    assert job["spec"]["backoffLimit"] == 0
    pod = job["spec"]["template"]
    assert pod["metadata"]["labels"] == labels
    assert pod["spec"]["serviceAccountName"] == "etl-runner"
    assert pod["spec"]["automountServiceAccountToken"] is False
    assert pod["spec"]["nodeSelector"] == {"pool": "batch"}
    assert pod["spec"]["tolerations"] == [{"key": "dedicated", "operator": "Equal",
                                           "value": "batch", "effect": "NoSchedule"}]
    [container] = pod["spec"]["containers"]
    assert container["image"] == "registry.example/etl:sha1"
    assert container["workingDir"] == "/app"
    assert container["resources"] == {"requests": {"cpu": "500m", "memory": "512Mi"},
                                      "limits": {"cpu": "500m", "memory": "512Mi"}}
    env = {var["name"]: var["value"] for var in container["env"]}
    assert env == {"WAREHOUSE_PASSWORD": "wh-secret", "TETHER_REDIS_URL": WORKER_URL,
                   "TETHER_LOG_LEVEL": "DEBUG", "TRACEPARENT": env["TRACEPARENT"]}
    assert "agent-secret" not in json.dumps(job)
    args = container["args"]
    assert args[:5] == ["python", "-m", "tether", "api", "execute-run"]
    launch = json.loads(args[-1])
    assert launch["run_id"] == run_id and launch["tags"] == TAGS
    # the location's env (secrets, often) is in the container's env only
    assert launch["location"]["env"] == {}
    assert store.get_run(run_id).status == RunStatus.STARTING  # type: ignore[union-attr]


async def test_a_cancel_deletes_the_job_with_the_grace_period(
        broker_url: str, kube: FakeKubernetes, store: Store,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(target_module, "MISSING_SECONDS", 0.5)
    run_id, item = launch_work(store)
    client = aioredis.Redis.from_url(broker_url)
    async with launcher(broker_url, kube):
        await publish(client, keys.WORK_RUNS, [item])
        await results(broker_url, RunLaunched)
        store.store_results(read_stream(broker_url, keys.OUT_RESULTS))
        store.terminate_run(run_id)
        [terminate] = [w for w in store.claim_work("agent-1", ["default"], 10, 60)]
        await publish(client, keys.WORK_RUNS, [terminate])
        [terminated] = await results(broker_url, RunTerminated)
        # the Job is gone, and its run worker reported nothing: its end is reported
        [exited] = await results(broker_url, RunWorkerExited)
    await client.aclose()

    assert terminated.found
    assert kube.items("jobs") == []
    [delete] = kube.calls("DELETE", "jobs")
    assert delete.path == f"/apis/batch/v1/namespaces/tether/jobs/tether-run-{run_id}-1"
    assert delete.body["gracePeriodSeconds"] == 7
    assert delete.body["propagationPolicy"] == "Foreground"
    assert exited.exit_code == 143 and "was deleted" in exited.stderr_tail


@pytest.mark.parametrize(("status", "reason"), [
    ({"phase": "Pending", "containerStatuses": [{"name": "run", "state": {"waiting": {
        "reason": "ImagePullBackOff",
        "message": 'Back-off pulling image "registry.example/etl:sha1"'}}}]},
     'could not start: ImagePullBackOff: Back-off pulling image "registry.example/etl:sha1"'),
    ({"phase": "Pending", "containerStatuses": [{"name": "run", "state": {"waiting": {
        "reason": "ErrImagePull", "message": "manifest unknown"}}}]},
     "could not start: ErrImagePull: manifest unknown"),
    ({"phase": "Failed", "containerStatuses": [{"name": "run", "state": {"terminated": {
        "exitCode": 137, "reason": "OOMKilled"}}}]},
     "was OOMKilled: it used more memory than its limit (tag tether/memory)"),
    ({"phase": "Failed", "reason": "Evicted",
      "message": "The node was low on resource: memory."},
     "was evicted: The node was low on resource: memory."),
])
async def test_a_pod_that_cannot_start_or_is_killed_fails_the_run_with_the_reason(
        broker_url: str, kube: FakeKubernetes, store: Store, status: dict[str, Any],
        reason: str) -> None:
    run_id, item = launch_work(store)
    client = aioredis.Redis.from_url(broker_url)
    async with launcher(broker_url, kube):
        await publish(client, keys.WORK_RUNS, [item])
        await results(broker_url, RunLaunched)
        [job] = kube.items("jobs")
        pod = kube.add_pod(job, status, log="loading 10 GB of rows\nKilled")
        [exited] = await results(broker_url, RunWorkerExited)
        # reported once, though the launcher keeps looking
        await asyncio.sleep(0.3)
        assert len([r for r in read_stream(broker_url, keys.OUT_RESULTS)
                    if isinstance(r, RunWorkerExited)]) == 1
    await client.aclose()

    assert exited.run_id == run_id and exited.exit_code == 137
    assert f"the run's pod {pod} {reason}" in exited.stderr_tail
    never_started = "could not start" in reason
    # a pod that will never start is not left retrying its pull: its Job goes
    assert (kube.items("jobs") == []) == never_started
    if not never_started:
        assert "Killed" in exited.stderr_tail  # the end of its output
    store.store_results(read_stream(broker_url, keys.OUT_RESULTS))
    run = store.get_run(run_id)
    assert run is not None and run.status == RunStatus.FAILURE
    assert run.error is not None and reason in (run.error.stack or "")


async def test_a_tag_that_is_no_quantity_fails_the_launch_naming_it(
        broker_url: str, kube: FakeKubernetes, store: Store) -> None:
    run_id, item = launch_work(store, tags={"tether/memory": "lots"})
    client = aioredis.Redis.from_url(broker_url)
    async with launcher(broker_url, kube):
        await publish(client, keys.WORK_RUNS, [item])
        await results(broker_url, RunLaunchFailed)
    await client.aclose()
    assert kube.items("jobs") == []
    store.store_results(read_stream(broker_url, keys.OUT_RESULTS))
    run = store.get_run(run_id)
    assert run is not None and run.status == RunStatus.FAILURE
    assert run.error is not None
    assert "tag tether/memory='lots' is not a Kubernetes quantity" in run.error.message


async def test_the_launcher_command_creates_jobs_whose_broker_user_is_restricted(
        broker_url: str, kube: FakeKubernetes, store: Store, tmp_path: Path) -> None:
    # the real `tether agent launcher`, configured as deploy/kubernetes configures it
    run_id, item = launch_work(store)
    location = msgspec.structs.replace(SPEC, agent_kind=None)
    item = WorkItem(work_id=item.work_id, epoch=item.epoch, lease_until=0.0,
                    payload=msgspec.structs.replace(item.payload, location=location))
    client = aioredis.Redis.from_url(broker_url)
    await publish(client, keys.WORK_RUNS, [item])
    await client.aclose()
    env = {**os.environ, "TETHER_REDIS_URL": broker_url, "TETHER_AGENT_ID": "agent-1",
           "TETHER_AGENT_KIND": "kubernetes", "TETHER_KUBERNETES_API_URL": kube.url,
           "TETHER_KUBERNETES_NAMESPACE": "tether", "TETHER_DATA_DIR": str(tmp_path),
           "TETHER_AGENT_TOKEN": "agent-secret"}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "tether", "agent", "launcher", "--burst"],
        env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

    [job] = kube.items("jobs")
    assert job["metadata"]["name"] == f"tether-run-{run_id}-1"
    [container] = job["spec"]["template"]["spec"]["containers"]
    env_vars = {var["name"]: var["value"] for var in container["env"]}
    # the run workers' broker user, which can only append their output: not the agent's URL
    assert env_vars["TETHER_REDIS_URL"] != broker_url
    assert "tether-run-worker" in env_vars["TETHER_REDIS_URL"]
    assert "agent-secret" not in json.dumps(job)
    [launched] = await results(broker_url, RunLaunched)
    assert launched.kubernetes_job == f"tether/tether-run-{run_id}-1"
