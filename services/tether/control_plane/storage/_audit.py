"""The audit log: who did what to what, when, from where, and whether it was allowed.

Rows are only ever inserted. A change records its entry through :func:`record` on the
connection of its own transaction, so the change and its entry commit together or not at
all; a refusal (nothing changed) is recorded in a transaction of its own.
"""

from __future__ import annotations

from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ._records import Actor, ActorKind, AuditEntry, Outcome, Role
from ._schema import audit_log

# room for a refusal's message; longer ones are cut, the log is not a traceback store
_DETAIL_LIMIT = 2000


def record(conn: Connection, actor: Actor, action: str, target: str, now: float, *,
           outcome: Outcome = "ok", detail: str = "") -> None:
    conn.execute(audit_log.insert().values(
        at=now, actor_kind=actor.kind, actor_name=actor.name[:255],
        actor_token_id=actor.token_id, actor_role=actor.role, via=actor.via[:16],
        client=actor.client[:255], action=action[:64], target=target[:255], outcome=outcome,
        detail=detail[:_DETAIL_LIMIT]))


def page(conn: Connection, deployment: str, *, limit: int, before: int | None = None,
         action: str | None = None, actor: str | None = None) -> list[AuditEntry]:
    """Newest first, of what was done in ``deployment`` (or in none in particular);
    ``before`` is the id of the last entry of the previous page."""
    query = (sa.select(audit_log).where(sa.or_(audit_log.c.deployment == deployment,
                                                audit_log.c.deployment.is_(None)))
             .order_by(audit_log.c.id.desc()).limit(limit))
    if before is not None:
        query = query.where(audit_log.c.id < before)
    if action:
        query = query.where(audit_log.c.action == action)
    if actor:
        query = query.where(audit_log.c.actor_name == actor)
    return [
        AuditEntry(
            id=row.id, at=row.at,
            actor=Actor(kind=cast(ActorKind, row.actor_kind), name=row.actor_name,
                        via=row.via, token_id=row.actor_token_id,
                        role=cast(Role | None, row.actor_role), client=row.client),
            action=row.action, target=row.target, outcome=cast(Outcome, row.outcome),
            detail=row.detail)
        for row in conn.execute(query)
    ]


def actions(conn: Connection) -> list[str]:
    """The actions the log holds, for the page's filter."""
    rows = conn.execute(sa.select(audit_log.c.action).distinct().order_by(audit_log.c.action))
    return [row.action for row in rows]
