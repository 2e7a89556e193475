"""Code servers on Kubernetes (the kubernetes agent kind): a Deployment and a Service per
served location (a deployment's location) and deploy generation, in the location's image.

Each generation has its own Deployment and Service (``tether-cs-<location>-<hash>-g<n>``;
``tether-cs-<deployment>-<location>-<hash>-g<n>`` for a deployment other than the default
one), labelled with the agent, the location and the generation (and the deployment, but for
the default one: its objects keep the names and labels they had before agents served several
deployments, so an upgraded supervisor adopts them), so the supervisor's blue/green
switch reads as it does for processes: the new generation's objects are created, the
supervisor switches to them once their code server answers through the Service, then deletes
the old generation's. A supervisor that starts finds the objects of the generation it must
serve by their labels and adopts them (Kubernetes keeps their pod running meanwhile), and
deletes those of other generations. Kubernetes restarts a code server that dies; the
supervisor's health checks (gRPC Ping through the Service) decide when one is replaced.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ..broker import keys
from ..codeserver import CodeServerClient, PingInfo
from ..errors import CodeServerError, KubernetesError
from ..wire import DEFAULT_DEPLOYMENT, CodeServerRecord, LocationSpec
from ._code_servers import CodeServer
from ._kubernetes import (
    AGENT_LABEL,
    DEPLOYMENT_ANNOTATION,
    DEPLOYMENT_LABEL,
    GENERATION_LABEL,
    LOCATION_ANNOTATION,
    LOCATION_LABEL,
    Kind,
    KubernetesApi,
    label_value,
    object_name,
)
from ._target_kubernetes import (
    START_FAILURES,
    container_env,
    image_of,
    location_labels,
    pod_placement,
)

log = logging.getLogger(__name__)

# the port code servers listen on in their pods, and their Services expose
CODE_SERVER_PORT = 4000
# changed in a Deployment's pod template to have it start a fresh pod
RESTARTED_ANNOTATION = "tether.io/restarted-at"


def _default(deployment: str) -> bool:
    return deployment in ("", DEFAULT_DEPLOYMENT)


def server_name(location: str, generation: int, deployment: str = DEFAULT_DEPLOYMENT) -> str:
    """The name of the Deployment and Service of a served location's generation (a hash of
    the exact served location keeps two that read alike once made DNS-safe apart)."""
    served = keys.served_location(deployment, location)
    digest = hashlib.sha256(served.encode()).hexdigest()[:6]
    if _default(deployment):
        return object_name("tether-cs", location[:40], digest, f"g{generation}")
    return object_name("tether-cs", deployment[:16], location[:23], digest, f"g{generation}")


def service_address(name: str, namespace: str) -> str:
    """Where the supervisor reaches a code server: its Service's cluster DNS name."""
    return f"{name}.{namespace}.svc:{CODE_SERVER_PORT}"


def served_labels(agent_id: str, location: str, deployment: str) -> dict[str, str]:
    """The labels of a served location's code servers: those of the location for the
    default deployment; for another, its location label is the served location's (so that
    no selector of the default deployment's same-named location selects its pods) and it
    carries the deployment."""
    if _default(deployment):
        return location_labels(agent_id, location)
    return {**location_labels(agent_id, keys.served_location(deployment, location)),
            DEPLOYMENT_LABEL: label_value(deployment)}


def server_labels(agent_id: str, location: str, generation: int,
                  deployment: str = DEFAULT_DEPLOYMENT) -> dict[str, str]:
    return {**served_labels(agent_id, location, deployment),
            GENERATION_LABEL: str(generation)}


def deployment_manifest(spec: LocationSpec, generation: int, *, agent_id: str, image: str,
                        base_env: dict[str, str],
                        owner_references: list[dict[str, Any]],
                        deployment: str = DEFAULT_DEPLOYMENT) -> dict[str, Any]:
    labels = server_labels(agent_id, spec.name, generation, deployment)
    # the location's env goes in the container's env, not in its arguments
    public = msgspec.structs.replace(spec, env={})
    container: dict[str, Any] = {
        "name": "code-server",
        "image": image,
        "args": [spec.python or "python", "-m", "tether", "code-server", "serve",
                 "--location-json", msgspec.json.encode(public).decode(),
                 "--host", "0.0.0.0", "--port", str(CODE_SERVER_PORT)],
        "env": container_env(base_env, dict(spec.env)),
        "ports": [{"name": "grpc", "containerPort": CODE_SERVER_PORT}],
        "readinessProbe": {"tcpSocket": {"port": CODE_SERVER_PORT}, "periodSeconds": 2},
    }
    if spec.working_directory:
        container["workingDir"] = spec.working_directory
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(spec, generation, labels, owner_references, deployment),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [container], **pod_placement(spec.k8s)},
            },
        },
    }


def service_manifest(spec: LocationSpec, generation: int, *, agent_id: str,
                     owner_references: list[dict[str, Any]],
                     deployment: str = DEFAULT_DEPLOYMENT) -> dict[str, Any]:
    labels = server_labels(agent_id, spec.name, generation, deployment)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(spec, generation, labels, owner_references, deployment),
        "spec": {"selector": labels,
                 "ports": [{"name": "grpc", "port": CODE_SERVER_PORT,
                            "targetPort": CODE_SERVER_PORT}]},
    }


def _metadata(spec: LocationSpec, generation: int, labels: dict[str, str],
              owner_references: list[dict[str, Any]], deployment: str) -> dict[str, Any]:
    annotations = {LOCATION_ANNOTATION: spec.name}
    if not _default(deployment):
        annotations[DEPLOYMENT_ANNOTATION] = deployment
    metadata: dict[str, Any] = {"name": server_name(spec.name, generation, deployment),
                                "labels": labels, "annotations": annotations}
    if owner_references:
        metadata["ownerReferences"] = owner_references
    return metadata


class PodLog:
    """The end of a code server pod's output, fetched when the server failed to start."""

    def __init__(self) -> None:
        self.text = ""

    def tail(self) -> str:
        return self.text

    async def close(self, *, delete: bool) -> None:
        pass


@dataclass(eq=False)
class KubernetesCodeServer(CodeServer):
    """A location's code server as a Deployment and Service (``record.pid`` is 0: the
    server's process is in its pod)."""

    servers: KubernetesCodeServers | None = None
    namespace: str = ""
    # None: the pod runs (or Kubernetes restarts it); else why it will not start
    start_failure: str | None = field(default=None)

    @property
    def alive(self) -> bool:
        return self.start_failure is None

    def served_by(self, ping: PingInfo) -> bool:
        return ping.location == self.name

    def exit_description(self) -> str:
        return f"cannot start: {self.start_failure}" if self.start_failure else "is gone"

    async def stop(self, grace: float = 5.0) -> None:
        await self.client.close()
        if self.servers is not None:
            await self.servers.delete(
                server_name(self.name, self.record.generation, self.record.deployment),
                self.namespace, grace)


class KubernetesCodeServers:
    """Creates, finds and deletes the code servers of an agent's locations."""

    def __init__(self, api: KubernetesApi, *, agent_id: str, base_env: dict[str, str],
                 default_image: str = "",
                 address: Callable[[str, str], str] = service_address) -> None:
        self.api = api
        self.agent_id = agent_id
        self.base_env = base_env
        self.default_image = default_image
        # where a Service is reached (a test reaches its fake Services on loopback)
        self.address = address

    def namespace_of(self, spec: LocationSpec) -> str:
        return spec.k8s.namespace if spec.k8s and spec.k8s.namespace else self.api.namespace

    def _handle(self, spec: LocationSpec, generation: int, deployment: str, namespace: str,
                started_at: float) -> KubernetesCodeServer:
        name = server_name(spec.name, generation, deployment)
        address = self.address(name, namespace)
        record = CodeServerRecord(location=spec.name, generation=generation, pid=0,
                                  address=address, host=f"kubernetes:{namespace}",
                                  log_path="", started_at=started_at, deployment=deployment)
        return KubernetesCodeServer(record=record, client=CodeServerClient(address),
                                    log=PodLog(), servers=self, namespace=namespace)

    async def start(self, spec: LocationSpec, generation: int,
                    deployment: str = DEFAULT_DEPLOYMENT) -> KubernetesCodeServer:
        """Create the Deployment and Service of ``spec``'s ``generation`` in ``deployment``
        (the deployment whose location ``spec`` is). When they exist
        (the generation's server is restarted: it hung, or its code failed to load and is
        loaded again), its Deployment is restarted as ``kubectl rollout restart`` does: a
        changed pod template makes it start a fresh pod."""
        namespace = self.namespace_of(spec)
        try:
            image = image_of(spec, self.default_image)
        except OSError as exc:
            raise CodeServerError(f"cannot start the code server of {spec.name}: {exc}") from exc
        owners = await self.api.owner_references() if namespace == self.api.namespace else []
        service = service_manifest(spec, generation, agent_id=self.agent_id,
                                   owner_references=owners, deployment=deployment)
        manifest = deployment_manifest(spec, generation, agent_id=self.agent_id, image=image,
                                       base_env=self.base_env, owner_references=owners,
                                       deployment=deployment)
        objects: tuple[tuple[Kind, dict[str, Any]], ...] = (
            ("services", service), ("deployments", manifest))
        for kind, body in objects:
            try:
                await self.api.create(kind, body, namespace)
            except KubernetesError as exc:
                if exc.status != 409:
                    raise CodeServerError(f"cannot start the code server of {spec.name}: "
                                          f"{exc}") from exc
                if kind == "deployments":
                    await self._restart(body["metadata"]["name"], namespace)
        served = keys.served_location(deployment, spec.name)
        log.info("created Deployment and Service %s/%s for code location %s (deploy %d)",
                 namespace, server_name(spec.name, generation, deployment), served, generation)
        return self._handle(spec, generation, deployment, namespace, time.time())

    async def _restart(self, name: str, namespace: str) -> None:
        found = await self.api.get("deployments", name, namespace)
        if found is None:
            return
        template = found["spec"]["template"].setdefault("metadata", {})
        template.setdefault("annotations", {})[RESTARTED_ANNOTATION] = str(time.time())
        await self.api.replace("deployments", name, found, namespace)

    async def adopt(self, spec: LocationSpec, generation: int,
                    deployment: str = DEFAULT_DEPLOYMENT) -> KubernetesCodeServer | None:
        """The code server of ``spec``'s ``generation`` in ``deployment`` if its Deployment
        exists (a previous supervisor's); its health is checked next, like any server's."""
        namespace = self.namespace_of(spec)
        found = await self.api.get("deployments",
                                   server_name(spec.name, generation, deployment), namespace)
        if found is None or not self._serves(found, spec.name, deployment):
            return None
        log.info("adopted the code server of %s (Deployment %s/%s)",
                 keys.served_location(deployment, spec.name), namespace,
                 found["metadata"]["name"])
        return self._handle(spec, generation, deployment, namespace, 0.0)

    def _serves(self, found: dict[str, Any], location: str, deployment: str) -> bool:
        """Whether ``found`` is a code server of this agent for ``location`` of
        ``deployment`` (by its annotations: labels of two names can read the same)."""
        metadata = found["metadata"]
        annotations = metadata.get("annotations", {})
        return bool(metadata.get("labels", {}).get(AGENT_LABEL) == label_value(self.agent_id)
                and annotations.get(LOCATION_ANNOTATION, location) == location
                and annotations.get(DEPLOYMENT_ANNOTATION, DEFAULT_DEPLOYMENT)
                == (deployment or DEFAULT_DEPLOYMENT))

    async def stop_others(self, location: str, namespace: str, *, keep: int | None,
                          deployment: str = DEFAULT_DEPLOYMENT) -> None:
        """Delete the code servers of ``location`` of ``deployment`` in ``namespace`` of any
        generation but ``keep`` (those of earlier deploys a supervisor that died left
        behind; all of them for None). Another deployment's are left alone."""
        labels = {AGENT_LABEL: label_value(self.agent_id),
                  LOCATION_LABEL: served_labels(self.agent_id, location,
                                                deployment)[LOCATION_LABEL]}
        for found in await self.api.select("deployments", labels, namespace):
            metadata = found["metadata"]
            if LOCATION_ANNOTATION not in metadata.get("annotations", {}) or \
                    not self._serves(found, location, deployment):
                continue  # another location whose name reads the same as a label
            if keep is not None and metadata["labels"].get(GENERATION_LABEL) == str(keep):
                continue
            log.info("deleting the code server %s/%s of %s: not the deploy served",
                     namespace, metadata["name"], keys.served_location(deployment, location))
            await self.delete(metadata["name"], namespace, 0)

    async def wait_ready(self, server: KubernetesCodeServer, timeout: float) -> bool:
        """True once the server answers through its Service as the location's server; False
        if ``timeout`` passes first, or its pod cannot start (its log then says why)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            try:
                if server.served_by(await server.client.ping(timeout=2.0)):
                    return True
            except CodeServerError:
                pass
            failure = await self._start_failure(server)
            if failure is not None:
                server.start_failure = failure
                assert isinstance(server.log, PodLog)
                server.log.text = failure
                return False
            await asyncio.sleep(0.5)
        return False

    async def _start_failure(self, server: KubernetesCodeServer) -> str | None:
        """Why the server's pod will not start (e.g. ImagePullBackOff), if it will not."""
        labels = server_labels(self.agent_id, server.name, server.record.generation,
                               server.record.deployment)
        for pod in await self.api.select("pods", labels, server.namespace):
            for status in (pod.get("status") or {}).get("containerStatuses") or []:
                waiting = (status.get("state") or {}).get("waiting") or {}
                if waiting.get("reason") in START_FAILURES:
                    return (f"pod {pod['metadata']['name']}: {waiting['reason']}: "
                            f"{waiting.get('message', '')}").rstrip(": ")
        return None

    async def delete(self, name: str, namespace: str, grace: float) -> None:
        await self.api.delete("deployments", name, namespace, grace_seconds=int(grace))
        await self.api.delete("services", name, namespace)
