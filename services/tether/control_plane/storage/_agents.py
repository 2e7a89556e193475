"""Agents as a fleet: each agent's last heartbeat, and which queues have a live agent."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tether.wire import AgentHeartbeat

from . import _codec
from ._engine import upsert
from ._schema import agents

_heartbeat_decoder = msgspec.msgpack.Decoder(AgentHeartbeat)


# an agent heartbeats every few seconds; one silent for longer than this is shown down
LIVENESS_SECONDS = 45.0


@dataclass(frozen=True, slots=True)
class AgentRecord:
    agent_id: str
    version: str
    queues: list[str]
    # control-plane time of the last heartbeat (agents' clocks are not trusted)
    last_heartbeat: float
    heartbeat: AgentHeartbeat

    def is_alive(self, now: float) -> bool:
        return now - self.last_heartbeat <= LIVENESS_SECONDS


def record_heartbeat(conn: Connection, heartbeat: AgentHeartbeat, now: float) -> None:
    values = {
        "agent_id": heartbeat.agent_id,
        "version": heartbeat.version,
        "queues": _codec.to_json_text(heartbeat.queues),
        "last_heartbeat": now,
        "heartbeat": _codec.encode(heartbeat),
    }
    statement = upsert(conn, agents).values(**values)
    conn.execute(statement.on_conflict_do_update(
        index_elements=["deployment", "agent_id"],
        set_={k: v for k, v in values.items() if k != "agent_id"},
    ))


def list_agents(conn: Connection) -> list[AgentRecord]:
    rows = conn.execute(sa.select(agents).order_by(agents.c.agent_id)).all()
    return [
        AgentRecord(
            agent_id=row.agent_id,
            version=row.version,
            queues=_codec.list_json_decoder.decode(row.queues),
            last_heartbeat=row.last_heartbeat,
            heartbeat=_heartbeat_decoder.decode(row.heartbeat),
        )
        for row in rows
    ]


def live_queues(conn: Connection, since: float) -> set[str]:
    """The queues served by an agent that has heartbeat since ``since``."""
    rows = conn.execute(sa.select(agents.c.queues).where(agents.c.last_heartbeat >= since))
    return {queue for row in rows for queue in _codec.list_json_decoder.decode(row.queues)}
