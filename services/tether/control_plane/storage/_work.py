"""Work items: enqueue, claim with a lease, complete. Never a destructive pop.

An item is PENDING until an agent claims it, CLAIMED while leased (``lease_until``), and DONE
once its result is stored. A CLAIMED item whose lease lapsed is claimable again, by any agent,
with a higher ``epoch``; results name the epoch they answer.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tether.wire import (
    EvaluateTick,
    LaunchRun,
    LoadLocation,
    LocationSpec,
    RemoveLocation,
    TerminateRun,
    WorkItem,
    WorkPayload,
)

from . import _codec
from ._partitions import run_dynamic_keys
from ._records import WorkStatus
from ._schema import work_items

# the kind column of LaunchRun items
LAUNCH_KIND: str = LaunchRun.__struct_config__.tag  # type: ignore[assignment]


def kind_of(payload: WorkPayload) -> str:
    return type(payload).__struct_config__.tag  # type: ignore[return-value]


def enqueue(
    conn: Connection,
    payload: WorkPayload,
    *,
    queue: str,
    traceparent: str,
    now: float,
    target_agent: str | None = None,
) -> str:
    [work_id] = enqueue_many(conn, [(payload, queue)], traceparent=traceparent, now=now,
                             target_agent=target_agent)
    return work_id


@dataclass(frozen=True, slots=True)
class Launch:
    """An attempt of a run to hand to the agents serving its location's queue."""

    run_id: str
    attempt: int
    job_name: str
    location: LocationSpec
    run_config: dict[str, Any]
    traceparent: str
    # the steps to run (each with those upstream of it); None: all of them
    step_selection: list[str] | None = None
    # for a step the selection leaves out, the run whose stored output its steps load
    input_runs: dict[str, str] = field(default_factory=dict)
    partition: str | None = None
    tags: dict[str, Any] = field(default_factory=dict)


def enqueue_launches(conn: Connection, launches: Sequence[Launch], now: float) -> list[str]:
    """Hand each attempt to the agents serving its location's queue, with the dynamic
    partitions' keys its run may need; the work ids."""
    dynamic: dict[tuple[str, str], dict[str, list[str]]] = {}
    for launch in launches:
        job = (launch.location.name, launch.job_name)
        if job not in dynamic:
            dynamic[job] = run_dynamic_keys(conn, *job)
    rows = [_row(LaunchRun(run_id=launch.run_id, attempt=launch.attempt,
                           job_name=launch.job_name, location=launch.location,
                           run_config=launch.run_config,
                           step_selection=launch.step_selection,
                           input_runs=launch.input_runs, partition=launch.partition,
                           dynamic_partitions=dynamic[launch.location.name, launch.job_name],
                           tags={key: str(value) for key, value in launch.tags.items()}),
                 launch.location.queue, launch.traceparent, now, None)
            for launch in launches]
    if rows:
        conn.execute(work_items.insert(), rows)
    return [str(row["work_id"]) for row in rows]


def enqueue_many(
    conn: Connection,
    items: Sequence[tuple[WorkPayload, str]],
    *,
    traceparent: str,
    now: float,
    target_agent: str | None = None,
) -> list[str]:
    """Enqueue each ``(payload, queue)`` in one statement; their work ids."""
    rows = [_row(payload, queue, traceparent, now, target_agent) for payload, queue in items]
    if rows:
        conn.execute(work_items.insert(), rows)
    return [str(row["work_id"]) for row in rows]


def _row(payload: WorkPayload, queue: str, traceparent: str, now: float,
         target_agent: str | None) -> dict[str, object]:
    run_id = payload.run_id if isinstance(payload, LaunchRun | TerminateRun) else None
    location = (payload.location.name
                if isinstance(payload, LaunchRun | LoadLocation | EvaluateTick)
                else payload.name if isinstance(payload, RemoveLocation) else None)
    return {
        "work_id": uuid.uuid4().hex,
        "kind": kind_of(payload),
        "queue": queue,
        "run_id": run_id,
        "location": location,
        "payload": _codec.encode(payload),
        "status": WorkStatus.PENDING,
        "epoch": 0,
        "lease_until": None,
        "claimed_by": None,
        "target_agent": target_agent,
        "traceparent": traceparent,
        "created_at": now,
        "done_at": None,
    }


def _claimable(queues: Sequence[str], now: float,
               agent_id: str | None = None) -> sa.ColumnElement[bool]:
    agent_filter = (work_items.c.target_agent.is_(None) if agent_id is None else
                    sa.or_(work_items.c.target_agent.is_(None),
                           work_items.c.target_agent == agent_id))
    return sa.and_(
        work_items.c.queue.in_(list(queues)),
        agent_filter,
        sa.or_(
            work_items.c.status == WorkStatus.PENDING,
            sa.and_(work_items.c.status == WorkStatus.CLAIMED, work_items.c.lease_until < now),
        ),
    )


def claim(
    conn: Connection,
    *,
    agent_id: str,
    queues: Sequence[str],
    max_items: int,
    lease_seconds: float,
    now: float,
) -> list[WorkItem]:
    """Lease up to ``max_items`` claimable items, oldest first.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED`` lets concurrent claimers pass over each other's
    rows. SQLite: the caller's write transaction (BEGIN IMMEDIATE) already serializes claims.
    The UPDATE is guarded by the epoch read, so even a claimer that saw a stale row cannot
    take an item twice.
    """
    if max_items <= 0 or not queues:
        return []
    candidates = conn.execute(
        sa.select(work_items.c.work_id, work_items.c.epoch, work_items.c.payload,
                  work_items.c.traceparent, work_items.c.created_at)
        .where(_claimable(queues, now, agent_id))
        .order_by(work_items.c.created_at, work_items.c.work_id)
        .limit(max_items)
        .with_for_update(skip_locked=True)
    ).all()
    if not candidates:
        return []
    lease_until = now + lease_seconds
    # one statement for the batch; the (work_id, epoch) guard leaves out a row another
    # claimer took since it was read
    taken = {row.work_id for row in conn.execute(
        work_items.update()
        .where(sa.tuple_(work_items.c.work_id, work_items.c.epoch).in_(
            [(row.work_id, row.epoch) for row in candidates]))
        .values(status=WorkStatus.CLAIMED, epoch=work_items.c.epoch + 1,
                lease_until=lease_until, claimed_by=agent_id)
        .returning(work_items.c.work_id))}
    return [
        WorkItem(
            work_id=row.work_id,
            epoch=row.epoch + 1,
            lease_until=lease_until,
            payload=_codec.payload_decoder.decode(row.payload),
            traceparent=row.traceparent,
            enqueued_at=row.created_at,
        )
        for row in candidates if row.work_id in taken
    ]


class Completion(Enum):
    COMPLETED = "completed"
    ALREADY_DONE = "already_done"
    UNKNOWN = "unknown"


def complete_many(conn: Connection, work_ids: Sequence[str], now: float) -> list[Completion]:
    """Mark items DONE; what each id's result does, in order. A result for an item that is
    DONE already (a redelivered result, one from an older claim whose work a newer claim
    finished, or the same id twice in ``work_ids``) changes nothing."""
    if not work_ids:
        return []
    statuses = {row.work_id: row.status for row in conn.execute(
        sa.select(work_items.c.work_id, work_items.c.status)
        .where(work_items.c.work_id.in_(sorted(set(work_ids))))
        .order_by(work_items.c.work_id)
        .with_for_update())}
    completions = []
    for work_id in work_ids:
        status = statuses.get(work_id)
        completions.append(Completion.UNKNOWN if status is None else
                           Completion.ALREADY_DONE if status == WorkStatus.DONE else
                           Completion.COMPLETED)
        if status is not None:
            statuses[work_id] = WorkStatus.DONE
    done = sorted({work_id for work_id, completion in zip(work_ids, completions, strict=True)
                   if completion is Completion.COMPLETED})
    if done:
        conn.execute(work_items.update().where(work_items.c.work_id.in_(done))
                     .values(status=WorkStatus.DONE, done_at=now, lease_until=None))
    return completions


def has_pending(conn: Connection, queues: Sequence[str], now: float,
                agent_id: str | None = None) -> bool:
    if not queues:
        return False
    query = sa.select(work_items.c.work_id).where(_claimable(queues, now, agent_id)).limit(1)
    return conn.execute(query).first() is not None


def open_loads(conn: Connection, location: str) -> list[tuple[str, str, bytes]]:
    """(work_id, status, payload) of the LoadLocation items of a location not yet done."""
    rows = conn.execute(
        sa.select(work_items.c.work_id, work_items.c.status, work_items.c.payload).where(
            work_items.c.location == location,
            work_items.c.kind == kind_of_load(),
            work_items.c.status != WorkStatus.DONE,
        )
    ).all()
    return [(row.work_id, row.status, row.payload) for row in rows]


def launch_of(conn: Connection, run_id: str) -> tuple[str, str, str | None] | None:
    """(work_id, status, claimed_by) of the newest LaunchRun item of a run."""
    row = conn.execute(
        sa.select(work_items.c.work_id, work_items.c.status, work_items.c.claimed_by)
        .where(work_items.c.run_id == run_id,
               work_items.c.kind == LAUNCH_KIND)
        .order_by(work_items.c.created_at.desc())
        .limit(1)
    ).one_or_none()
    return None if row is None else (row.work_id, row.status, row.claimed_by)


def kind_of_load() -> str:
    return LoadLocation.__struct_config__.tag  # type: ignore[return-value]


def cancel_pending(conn: Connection, work_ids: Sequence[str], now: float) -> None:
    """Retire PENDING items that a newer item supersedes (nobody has claimed them yet)."""
    if work_ids:
        conn.execute(
            work_items.update()
            .where(work_items.c.work_id.in_(list(work_ids)),
                   work_items.c.status == WorkStatus.PENDING)
            .values(status=WorkStatus.DONE, done_at=now)
        )
