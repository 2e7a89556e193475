from __future__ import annotations

import msgspec

# where an agent runs a location's code server and runs: "process" (on the agent's host),
# "docker" (containers), "kubernetes" (a Deployment and a Job per run attempt)
AGENT_KINDS = ("process", "docker", "kubernetes")


class Toleration(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """A Kubernetes toleration of the pods of a location (see the Kubernetes docs' "Taints
    and Tolerations"): ``operator`` is "Equal" or "Exists"."""

    key: str = ""
    operator: str = "Equal"
    value: str = ""
    effect: str = ""
    toleration_seconds: int | None = None


class KubernetesOptions(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Where and how a location's pods run on Kubernetes (with the kubernetes agent kind):
    ``namespace`` and ``service_account`` default to the agent's."""

    namespace: str | None = None
    service_account: str | None = None
    node_selector: dict[str, str] = {}
    tolerations: list[Toleration] = []


class LocationSpec(msgspec.Struct, kw_only=True, frozen=True):
    """Where a code location's definitions live and how to run its code.

    Exactly one of ``module`` and ``python_file`` is set. ``python`` is the interpreter of the
    location's own virtualenv (empty: the agent's own interpreter). ``image`` is the container
    image its code server and runs use when the agent runs them in containers; ``agent_kind``
    overrides, for this location, the agent's kind (``TETHER_AGENT_KIND``): "process",
    "docker" or "kubernetes"; ``k8s`` says where and how its pods run on Kubernetes.
    """

    name: str
    module: str | None = None
    python_file: str | None = None
    working_directory: str | None = None
    python: str | None = None
    attribute: str = "defs"
    env: dict[str, str] = {}
    queue: str = "default"
    image: str | None = None
    agent_kind: str | None = None
    k8s: KubernetesOptions | None = None

    def __post_init__(self) -> None:
        if (self.module is None) == (self.python_file is None):
            raise ValueError(
                f"code location {self.name!r}: set exactly one of `module` and `python_file`"
            )
        if self.agent_kind is not None and self.agent_kind not in AGENT_KINDS:
            raise ValueError(f"code location {self.name!r}: agent_kind {self.agent_kind!r} is "
                             f"not one of {', '.join(AGENT_KINDS)}")


class DesiredLocation(msgspec.Struct, kw_only=True, frozen=True):
    """A location the agent's supervisors must serve, as the last work item about it said.

    ``work_id``/``epoch`` name the work item that a server of this ``generation`` completes
    once it answers; the supervisor that serves the location reports it.
    """

    spec: LocationSpec
    generation: int
    work_id: str = ""
    epoch: int = 0
    traceparent: str = ""
    # the deployment the location belongs to ("": the agent's only deployment)
    deployment: str = ""


class CodeServerRecord(msgspec.Struct, kw_only=True, frozen=True):
    """A code server process a supervisor started, kept in the agent's broker so that the
    next supervisor on the same host can adopt it (or stop it) after a restart."""

    location: str
    generation: int
    pid: int
    address: str
    host: str
    # its stdout and stderr go to this file, so it outlives the supervisor that started it
    log_path: str
    started_at: float
    # the deployment whose location it serves ("": the default deployment)
    deployment: str = ""
    # a server in a Docker container: its id (``pid`` is its main process's, seen from the
    # host; its output is the container's log, not ``log_path``)
    container_id: str = ""
