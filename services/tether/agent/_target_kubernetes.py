"""The Kubernetes launch target: each run attempt is a ``batch/v1`` Job whose one pod runs
``tether api execute-run`` in the location's image.

- The Job has a fixed name per attempt, so a redelivered launch creates nothing new (the API
  answers 409 and the existing Job is the launch). It carries the agent's labels (the
  agent, location, run and attempt), owner references (the agent's owner Deployment, so
  deleting the agent deletes its Jobs), ``ttlSecondsAfterFinished``, resource requests and
  limits from the run's tags ``tether/cpu`` and ``tether/memory``, and the node selector,
  tolerations, namespace and service account of the location's ``k8s`` options.
- The pod gets the location's env, the run workers' restricted broker URL and the trace
  context; none of the agent's settings (no agent token), and no Kubernetes API token.
- A cancel deletes the Job (``Foreground``: the Job stays until its pod is gone) with the
  grace period between the pod's SIGTERM and SIGKILL.
- No launcher watches a pod: every launcher polls the Jobs and pods of its agent (the Job
  monitor, :meth:`KubernetesTarget.ended_unreported`) and reports an exit the run worker
  could not (a pod that never started: ImagePullBackOff, ErrImagePull, ...; one OOMKilled or
  evicted; a Job deleted). Each Job is tracked in ``tether:k8s:jobs`` until one launcher
  claims its end (HDEL), as the RQ target does with its jobs.
"""

from __future__ import annotations

import logging
import math
import re
import time
from typing import Any

import msgspec
import redis.asyncio as aioredis

from ..broker import keys
from ..errors import BrokerUnavailable, KubernetesError, KubernetesUnavailable
from ..wire import (
    KubernetesJob,
    KubernetesOptions,
    LaunchHolder,
    LaunchRun,
    LocationSpec,
    RunWorkerExited,
    StartedHolder,
)
from ._kubernetes import (
    AGENT_LABEL,
    ATTEMPT_LABEL,
    LOCATION_ANNOTATION,
    LOCATION_LABEL,
    MANAGED_BY,
    RUN_ANNOTATION,
    RUN_LABEL,
    KubernetesApi,
    label_value,
    object_name,
)
from ._processes import PASSED_SETTINGS
from ._targets import LAST_OUTPUT_CHARS, Cancel, Started, redis_call

log = logging.getLogger(__name__)

CPU_TAG = "tether/cpu"
MEMORY_TAG = "tether/memory"
# a container waiting for one of these will not start without someone changing something
START_FAILURES = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName",
                            "ErrImageNeverPull", "CreateContainerConfigError",
                            "CreateContainerError"})
# a tracked Job not found this long after its launch was deleted (by a cancel, or by hand)
MISSING_SECONDS = 10.0
_EXIT_KILLED = 137
_EXIT_DELETED = 143
# a Kubernetes quantity: 500m, 2, 1.5, 512Mi, 2G, 1e9
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?([mkMGTPE]|[KMGTPE]i|e[0-9]+)?$")


class _Tracked(msgspec.Struct, frozen=True, array_like=True):
    run_id: str
    attempt: int
    launched_at: float


def job_name(run_id: str, attempt: int) -> str:
    return object_name("tether-run", run_id, str(attempt))


def resources(tags: dict[str, str]) -> dict[str, Any]:
    """The container's requests and limits (the same: the pod gets what it asks for) from the
    run's tags ``tether/cpu`` and ``tether/memory``; OSError names a tag that is no
    Kubernetes quantity."""
    wanted = {}
    for resource, tag in (("cpu", CPU_TAG), ("memory", MEMORY_TAG)):
        value = tags.get(tag, "").strip()
        if not value:
            continue
        if not _QUANTITY.match(value):
            raise OSError(f"tag {tag}={value!r} is not a Kubernetes quantity (e.g. "
                          f"{'500m or 2' if resource == 'cpu' else '512Mi or 2Gi'})")
        wanted[resource] = value
    return {"requests": wanted, "limits": wanted} if wanted else {}


def pod_placement(options: KubernetesOptions | None) -> dict[str, Any]:
    """The pod spec's service account, node selector and tolerations from the location's
    ``k8s`` options; its API token is never mounted (user code has no business there)."""
    spec: dict[str, Any] = {"automountServiceAccountToken": False}
    if options is None:
        return spec
    if options.service_account:
        spec["serviceAccountName"] = options.service_account
    if options.node_selector:
        spec["nodeSelector"] = dict(options.node_selector)
    if options.tolerations:
        spec["tolerations"] = [
            {key: value for key, value in {
                "key": toleration.key or None, "operator": toleration.operator,
                "value": toleration.value or None, "effect": toleration.effect or None,
                "tolerationSeconds": toleration.toleration_seconds}.items()
             if value is not None}
            for toleration in options.tolerations]
    return spec


def location_labels(agent_id: str, location: str) -> dict[str, str]:
    return {MANAGED_BY: "tether", AGENT_LABEL: label_value(agent_id),
            LOCATION_LABEL: label_value(location)}


def image_of(spec: LocationSpec, default: str) -> str:
    image = spec.image or default
    if not image:
        raise OSError(f"code location {spec.name!r} has no image: the kubernetes agent kind "
                      "runs it in a container; give the location an image (its spec's "
                      "`image`) or the agent TETHER_KUBERNETES_DEFAULT_IMAGE")
    return image


def container_env(base_env: dict[str, str], extra: dict[str, str]) -> list[dict[str, str]]:
    """A container's env: the agent's settings that user code may see (log level and
    format), then ``extra`` (the location's env, and what the run worker needs)."""
    env = {k: v for k, v in base_env.items() if k in PASSED_SETTINGS}
    env.update(extra)
    return [{"name": name, "value": value} for name, value in env.items()]


def job_manifest(launch: LaunchRun, traceparent: str, *, agent_id: str, redis_url: str,
                 image: str, ttl_seconds: int, base_env: dict[str, str],
                 owner_references: list[dict[str, Any]]) -> dict[str, Any]:
    """The Job of a run attempt."""
    spec = launch.location
    labels = {**location_labels(agent_id, spec.name), RUN_LABEL: label_value(launch.run_id),
              ATTEMPT_LABEL: str(launch.attempt)}
    annotations = {RUN_ANNOTATION: launch.run_id, LOCATION_ANNOTATION: spec.name}
    # the location's env goes in the container's env, not in its arguments
    public = msgspec.structs.replace(launch, location=msgspec.structs.replace(spec, env={}))
    container: dict[str, Any] = {
        "name": "run",
        "image": image,
        "args": [spec.python or "python", "-m", "tether", "api", "execute-run",
                 "--launch-json", msgspec.json.encode(public).decode()],
        "env": container_env(base_env, {**spec.env, "TETHER_REDIS_URL": redis_url,
                                        "TRACEPARENT": traceparent}),
        "resources": resources(launch.tags),
    }
    if spec.working_directory:
        container["workingDir"] = spec.working_directory
    metadata: dict[str, Any] = {"name": job_name(launch.run_id, launch.attempt),
                                "labels": labels, "annotations": annotations}
    if owner_references:
        metadata["ownerReferences"] = owner_references
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            # a run attempt runs once: a retry is a new attempt, which the control plane decides
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": ttl_seconds,
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": {"restartPolicy": "Never", "containers": [container],
                         **pod_placement(spec.k8s)},
            },
        },
    }


def pod_verdict(pod: dict[str, Any]) -> tuple[int, str, bool] | None:
    """How the pod ended: its exit code, what explains it, and whether it never started
    (then its Job is deleted); None while it runs or waits to."""
    name = pod.get("metadata", {}).get("name", "?")
    status = pod.get("status") or {}
    if status.get("reason") == "Evicted":
        return _EXIT_KILLED, f"the run's pod {name} was evicted: {status.get('message', '')}", \
            False
    for container in status.get("containerStatuses") or []:
        state = container.get("state") or {}
        waiting = state.get("waiting") or {}
        if waiting.get("reason") in START_FAILURES:
            return _EXIT_KILLED, (f"the run's pod {name} could not start: {waiting['reason']}: "
                                  f"{waiting.get('message', '')}").rstrip(": "), True
        terminated = state.get("terminated")
        if terminated:
            code = int(terminated.get("exitCode", _EXIT_KILLED))
            reason = terminated.get("reason", "")
            if reason == "OOMKilled":
                return code, (f"the run's pod {name} was OOMKilled: it used more memory than "
                              f"its limit (tag {MEMORY_TAG})"), False
            why = f" ({reason})" if reason and reason not in ("Completed", "Error") else ""
            return code, f"the run's pod {name} exited with code {code}{why}", False
    if status.get("phase") == "Failed":
        return _EXIT_KILLED, (f"the run's pod {name} failed: {status.get('reason', '')} "
                              f"{status.get('message', '')}").rstrip(), False
    return None


def job_verdict(job: dict[str, Any]) -> tuple[int, str] | None:
    """How a Job without pods ended (e.g. its deadline passed); None if it has not."""
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            return _EXIT_KILLED, (f"the run's Job failed: {condition.get('reason', '')}: "
                                  f"{condition.get('message', '')}")
    return None


class KubernetesTarget:
    # how often the Jobs and pods of this agent are looked at
    check_interval: float | None = 2.0

    def __init__(self, api: KubernetesApi, *, redis: aioredis.Redis, agent_id: str,
                 redis_url: str, base_env: dict[str, str], terminate_grace: float,
                 default_image: str = "", ttl_seconds: int = 3600) -> None:
        self.api = api
        self.redis = redis
        self.agent_id = agent_id
        # the broker URL run workers write their output with (a restricted user's)
        self.redis_url = redis_url
        self.base_env = base_env
        self.terminate_grace = terminate_grace
        self.default_image = default_image
        self.ttl_seconds = ttl_seconds
        # Jobs found missing, and since when (one look may race the Job's creation)
        self._missing: dict[str, float] = {}

    async def start(self, launch: LaunchRun, traceparent: str) -> Started:
        namespace = self._namespace(launch.location)
        manifest = job_manifest(
            launch, traceparent, agent_id=self.agent_id, redis_url=self.redis_url,
            image=image_of(launch.location, self.default_image), ttl_seconds=self.ttl_seconds,
            base_env=self.base_env,
            # an owner in another namespace would be one the garbage collector cannot find
            owner_references=(await self._owners() if namespace == self.api.namespace
                              else []))
        name = manifest["metadata"]["name"]
        job = f"{namespace}/{name}"
        # tracked before it exists, so no Job can end unnoticed
        await redis_call(self.redis.hsetnx(keys.K8S_JOBS, job, msgspec.msgpack.encode(
            _Tracked(launch.run_id, launch.attempt, time.time()))))
        try:
            await self.api.create("jobs", manifest, namespace)
        except KubernetesUnavailable as exc:
            raise BrokerUnavailable(str(exc)) from exc
        except KubernetesError as exc:
            if exc.status != 409:
                await redis_call(self.redis.hdel(keys.K8S_JOBS, job))
                raise OSError(str(exc)) from exc
            # a redelivered launch: the Job of this attempt exists, and is the launch
            log.info("Job %s exists already: it is the launch of run %s attempt %d", job,
                     launch.run_id, launch.attempt)
        return Started(KubernetesJob(self.agent_id, job))

    def adopt(self, launch: LaunchRun, pid: int) -> StartedHolder | None:
        # the attempt's Job has a fixed name: a redelivered launch creates nothing new
        return None

    async def cancel(self, run_id: str, attempt: int, holder: LaunchHolder | None) -> Cancel:
        if not isinstance(holder, KubernetesJob):
            return Cancel(found=False)
        namespace, _, name = holder.job.partition("/")
        try:
            found = await self.api.delete("jobs", name, namespace,
                                          grace_seconds=math.ceil(self.terminate_grace),
                                          propagation="Foreground")
        except KubernetesUnavailable as exc:
            raise BrokerUnavailable(str(exc)) from exc
        log.info("deleted Job %s of run %s attempt %d (grace %g s)", holder.job, run_id,
                 attempt, self.terminate_grace)
        return Cancel(found=found)

    async def ended_unreported(self) -> list[RunWorkerExited]:
        """The ends of this agent's tracked Jobs that no run worker could report, each
        claimed by this call alone (no other launcher reports it too)."""
        stored = await redis_call(self.redis.hgetall(keys.K8S_JOBS))
        tracked = {_text(job): msgspec.msgpack.decode(
                       value if isinstance(value, bytes) else value.encode(), type=_Tracked)
                   for job, value in stored.items()}
        if not tracked:
            return []
        try:
            return await self._ended(tracked)
        except KubernetesError as exc:
            log.warning("cannot look at the Jobs of this agent: %s", exc)
            return []

    async def _ended(self, tracked: dict[str, _Tracked]) -> list[RunWorkerExited]:
        selector = {AGENT_LABEL: label_value(self.agent_id)}
        jobs: dict[str, dict[str, Any]] = {}
        pods: dict[str, list[dict[str, Any]]] = {}
        for namespace in sorted({job.partition("/")[0] for job in tracked}):
            for found in await self.api.select("jobs", selector, namespace):
                jobs[f"{namespace}/{found['metadata']['name']}"] = found
            for pod in await self.api.select("pods", selector, namespace):
                owner = pod.get("metadata", {}).get("labels", {}).get("job-name") or next(
                    (ref["name"] for ref in pod["metadata"].get("ownerReferences") or []
                     if ref.get("kind") == "Job"), "")
                pods.setdefault(f"{namespace}/{owner}", []).append(pod)
        now = time.time()
        exits = []
        for job, about in tracked.items():
            ended = await self._verdict(job, jobs.get(job), pods.get(job, []), about, now)
            if ended is None:
                continue
            code, why, never_started = ended
            if not await redis_call(self.redis.hdel(keys.K8S_JOBS, job)):
                continue  # another launcher reports it
            self._missing.pop(job, None)
            if never_started:
                namespace, _, name = job.partition("/")
                await self.api.delete("jobs", name, namespace, grace_seconds=0)
            exits.append(RunWorkerExited(run_id=about.run_id, attempt=about.attempt,
                                         exit_code=code, stderr_tail=why[-LAST_OUTPUT_CHARS:]))
        return exits

    async def _verdict(self, job: str, found: dict[str, Any] | None, pods: list[dict[str, Any]],
                       about: _Tracked, now: float) -> tuple[int, str, bool] | None:
        if found is None:
            since = self._missing.setdefault(job, now)
            if now - since < MISSING_SECONDS or now - about.launched_at < MISSING_SECONDS:
                return None
            return _EXIT_DELETED, f"the run's Job {job} was deleted (canceled, or by hand)", False
        self._missing.pop(job, None)
        for pod in pods:
            verdict = pod_verdict(pod)
            if verdict is None:
                continue
            code, why, never_started = verdict
            if code != 0 and not never_started:
                namespace = job.partition("/")[0]
                output = await self.api.pod_log(pod["metadata"]["name"], namespace)
                why = f"{why}\n{output}".rstrip() if output else why
            return code, why, never_started
        if not pods:
            failed = job_verdict(found)
            if failed is not None:
                return (*failed, False)
        return None

    def _namespace(self, spec: LocationSpec) -> str:
        return (spec.k8s.namespace if spec.k8s and spec.k8s.namespace
                else self.api.namespace)

    async def _owners(self) -> list[dict[str, Any]]:
        try:
            return await self.api.owner_references()
        except KubernetesUnavailable as exc:
            raise BrokerUnavailable(str(exc)) from exc
        except KubernetesError as exc:
            raise OSError(str(exc)) from exc

    async def close(self) -> None:
        await self.api.close()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
