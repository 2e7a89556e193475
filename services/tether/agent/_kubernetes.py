"""The agent's seam to the Kubernetes API (the kubernetes agent kind): the few calls on Jobs,
Pods, Deployments and Services that the launcher and the supervisor make, through the
official ``kubernetes`` client.

The client is synchronous, so each call runs in a thread. Objects go out and come back as
plain JSON dicts (the API's own shape, camelCase), so what the agent writes reads as the
Kubernetes docs do. The client's errors are translated here, once: a refusal becomes
:class:`KubernetesError` with its status, an API that cannot be reached (or fails on its
side) :class:`KubernetesUnavailable`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from ..errors import ConfigError, KubernetesError, KubernetesUnavailable

T = TypeVar("T")

Kind = Literal["jobs", "pods", "deployments", "services"]
Propagation = Literal["Background", "Foreground", "Orphan"]

# what a pod running in a cluster finds about its service account
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")

# every object the agent creates carries these labels; its selectors find them by them
MANAGED_BY = "app.kubernetes.io/managed-by"
AGENT_LABEL = "tether.io/agent"
LOCATION_LABEL = "tether.io/location"
GENERATION_LABEL = "tether.io/generation"
# a code server of a deployment other than the default one (the default's carry none, as
# before agents served several)
DEPLOYMENT_LABEL = "tether.io/deployment"
RUN_LABEL = "tether.io/run-id"
ATTEMPT_LABEL = "tether.io/attempt"
# the exact location name and run id (label values are limited to 63 characters of a few kinds)
LOCATION_ANNOTATION = "tether.io/location-name"
DEPLOYMENT_ANNOTATION = "tether.io/deployment-name"
RUN_ANNOTATION = "tether.io/run-id"

_NOT_LABEL_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_NOT_NAME_SAFE = re.compile(r"[^a-z0-9-]+")


def label_value(text: str) -> str:
    """``text`` as a valid label value: at most 63 characters of ``[A-Za-z0-9_.-]`` that
    start and end alphanumeric."""
    return _NOT_LABEL_SAFE.sub("-", text)[:63].strip("-_.")


def object_name(*parts: str, limit: int = 63) -> str:
    """A DNS-1123 label made of ``parts`` (lowercase alphanumerics and '-'), at most
    ``limit`` characters: names of Jobs, Deployments and Services."""
    text = "-".join(_NOT_NAME_SAFE.sub("-", part.lower()) for part in parts)
    return re.sub("-+", "-", text)[:limit].strip("-")


def selector(labels: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def own_namespace() -> str:
    """The namespace of the pod this agent runs in, or "default" outside a cluster."""
    try:
        return (SERVICE_ACCOUNT_DIR / "namespace").read_text().strip() or "default"
    except OSError:
        return "default"


class KubernetesApi:
    """The calls the agent makes, in ``namespace`` unless a call names another. ``owner``
    names a Deployment in ``namespace`` that owns what the agent creates (so deleting the
    agent deletes its Jobs and code servers); "" for none."""

    def __init__(self, *, api_url: str = "", namespace: str = "", owner: str = "") -> None:
        from kubernetes import client, config

        configuration = client.Configuration()
        if api_url:
            configuration.host = api_url
        elif (SERVICE_ACCOUNT_DIR / "token").exists():
            config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration)
        else:
            try:
                config.load_kube_config(  # type: ignore[no-untyped-call]
                    client_configuration=configuration)
            except (config.ConfigException, OSError) as exc:
                raise ConfigError(
                    "TETHER_AGENT_KIND=kubernetes: no Kubernetes API to talk to: not in a "
                    "cluster, no kubeconfig, and TETHER_KUBERNETES_API_URL is not set "
                    f"({exc})") from exc
        self._client = client.ApiClient(configuration)
        self._core = client.CoreV1Api(self._client)
        self._batch = client.BatchV1Api(self._client)
        self._apps = client.AppsV1Api(self._client)
        self.namespace = namespace or own_namespace()
        self.owner = owner
        self._owner_references: list[dict[str, Any]] | None = None

    # -- objects ---------------------------------------------------------------------------

    async def create(self, kind: Kind, body: dict[str, Any],
                     namespace: str | None = None) -> dict[str, Any]:
        created: dict[str, Any] = await self._call(
            f"create {kind}", self._method("create", kind), namespace or self.namespace, body)
        return created

    async def get(self, kind: Kind, name: str,
                  namespace: str | None = None) -> dict[str, Any] | None:
        """The object, or None if there is none of that name."""
        try:
            found: dict[str, Any] = await self._call(
                f"read {kind}/{name}", self._method("read", kind), name,
                namespace or self.namespace)
            return found
        except KubernetesError as exc:
            if exc.status == 404:
                return None
            raise

    async def select(self, kind: Kind, labels: dict[str, str],
                   namespace: str | None = None) -> list[dict[str, Any]]:
        answer = await self._call(f"list {kind}", self._method("list", kind),
                                  namespace or self.namespace, label_selector=selector(labels))
        return list(answer.get("items") or [])

    async def replace(self, kind: Kind, name: str, body: dict[str, Any],
                      namespace: str | None = None) -> dict[str, Any]:
        replaced: dict[str, Any] = await self._call(
            f"replace {kind}/{name}", self._method("replace", kind), name,
            namespace or self.namespace, body)
        return replaced

    async def delete(self, kind: Kind, name: str, namespace: str | None = None, *,
                     grace_seconds: int | None = None,
                     propagation: Propagation = "Background") -> bool:
        """Delete the object (its dependents as ``propagation`` says, its pods stopped with
        ``grace_seconds`` between SIGTERM and SIGKILL); False if it was gone already."""
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions",
                                "propagationPolicy": propagation}
        if grace_seconds is not None:
            body["gracePeriodSeconds"] = grace_seconds
        try:
            await self._call(f"delete {kind}/{name}", self._method("delete", kind), name,
                             namespace or self.namespace, body=body)
        except KubernetesError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def pod_log(self, name: str, namespace: str | None = None, *,
                      tail_lines: int = 40) -> str:
        """The last lines of the pod's output ("" when it has none, or is gone)."""
        try:
            output: str = await self._call(
                f"read pods/{name}/log", self._core.read_namespaced_pod_log, name,
                namespace or self.namespace, tail_lines=tail_lines, text=True)
            return output
        except KubernetesError as exc:
            if exc.status in (400, 404):
                return ""
            raise

    async def owner_references(self) -> list[dict[str, Any]]:
        """The owner references of what the agent creates: its owner Deployment's, read once."""
        if not self.owner:
            return []
        if self._owner_references is None:
            owner = await self.get("deployments", self.owner)
            if owner is None:
                raise ConfigError(f"TETHER_KUBERNETES_OWNER={self.owner}: no Deployment of that "
                                  f"name in namespace {self.namespace}")
            self._owner_references = [{
                "apiVersion": "apps/v1", "kind": "Deployment", "name": self.owner,
                "uid": owner["metadata"]["uid"], "blockOwnerDeletion": False,
            }]
        return self._owner_references

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)

    # -- plumbing --------------------------------------------------------------------------

    def _method(self, verb: str, kind: Kind) -> Callable[..., Any]:
        api = {"jobs": self._batch, "pods": self._core, "deployments": self._apps,
               "services": self._core}[kind]
        singular = {"jobs": "job", "pods": "pod", "deployments": "deployment",
                    "services": "service"}[kind]
        method: Callable[..., Any] = getattr(api, f"{verb}_namespaced_{singular}")
        return method

    async def _call(self, what: str, method: Callable[..., Any], *args: Any,
                    text: bool = False, **kwargs: Any) -> Any:
        """``method(*args, **kwargs)`` in a thread, its answer as JSON (or text), its
        errors translated."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        def call() -> Any:
            response = method(*args, _preload_content=False, **kwargs)
            data = response.data.decode(errors="replace")
            if text:
                return data
            return json.loads(data) if data else {}

        try:
            return await asyncio.to_thread(call)
        except ApiException as exc:
            status = exc.status or 0
            reason = _reason(exc.body) or exc.reason or "no reason given"
            message = f"Kubernetes API: {what} failed ({status}): {reason}"
            if status == 0 or status >= 500:
                raise KubernetesUnavailable(message, status=status) from exc
            raise KubernetesError(message, status=status) from exc
        except (HTTPError, OSError) as exc:
            raise KubernetesUnavailable(f"Kubernetes API: {what}: cannot reach "
                                        f"{self._client.configuration.host}: {exc}") from exc


def _reason(body: object) -> str:
    """The message of a Kubernetes ``Status`` answer."""
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    if not isinstance(body, str) or not body:
        return ""
    try:
        status = json.loads(body)
    except ValueError:
        return body[:500]
    return str(status.get("message", "")) if isinstance(status, dict) else ""
