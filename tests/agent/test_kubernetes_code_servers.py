"""The supervisor with the kubernetes agent kind: a Deployment and a Service per location and
deploy generation, replaced blue/green on a redeploy, adopted by the next supervisor.

The Kubernetes API is a fake (tests/kubernetes_fake.py: no API server can run here) that the
real ``kubernetes`` client talks to over HTTP. It runs no pods, so the code server "behind"
every Service is a real code-server process this test starts on loopback for the location:
the supervisor loads the location's snapshot from it through the address it gives the
Service, as it would through the cluster's DNS.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tether.agent import Supervisor
from tether.agent._code_servers_kubernetes import KubernetesCodeServers, server_name
from tether.agent._kubernetes import KubernetesApi
from tether.agent._retries import Retries
from tether.broker import connect, keys
from tether.codeserver import code_server_command
from tether.wire import (
    AgentResult,
    DesiredLocation,
    LocationLoaded,
    LocationLoadFailed,
    LocationSpec,
)

from ..conftest import REPO, free_port
from ..kubernetes_fake import FakeKubernetes, fake_kubernetes

HELLO = LocationSpec(name="hello", module="hello.defs", image="registry.example/hello:v1",
                     working_directory=str(REPO / "examples" / "hello"),
                     env={"GREETING_SECRET": "s3cret"}, agent_kind="kubernetes")


@pytest.fixture
def kube() -> Iterator[FakeKubernetes]:
    yield from fake_kubernetes()


def start_code_server(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(code_server_command(msgspec.structs.replace(HELLO, env={}), port),
                            cwd=HELLO.working_directory, env=dict(os.environ))


@pytest.fixture
def code_server() -> Iterator[str]:
    """A real code server of the location, standing for the pods behind its Services."""
    port = free_port()
    process = start_code_server(port)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.asynccontextmanager
async def supervisor_on(broker_url: str, tmp_path: Path, kube: FakeKubernetes,
                        address: str, start_timeout: float = 20,
                        **options: Any) -> AsyncIterator[Supervisor]:
    redis = await connect(broker_url)
    api = KubernetesApi(api_url=kube.url, namespace="tether")
    servers = KubernetesCodeServers(api, agent_id="agent-1",
                                    base_env={"TETHER_AGENT_TOKEN": "agent-secret"},
                                    address=lambda name, namespace: address)
    supervisor = Supervisor(redis=redis, consumer="supervisor-test", base_env={},
                            log_dir=tmp_path / "code-servers", health_interval=0.2,
                            start_timeout=start_timeout, stop_servers_on_exit=False,
                            kubernetes=servers,
                            agent_kind="process", **options)
    stop = asyncio.Event()
    running = asyncio.ensure_future(supervisor.run(stop))
    try:
        yield supervisor
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=20)
        await api.close()
        await redis.aclose()


async def results(supervisor: Supervisor) -> list[AgentResult]:
    entries = await supervisor.redis.xrange(keys.OUT_RESULTS)
    return [msgspec.msgpack.decode(fields[keys.FIELD_MESSAGE], type=AgentResult)
            for _, fields in entries]


async def eventually(check: Any, timeout: float = 40.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s")


def names(kube: FakeKubernetes, resource: str) -> list[str]:
    return [obj["metadata"]["name"] for obj in kube.items(resource)]


async def count_loaded(supervisor: Supervisor, count: int) -> bool:
    return len([r for r in await results(supervisor) if isinstance(r, LocationLoaded)]) >= count


async def loaded(supervisor: Supervisor, generation: int) -> LocationLoaded | None:
    return next((r for r in await results(supervisor)
                 if isinstance(r, LocationLoaded) and r.generation == generation), None)


async def test_code_servers_are_deployments_replaced_on_redeploy_and_adopted_after_restart(
        broker_url: str, tmp_path: Path, kube: FakeKubernetes, code_server: str) -> None:
    first, second = server_name("hello", 1), server_name("hello", 2)
    async with supervisor_on(broker_url, tmp_path, kube, code_server) as supervisor:
        await supervisor.registry.desire(DesiredLocation(spec=HELLO, generation=1,
                                                         work_id="w-1", epoch=1))
        result = await eventually(lambda: loaded(supervisor, 1))
        assert "hello_job" in [job.name for job in result.snapshot.jobs]
        assert names(kube, "deployments") == names(kube, "services") == [first]

        deployment = kube.get("deployments", first)
        assert deployment is not None
        labels = {"app.kubernetes.io/managed-by": "tether", "tether.io/agent": "agent-1",
                  "tether.io/location": "hello", "tether.io/generation": "1"}
        assert deployment["metadata"]["labels"] == labels
        assert deployment["spec"]["selector"]["matchLabels"] == labels
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        [container] = pod["containers"]
        assert container["image"] == "registry.example/hello:v1"
        assert container["args"][:5] == ["python", "-m", "tether", "code-server", "serve"]
        assert container["args"][-4:] == ["--host", "0.0.0.0", "--port", "4000"]
        assert container["env"] == [{"name": "GREETING_SECRET", "value": "s3cret"}]
        service = kube.get("services", first)
        assert service is not None and service["spec"]["selector"] == labels
        assert service["spec"]["ports"][0]["port"] == 4000

        # a redeploy: the new generation's objects, then the old ones go
        await supervisor.registry.desire(DesiredLocation(spec=HELLO, generation=2,
                                                         work_id="w-2", epoch=1))
        await eventually(lambda: loaded(supervisor, 2))
        # the old Deployment goes first, then its Service
        await eventually(lambda: asyncio.sleep(0, names(kube, "deployments") == [second]
                                               and names(kube, "services") == [second]))
    created = len(kube.calls("POST", "deployments"))
    assert created == 2

    # what a supervisor that died left behind: a Deployment of an older generation
    stale = kube.get("deployments", second)
    assert stale is not None
    stale["metadata"]["name"] = first
    stale["metadata"]["labels"] = {**stale["metadata"]["labels"], "tether.io/generation": "1"}
    kube.put("deployments", stale)

    async with supervisor_on(broker_url, tmp_path, kube, code_server) as successor:
        served = await eventually(lambda: asyncio.sleep(0, successor.servers.get("hello")))
        assert served.record.generation == 2
        await eventually(lambda: asyncio.sleep(0, names(kube, "deployments") == [second]))
        await asyncio.sleep(0.5)  # some health checks
        assert successor.status()[0].running
    # adopted: nothing created again
    assert len(kube.calls("POST", "deployments")) == created


async def test_a_code_server_whose_image_cannot_be_pulled_fails_the_load_with_the_reason(
        broker_url: str, tmp_path: Path, kube: FakeKubernetes) -> None:
    # nothing answers at its address: its pod never started
    nowhere = f"127.0.0.1:{free_port()}"
    async with supervisor_on(broker_url, tmp_path, kube, nowhere) as supervisor:
        await supervisor.registry.desire(DesiredLocation(spec=HELLO, generation=1,
                                                         work_id="w-1", epoch=1))
        name = server_name("hello", 1)
        deployment = await eventually(lambda: asyncio.sleep(0, kube.get("deployments", name)))
        # the Deployment's pod, as the kubelet would show it
        pod = {"spec": {"template": deployment["spec"]["template"]},
               "metadata": {"name": name, "uid": deployment["metadata"]["uid"]}}
        kube.add_pod(pod, {"phase": "Pending", "containerStatuses": [{"name": "code-server",
                     "state": {"waiting": {"reason": "ImagePullBackOff",
                                           "message": "pull access denied"}}}]})
        failed = await eventually(lambda: _failed(supervisor))
    assert "ImagePullBackOff: pull access denied" in failed.error.message
    # the server that cannot start is not left behind
    assert names(kube, "deployments") == []


async def _failed(supervisor: Supervisor) -> LocationLoadFailed | None:
    return next((r for r in await results(supervisor) if isinstance(r, LocationLoadFailed)),
                None)


async def test_a_code_server_that_stops_answering_has_its_deployment_restarted(
        broker_url: str, tmp_path: Path, kube: FakeKubernetes) -> None:
    port = free_port()
    process = start_code_server(port)
    name = server_name("hello", 1)
    try:
        async with supervisor_on(broker_url, tmp_path, kube, f"127.0.0.1:{port}",
                                 retries=Retries(first=0.2),
                                 # a busy machine starts the fresh code server slowly
                                 start_timeout=60) as supervisor:
            await supervisor.registry.desire(DesiredLocation(spec=HELLO, generation=1,
                                                             work_id="w-1", epoch=1))
            await eventually(lambda: loaded(supervisor, 1))
            assert kube.calls("PUT", "deployments") == []
            uid = kube.get("deployments", name)["metadata"]["uid"]  # type: ignore[index]
            # its pod hangs (or dies): the supervisor restarts the Deployment, as `kubectl
            # rollout restart` does, and Kubernetes starts a fresh pod in its place
            process.terminate()
            process.wait(timeout=10)
            restart = (await eventually(
                lambda: asyncio.sleep(0, kube.calls("PUT", "deployments"))))[0]
            assert restart.path.endswith(f"/deployments/{name}")
            template = restart.body["spec"]["template"]["metadata"]
            assert "tether.io/restarted-at" in template["annotations"]
            process = start_code_server(port)  # the fresh pod
            # loaded again from the fresh pod
            await eventually(lambda: count_loaded(supervisor, 2), timeout=90)
            assert supervisor.status()[0].restarts == 1
        # the same Deployment all along, never deleted
        assert kube.calls("DELETE", "deployments") == []
        assert kube.get("deployments", name)["metadata"]["uid"] == uid  # type: ignore[index]
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_a_location_on_kubernetes_fails_to_load_on_an_agent_without_it(
        broker_url: str, tmp_path: Path) -> None:
    redis = await connect(broker_url)
    supervisor = Supervisor(redis=redis, consumer="supervisor-test", base_env={},
                            log_dir=tmp_path / "code-servers", health_interval=0.2)
    stop = asyncio.Event()
    running = asyncio.ensure_future(supervisor.run(stop))
    try:
        await supervisor.registry.desire(DesiredLocation(spec=HELLO, generation=1,
                                                         work_id="w-1", epoch=1))
        failed = await eventually(lambda: _failed(supervisor))
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=20)
        await redis.aclose()
    assert "runs on agent kind kubernetes, which this agent does not offer" in \
        failed.error.message
    assert supervisor.servers == {}


async def test_two_deployments_same_named_locations_get_code_servers_of_their_own(
        broker_url: str, tmp_path: Path, kube: FakeKubernetes, code_server: str) -> None:
    """prod's hello and staging's hello: a Deployment and Service each, named and labelled
    apart (prod's as before agents served several deployments, so an upgrade adopts them),
    neither selecting the other's pods; adopted each as its own, and removing staging's
    deletes only staging's."""
    prod, staging = server_name("hello", 1), server_name("hello", 1, "staging")
    # prod's name is the one an agent of one deployment gave it
    assert prod == f"tether-cs-hello-{hashlib.sha256(b'hello').hexdigest()[:6]}-g1"
    assert staging.startswith("tether-cs-staging-hello-") and staging.endswith("-g1")
    async with supervisor_on(broker_url, tmp_path, kube, code_server) as supervisor:
        for deployment in ("prod", "staging"):
            await supervisor.registry.desire(DesiredLocation(
                spec=HELLO, generation=1, work_id=f"w-{deployment}", epoch=1,
                deployment=deployment))
        await eventually(lambda: count_loaded(supervisor, 2))
        assert sorted(names(kube, "deployments")) == sorted(names(kube, "services")) == \
            sorted([prod, staging])
        ours = kube.get("deployments", staging)
        theirs = kube.get("deployments", prod)
        assert ours is not None and theirs is not None
        assert theirs["metadata"]["labels"] == {
            "app.kubernetes.io/managed-by": "tether", "tether.io/agent": "agent-1",
            "tether.io/location": "hello", "tether.io/generation": "1"}
        assert ours["metadata"]["labels"] == {
            "app.kubernetes.io/managed-by": "tether", "tether.io/agent": "agent-1",
            "tether.io/location": "staging-hello", "tether.io/deployment": "staging",
            "tether.io/generation": "1"}
        assert ours["metadata"]["annotations"]["tether.io/deployment-name"] == "staging"
        # no Service or Deployment selects the other deployment's pods
        for one, other in ((prod, staging), (staging, prod)):
            selector = kube.get("services", one)["spec"]["selector"]  # type: ignore[index]
            pods = kube.get("deployments", other)["spec"]["template"]  # type: ignore[index]
            assert not selector.items() <= pods["metadata"]["labels"].items(), (one, other)
        assert {(s.deployment, s.location) for s in supervisor.status()} == {
            ("prod", "hello"), ("staging", "hello")}
    created = len(kube.calls("POST", "deployments"))
    assert created == 2

    # a staging Deployment of an older generation, which a supervisor that died left behind
    stale = kube.get("deployments", staging)
    assert stale is not None
    stale["metadata"]["name"] = server_name("hello", 0, "staging")
    stale["metadata"]["labels"] = {**stale["metadata"]["labels"], "tether.io/generation": "0"}
    kube.put("deployments", stale)

    async with supervisor_on(broker_url, tmp_path, kube, code_server) as successor:
        # each adopted as its deployment's, the stale one deleted, nothing created again
        await eventually(lambda: asyncio.sleep(0, set(successor.servers) == {
            "hello", "staging/hello"}))
        await eventually(lambda: asyncio.sleep(0, sorted(names(kube, "deployments"))
                                               == sorted([prod, staging])))
        assert successor.servers["staging/hello"].record.deployment == "staging"
        assert len(kube.calls("POST", "deployments")) == created

        # staging's hello is removed: its objects go, prod's stay
        await successor.registry.undesire("staging/hello", 1)
        await eventually(lambda: asyncio.sleep(0, names(kube, "deployments") == [prod]
                                               and names(kube, "services") == [prod]))
        assert set(successor.servers) == {"hello"}
        await asyncio.sleep(0.5)  # some health checks
        assert [s.running for s in successor.status()] == [True]
