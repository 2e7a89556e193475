"""What an agent says about itself: each worker's status, and the agent's heartbeat."""

from __future__ import annotations

import msgspec


class CodeServerStatus(msgspec.Struct, kw_only=True, frozen=True):
    location: str
    pid: int
    address: str
    running: bool
    restarts: int = 0


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


class HeartbeatReply(msgspec.Struct, kw_only=True, frozen=True):
    """The control plane's answer to a heartbeat: the deployment the agent's token serves
    (all its claims and uploads are that deployment's), so an agent holding one token per
    deployment knows which code servers each token's work belongs to. ``stored`` keeps the
    reply readable as a BatchReceipt by agents that predate it."""

    stored: int = 1
    deployment: str = "prod"
