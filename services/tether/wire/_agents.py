"""What an agent says about itself (each worker's status, the agent's heartbeat), and what
the control plane answers a heartbeat."""

from __future__ import annotations

import msgspec


class CodeServerStatus(msgspec.Struct, kw_only=True, frozen=True):
    location: str
    pid: int
    address: str
    running: bool
    restarts: int = 0
    # the deployment of the location ("": the agent's only one)
    deployment: str = ""


class WorkerStatus(msgspec.Struct, kw_only=True, frozen=True):
    """One worker process of an agent, as it last reported itself to the agent's broker."""

    kind: str
    consumer: str
    pid: int
    started_at: float
    seen_at: float
    running_runs: int = 0
    code_servers: list[CodeServerStatus] = []
    # the last warnings and errors it logged, newest last
    recent_errors: list[str] = []


class AgentHeartbeat(msgspec.Struct, kw_only=True, frozen=True):
    agent_id: str
    version: str
    queues: list[str]
    timestamp: float
    workers: list[WorkerStatus] = []


# the deployment of a control plane that holds only one (and of the data before deployments)
DEFAULT_DEPLOYMENT = "prod"


class HeartbeatReply(msgspec.Struct, kw_only=True, frozen=True):
    """The control plane's answer to a heartbeat: which deployment the agent token that sent
    it serves (an agent with a token per deployment learns here which is which).
    ``stored`` keeps the reply readable as the ``BatchReceipt`` that agents of earlier
    versions expect."""

    deployment: str = DEFAULT_DEPLOYMENT
    stored: int = 1
