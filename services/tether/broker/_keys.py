"""The whole Redis layout of an agent: streams, consumer groups and keys, in one place.

    tether:work:runs        poller → launchers       WorkItem (LaunchRun, TerminateRun,
                                                     GrantSlot)
    tether:work:code        poller → supervisors     WorkItem (LoadLocation)
    tether:out:events       run workers → uploaders  RunEvent
    tether:out:logs         run workers → uploaders  LogChunk
    tether:out:results      launchers, supervisors → uploaders   AgentResult
    tether:out:spans        run workers → uploaders  SpanBatch (only while traces are exported)
    tether:dead-letters     any consumer             DeadLetter
    tether:launched:<run>:<attempt>   SET NX guard: a run attempt is launched once
    tether:canceled:<run>:<attempt>   set by a termination: the attempt must not start
    tether:deployment:<run>:<attempt> the deployment of a run attempt launched for one, so
                                      an exit no launcher watched is reported with its token
    tether:executing:<run>:<attempt>  SET NX by the run worker: an attempt executes once
    tether:slot:<run>:<attempt>:<step>  set by a launcher on the control plane's GrantSlot:
                                      the step may take its pool's slot (the run worker asks
                                      EXISTS)
    tether:acl:run-worker             the password of the run workers' ACL user (see _acl)
    tether:acl:rq-worker              the password of the RQ workers' ACL user
    tether:worker:<consumer>          a worker's WorkerStatus, refreshed every few seconds
    tether:rq:jobs                    hash: the RQ job id of each run attempt on RQ, until its
                                      exit is reported (the RQ run-launcher backend)
    tether:rq:alive:<job id>          refreshed by the run worker while an RQ job executes
    tether:code:desired               hash: served location → DesiredLocation, written by the
                                      supervisor that handles its LoadLocation/RemoveLocation
    tether:code:servers               hash: "<host>:<pid>" → CodeServerRecord of each code
                                      server a supervisor started (adopted after a restart)
    tether:code:owner:<served location>  the consumer of the supervisor serving the location;
                                      expires unless renewed, so another one takes over

A served location is a location of one deployment (:func:`served_location`): its name in the
default deployment, as before agents served several, ``<deployment>/<name>`` in the others.
    tether:agent:deployments          hash: deployment → fingerprint of the agent token that
                                      serves it, as the control plane last answered that
                                      token's heartbeat (written by the pollers)

Each stream entry holds the msgpack of one message under ``m``, a W3C ``traceparent`` under
``tp`` and, in an agent serving several deployments, the deployment of the work it comes from
under ``d`` (absent: the agent's first token's deployment).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..wire import (
    DEFAULT_DEPLOYMENT,
    AgentResult,
    DeadLetter,
    LogChunk,
    RunEvent,
    SpanBatch,
    WorkItem,
)

WORK_RUNS: Final = "tether:work:runs"
WORK_CODE: Final = "tether:work:code"
OUT_EVENTS: Final = "tether:out:events"
OUT_LOGS: Final = "tether:out:logs"
OUT_RESULTS: Final = "tether:out:results"
OUT_SPANS: Final = "tether:out:spans"
DEAD_LETTERS: Final = "tether:dead-letters"

GROUP_LAUNCHERS: Final = "launchers"
GROUP_SUPERVISORS: Final = "supervisors"
GROUP_UPLOADERS: Final = "uploaders"

# the message type each stream carries (the union a consumer of it decodes)
MESSAGE_TYPES: Final[Mapping[str, Any]] = {
    WORK_RUNS: WorkItem,
    WORK_CODE: WorkItem,
    OUT_EVENTS: RunEvent,
    OUT_LOGS: LogChunk,
    OUT_RESULTS: AgentResult,
    OUT_SPANS: SpanBatch,
    DEAD_LETTERS: DeadLetter,
}

FIELD_MESSAGE: Final = b"m"
FIELD_TRACEPARENT: Final = b"tp"
FIELD_DEPLOYMENT: Final = b"d"

AGENT_DEPLOYMENTS: Final = "tether:agent:deployments"

# how long the launch guard of a run attempt is kept: far longer than any redelivery
LAUNCH_GUARD_SECONDS: Final = 7 * 24 * 3600


def launched_key(run_id: str, attempt: int) -> str:
    return f"tether:launched:{run_id}:{attempt}"


def worker_status_key(consumer: str) -> str:
    return f"tether:worker:{consumer}"


def executing_key(run_id: str, attempt: int) -> str:
    return f"tether:executing:{run_id}:{attempt}"


# every attempt's executing key: run workers may set these, and no other key
EXECUTING_KEYS: Final = "tether:executing:*"

ACL_RUN_WORKER_PASSWORD: Final = "tether:acl:run-worker"
ACL_RQ_WORKER_PASSWORD: Final = "tether:acl:rq-worker"


def deployment_key(run_id: str, attempt: int) -> str:
    return f"tether:deployment:{run_id}:{attempt}"


def canceled_key(run_id: str, attempt: int) -> str:
    return f"tether:canceled:{run_id}:{attempt}"


CANCELED_KEYS: Final = "tether:canceled:*"


def slot_key(run_id: str, attempt: int, step_key: str) -> str:
    return f"tether:slot:{run_id}:{attempt}:{step_key}"


SLOT_KEYS: Final = "tether:slot:*"


RQ_JOBS: Final = "tether:rq:jobs"
# the run worker of an RQ job refreshes its key every RQ_ALIVE_INTERVAL; a key gone for
# RQ_ALIVE_SECONDS means its RQ worker was lost
RQ_ALIVE_INTERVAL: Final = 1.0
RQ_ALIVE_SECONDS: Final = 10


def rq_queue(queue: str) -> str:
    """The RQ queue of the run attempts of an agent queue."""
    return f"tether.runs.{queue}"


def rq_job_id(run_id: str, attempt: int) -> str:
    """One RQ job per run attempt: a redelivered launch finds it and enqueues nothing."""
    return f"tether-run-{run_id}-{attempt}"


def rq_alive_key(job_id: str) -> str:
    return f"tether:rq:alive:{job_id}"


RQ_ALIVE_KEYS: Final = "tether:rq:alive:*"
# RQ's own keys and channels (its default RQ_KEY_PREFIX)
RQ_KEYS: Final = "rq:*"


# the Kubernetes Jobs (namespace/name) of run attempts whose end no launcher reported yet
K8S_JOBS: Final = "tether:k8s:jobs"


CODE_DESIRED: Final = "tether:code:desired"
CODE_SERVERS: Final = "tether:code:servers"
# a supervisor renews its locations' ownership every second; one that died for longer than
# this loses them to another supervisor (or to its own successor, which adopts its servers)
CODE_OWNER_SECONDS: Final = 4.0


def code_owner_key(location: str) -> str:
    """The owner key of a served location (:func:`served_location`)."""
    return f"tether:code:owner:{location}"


def served_location(deployment: str, location: str) -> str:
    """What the supervisors know location ``location`` of ``deployment`` by: two deployments
    may each have a location of the same name, with their own code. A location of the
    default deployment (or of none: entries written before agents served several) keeps its
    own name, so code servers started before survive the upgrade; the others are
    ``<deployment>/<location>`` (a location name has no "/")."""
    if deployment in ("", DEFAULT_DEPLOYMENT):
        return location
    return f"{deployment}/{location}"


def code_server_field(host: str, pid: int) -> str:
    return f"{host}:{pid}"
