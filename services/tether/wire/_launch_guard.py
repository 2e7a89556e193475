"""Who holds a run attempt's launch: the value of its launch guard (``keys.launched_key``).

A launcher sets the guard with NX to :class:`Launching` before it starts the run worker, then
to :class:`StartedProcess`, :class:`EnqueuedJob`, :class:`StartedContainer` or
:class:`KubernetesJob` once it runs; :class:`Canceled` marks an attempt canceled before it
started. The guard is stored as the short text launchers have always written
(``launching:<token>``, ``pid:<agent>:<pid>``, ``rq:<agent>:<job id>``,
``docker:<agent>:<container id>``, ``k8s:<agent>:<namespace>/<job>``, ``canceled``), not as
JSON: guards live for days, so those set before an upgrade, and those a launcher of the
previous version writes during a rolling one, must read the same.
A text no known holder matches (a newer launcher's) decodes to :class:`UnknownHolder`,
which launchers leave alone, as they leave another's ``launching:`` guard.
"""

from __future__ import annotations

import msgspec


class Launching(msgspec.Struct, frozen=True, tag="launching"):
    # names the delivery that is starting the run worker (launcher consumer : entry id)
    token: str


class StartedProcess(msgspec.Struct, frozen=True, tag="pid"):
    agent_id: str
    pid: int


class EnqueuedJob(msgspec.Struct, frozen=True, tag="rq"):
    agent_id: str
    job_id: str


class StartedContainer(msgspec.Struct, frozen=True, tag="docker"):
    agent_id: str
    container_id: str


class KubernetesJob(msgspec.Struct, frozen=True, tag="k8s"):
    """A Kubernetes Job (``namespace/name``) that runs the attempt's run worker in a pod."""

    agent_id: str
    job: str


class Canceled(msgspec.Struct, frozen=True, tag="canceled"):
    pass


class UnknownHolder(msgspec.Struct, frozen=True, tag="unknown"):
    text: str


LaunchHolder = (Launching | StartedProcess | EnqueuedJob | StartedContainer | KubernetesJob
                | Canceled | UnknownHolder)
# a run worker that exists (or an RQ job that will run it)
StartedHolder = StartedProcess | EnqueuedJob | StartedContainer | KubernetesJob


def encode_holder(holder: LaunchHolder) -> str:
    match holder:
        case Launching(token=token):
            return f"launching:{token}"
        case StartedProcess(agent_id=agent_id, pid=pid):
            return f"pid:{agent_id}:{pid}"
        case EnqueuedJob(agent_id=agent_id, job_id=job_id):
            return f"rq:{agent_id}:{job_id}"
        case StartedContainer(agent_id=agent_id, container_id=container_id):
            return f"docker:{agent_id}:{container_id}"
        case KubernetesJob(agent_id=agent_id, job=job):
            return f"k8s:{agent_id}:{job}"
        case Canceled():
            return "canceled"
        case UnknownHolder(text=text):
            return text


def decode_holder(raw: bytes | str) -> LaunchHolder:
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    kind, _, rest = text.partition(":")
    if kind == "launching" and rest:
        return Launching(rest)
    if text == "canceled":
        return Canceled()
    # agent ids hold no colon; a job id may
    agent_id, colon, value = rest.partition(":")
    if kind == "pid" and colon and value.isdigit():
        return StartedProcess(agent_id, int(value))
    if kind == "rq" and colon and value:
        return EnqueuedJob(agent_id, value)
    if kind == "docker" and colon and value:
        return StartedContainer(agent_id, value)
    if kind == "k8s" and colon and value:
        return KubernetesJob(agent_id, value)
    return UnknownHolder(text)
