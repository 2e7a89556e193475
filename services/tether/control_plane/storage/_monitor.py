"""Run monitoring: runs whose worker will never report are failed, with the reason.

A run claimed by an agent but not started within the start timeout (its run worker never
came up), and a started run whose agent stopped heartbeating (nobody is left to report its
end), end FAILURE. A run being canceled ends CANCELED instead, as the projection decides.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tether.wire import ErrorInfo

from . import _runs, _work
from ._agents import LIVENESS_SECONDS
from ._projection import RUN_FAILURE, RUN_STARTING, Fact, RunStatus
from ._schema import agents, events, runs, work_items


def stuck_runs(conn: Connection, *, start_timeout: float, now: float) -> list[str]:
    """The runs :func:`fail_stuck_runs` would fail now."""
    return (_late_to_start(conn, start_timeout, now)
            + [run_id for run_id, _, _ in _runs_of_silent_agents(conn, now)])


def fail_stuck_runs(conn: Connection, *, start_timeout: float, now: float) -> list[str]:
    """Fail the runs stuck in STARTING past ``start_timeout`` and the started runs of agents
    silent for longer than the liveness window; the ids failed."""
    failed = []
    for run_id in _late_to_start(conn, start_timeout, now):
        if _fail(conn, run_id, "RunStartTimeout",
                 f"The run did not start within {start_timeout:g} s of being claimed by an "
                 "agent: its run worker never came up", now):
            failed.append(run_id)
    for run_id, agent_id, heard_at in _runs_of_silent_agents(conn, now):
        if _fail(conn, run_id, "AgentLost",
                 f"Agent {agent_id} stopped heartbeating {now - heard_at:.0f} s ago while "
                 "running this run; nobody is left to report its end", now):
            failed.append(run_id)
    return failed


def _late_to_start(conn: Connection, start_timeout: float, now: float) -> list[str]:
    """Runs in STARTING whose current attempt was last claimed over ``start_timeout`` ago
    (decided in the query: a busy deployment has many runs starting, and few late)."""
    claimed_at = sa.func.max(events.c.timestamp)
    rows = conn.execute(
        sa.select(runs.c.run_id)
        .join(events, sa.and_(events.c.run_id == runs.c.run_id,
                              events.c.attempt == runs.c.attempt,
                              events.c.type == RUN_STARTING))
        .where(runs.c.status == RunStatus.STARTING)
        .group_by(runs.c.run_id)
        .having(claimed_at < now - start_timeout)
    ).all()
    return [row.run_id for row in rows]


def _runs_of_silent_agents(conn: Connection, now: float) -> list[tuple[str, str, float]]:
    """(run, agent, its last heartbeat) of started runs whose launch was claimed by an agent
    not heard from within the liveness window."""
    rows = conn.execute(
        sa.select(runs.c.run_id, agents.c.agent_id, agents.c.last_heartbeat)
        .join(work_items, sa.and_(work_items.c.run_id == runs.c.run_id,
                                  work_items.c.kind == _work.LAUNCH_KIND))
        .join(agents, agents.c.agent_id == work_items.c.claimed_by)
        .where(runs.c.status.in_((RunStatus.STARTED, RunStatus.CANCELING)),
               agents.c.last_heartbeat < now - LIVENESS_SECONDS)
    ).all()
    return [(row.run_id, row.agent_id, row.last_heartbeat) for row in rows]


def _fail(conn: Connection, run_id: str, kind: str, message: str, now: float) -> bool:
    run = _runs.lock_run(conn, run_id)
    if run is None or run.projection.is_terminal:
        return False
    error = ErrorInfo(class_name=kind, message=message, stack="")
    _runs.record_control_event(conn, run, Fact(type=RUN_FAILURE, timestamp=now, error=error),
                               message, now, level="ERROR")
    return True
