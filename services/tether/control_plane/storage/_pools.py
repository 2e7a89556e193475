"""Op concurrency pools: a slot per executing step, granted by the control plane.

An op declares ``@op(pool="warehouse")``; the control plane's ``TETHER_POOL_LIMITS``
(``{"warehouse": 2}``) caps how many steps of the pool execute at once, across every run of
every job (a pool without a limit is unlimited, and its steps never wait).

A run worker holds no control-plane credential, and its broker user may only append to the
outbound streams and ask EXISTS of a few keys (``tether.broker._acl``). So a slot goes round
the agent's usual paths:

1. The launch claimed by an agent carries the limits (``LaunchRun.pool_limits``). Before a step
   of a limited pool starts, the run worker emits STEP_SLOT_REQUESTED ("Step load waits for a
   slot in pool warehouse (limit 2)": what the run's log shows while it waits) and polls
   ``EXISTS tether:slot:<run>:<attempt>:<step>``.
2. The uploader stores the event; in the same transaction :func:`note_events` records the
   request here (``pool_slots``, waiting) and :func:`grant_free_slots` grants the waiting
   requests that fit, oldest first, each as a ``GrantSlot`` work item for the agent that
   launched the run.
3. That agent's poller hands it to a launcher, which sets the key; the step starts.

A slot is held until the step's last event (success, failure, cancel, skip; a step's
retries keep it) or the end of its run attempt, however that ends: a run worker killed
outright leaves a run that its launcher reports failed, or that the run monitor fails. Slots
of an attempt that has ended are not counted and are dropped by the next grant pass (on
every stored step end, every stored agent result, and every turn of the run-queue daemon),
so no slot outlives its run. Grants take the pools' lock (one transaction at a time
decides), so concurrent uploads never grant a pool beyond its limit.

When a run is planned the control plane also records its pooled steps as system tags
(``tether/pool/warehouse = "load,store"``), which a launch cannot set: they show which
pools a run uses.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tether.wire import (
    GrantSlot,
    JobSnapshot,
    RunCanceled,
    RunEvent,
    RunFailure,
    RunSuccess,
    StepCanceled,
    StepFailure,
    StepSkipped,
    StepSlotRequested,
    StepSuccess,
)

from . import _locations, _work
from ._bulk import insert_new
from ._projection import RunStatus
from ._schema import pool_slots, runs

POOL_TAG_PREFIX = "tether/pool/"
# any number: the key of the pools' advisory lock on PostgreSQL
_ADVISORY_LOCK = 0x7E7E_0002
_IN_PROGRESS = (RunStatus.QUEUED, RunStatus.STARTING, RunStatus.STARTED, RunStatus.CANCELING)
# the events after which a step executes no more (a retry keeps its slot)
_STEP_ENDS = (StepSuccess, StepFailure, StepCanceled, StepSkipped)


def pool_tags(job: JobSnapshot, step_selection: Collection[str] | None) -> dict[str, str]:
    """The system tags naming the pooled steps a run of ``job`` executes, by pool."""
    steps: dict[str, list[str]] = {}
    for node in job.nodes:
        if node.pool and (step_selection is None or node.name in step_selection):
            steps.setdefault(node.pool, []).append(node.name)
    return {POOL_TAG_PREFIX + pool: ",".join(names) for pool, names in steps.items()}


def with_pool_tags(tags: Mapping[str, Any], job: JobSnapshot,
                   step_selection: Collection[str] | None) -> dict[str, Any]:
    """``tags`` with the run's pool tags, computed here only: a launch cannot set them."""
    kept = {key: value for key, value in tags.items() if not key.startswith(POOL_TAG_PREFIX)}
    return {**kept, **pool_tags(job, step_selection)}


def pools_of(tags: Mapping[str, Any]) -> dict[str, str]:
    """The pools a run uses, each with its steps (comma-separated)."""
    return {key.removeprefix(POOL_TAG_PREFIX): str(value) for key, value in tags.items()
            if key.startswith(POOL_TAG_PREFIX)}


class Grant(NamedTuple):
    run_id: str
    attempt: int
    step_key: str
    pool: str


def note_events(conn: Connection, stored: Sequence[RunEvent], now: float) -> bool:
    """Record the slot requests among newly ``stored`` events (each stored once, so a
    redelivered request never asks twice) and drop the slots of the steps and run attempts
    that ended; True when a slot was asked for or freed (a grant pass is due)."""
    requests: dict[tuple[str, int, str], dict[str, Any]] = {}
    ended: set[tuple[str, int, str]] = set()
    # a run's end frees what its steps held
    runs_ended: set[tuple[str, int]] = set()
    for event in stored:
        if isinstance(event, RunSuccess | RunFailure | RunCanceled):
            runs_ended.add((event.run_id, event.attempt))
        if event.step_key is None:
            continue
        key = (event.run_id, event.attempt, event.step_key)
        if isinstance(event, StepSlotRequested):
            requests[key] = {"run_id": event.run_id, "attempt": event.attempt,
                             "step_key": event.step_key, "pool": event.pool,
                             "requested_at": event.timestamp, "granted_at": None}
        # a request and its step's end in one batch: nothing to record
        elif isinstance(event, _STEP_ENDS) and requests.pop(key, None) is None:
            ended.add(key)
    if requests:
        insert_new(conn, pool_slots, list(requests.values()),
                   unique=["run_id", "attempt", "step_key"], returning=[pool_slots.c.run_id])
    # most step ends held no slot: only a slot freed calls for a grant pass
    freed = 0
    if ended:
        freed += conn.execute(pool_slots.delete().where(
            sa.tuple_(pool_slots.c.run_id, pool_slots.c.attempt, pool_slots.c.step_key)
            .in_(sorted(ended)))).rowcount
    if runs_ended:
        freed += conn.execute(pool_slots.delete().where(
            sa.tuple_(pool_slots.c.run_id, pool_slots.c.attempt)
            .in_(sorted(runs_ended)))).rowcount
    return bool(requests) or freed > 0


def grant_free_slots(conn: Connection, limits: Mapping[str, int], now: float) -> list[Grant]:
    """Drop the slots of attempts that ended, then grant the waiting requests that fit their
    pool's limit, oldest first, each by a ``GrantSlot`` work item; the grants made."""
    _lock(conn)
    current = sa.exists().where(runs.c.run_id == pool_slots.c.run_id,
                                runs.c.attempt == pool_slots.c.attempt,
                                runs.c.status.in_(_IN_PROGRESS))
    conn.execute(pool_slots.delete().where(~current))
    rows = conn.execute(
        sa.select(pool_slots.c.run_id, pool_slots.c.attempt, pool_slots.c.step_key,
                  pool_slots.c.pool, pool_slots.c.granted_at)
        .order_by(pool_slots.c.requested_at, pool_slots.c.run_id, pool_slots.c.step_key)
    ).all()
    held = Counter(row.pool for row in rows if row.granted_at is not None)
    grants: list[Grant] = []
    for row in rows:
        if row.granted_at is not None:
            continue
        # a pool whose limit was lifted since the request: nothing to wait for
        limit = limits.get(row.pool)
        if limit is None or held[row.pool] < limit:
            held[row.pool] += 1
            grants.append(Grant(row.run_id, row.attempt, row.step_key, row.pool))
    if not grants:
        return []
    conn.execute(pool_slots.update().where(
        sa.tuple_(pool_slots.c.run_id, pool_slots.c.attempt, pool_slots.c.step_key)
        .in_([grant[:3] for grant in grants])).values(granted_at=now))
    for grant in grants:
        launch = _work.launch_of(conn, grant.run_id)
        _work.enqueue(conn, GrantSlot(run_id=grant.run_id, attempt=grant.attempt,
                                      step_key=grant.step_key, pool=grant.pool),
                      queue=_locations.queue_of_run(conn, grant.run_id), traceparent="", now=now,
                      # the agent that launched the run: its launchers share its broker
                      target_agent=None if launch is None else launch[2])
    return grants


def _lock(conn: Connection) -> None:
    """One grant pass at a time: PostgreSQL takes a transaction-scoped advisory lock; on
    SQLite the write transaction already excludes other writers."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADVISORY_LOCK)))
