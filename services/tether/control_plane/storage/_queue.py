"""The run queue: which QUEUED runs may be handed to an agent now.

A run is created QUEUED. It is *admitted* when its LaunchRun work item is enqueued; from then
on it counts against the limits until it ends. With no limit configured, the store admits
every run in the transaction that creates it. With limits, admission takes the queue's lock
(one transaction at a time decides), counts the admitted runs that have not ended, and admits
the waiting runs that fit, highest ``tether/priority`` tag first, then oldest: at launch, and
on every pass of the run-queue daemon (which notices the runs that ended meanwhile).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tether.settings import Settings, TagLimit

from . import _codec, _leases, _locations, _work
from ._pools import pools_of
from ._projection import RunStatus
from ._rows import row_to, run_json
from ._schema import runs, work_items

PRIORITY_TAG = "tether/priority"
# the daemon that admits waiting runs
DAEMON = "run_queue"
# the waiting runs one pass looks at, best first
SCAN_LIMIT = 1000
# any number: the key of the queue's advisory lock on PostgreSQL
_ADVISORY_LOCK = 0x7E7E_0001

# the counter key of a pool's runs in progress is (_POOL, pool name)
_POOL = "pool"

_NOT_ENDED = (RunStatus.QUEUED, RunStatus.STARTING, RunStatus.STARTED, RunStatus.CANCELING)


@dataclass(frozen=True)
class QueueLimits:
    """``max_concurrent_runs`` 0: no global limit."""

    max_concurrent_runs: int = 0
    tag_limits: tuple[TagLimit, ...] = field(default_factory=tuple)
    # runs in progress at once that execute a step of each pool (see ``_pools``)
    pool_limits: Mapping[str, int] = field(default_factory=dict)

    @property
    def unlimited(self) -> bool:
        return self.max_concurrent_runs <= 0 and not self.tag_limits and not self.pool_limits

    @classmethod
    def from_settings(cls, settings: Settings) -> QueueLimits:
        return cls(max_concurrent_runs=settings.max_concurrent_runs,
                   tag_limits=tuple(settings.tag_concurrency_limits),
                   pool_limits=dict(settings.pool_limits))


def _bucket(limit: TagLimit, tags: dict[str, Any]) -> tuple[str, str] | None:
    """The bucket a run with ``tags`` counts in under ``limit``, or None."""
    if limit.key not in tags:
        return None
    value = str(tags[limit.key])
    if limit.value is not None and value != limit.value:
        return None
    return limit.key, value


@dataclass(frozen=True, slots=True)
class _Waiting:
    run_id: str
    job_name: str
    location: str
    attempt: int
    run_config: dict[str, Any]
    step_selection: list[str] | None
    input_runs: dict[str, str]
    tags: dict[str, Any]
    traceparent: str
    priority: int
    created_at: float


def priority_of(tags: dict[str, Any]) -> int:
    try:
        return int(tags.get(PRIORITY_TAG, 0))
    except (TypeError, ValueError):
        return 0


def admit_waiting(conn: Connection, limits: QueueLimits, now: float) -> list[str]:
    """Admit the waiting runs that fit the limits, best first; the ids admitted."""
    _lock(conn)
    counts = _admitted_counts(conn, limits)
    admitted = []
    for run in _waiting(conn, now):
        if _blocker(run.tags, counts, limits) is not None:
            continue
        if _enqueue_launch(conn, run, now):
            _count_in(run.tags, counts, limits)
            admitted.append(run.run_id)
    return admitted


def waiting_reason(conn: Connection, run_id: str, tags: dict[str, Any],
                   limits: QueueLimits, now: float) -> str | None:
    """Why a QUEUED run that is not admitted yet waits (None: it is admitted)."""
    if _launch_items(conn, [run_id]):
        return None
    blocker = _blocker(tags, _admitted_counts(conn, limits), limits)
    if blocker is not None:
        return blocker
    if _leases.holder_of(conn, DAEMON, now) is None:
        return ("it fits the run queue's limits, but no run queue daemon is running to admit "
                "it: start `tether control-plane daemons`")
    return "it fits the run queue's limits: the run queue daemon admits it at its next turn"


def _lock(conn: Connection) -> None:
    """One admission at a time: PostgreSQL takes a transaction-scoped advisory lock; on SQLite
    the write transaction already excludes other writers."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_ADVISORY_LOCK)))


def _admitted_counts(conn: Connection, limits: QueueLimits) -> Counter[Any]:
    """How many admitted runs that have not ended there are: in all (key None) and in each
    tag limit's bucket."""
    admitted = (
        sa.select(runs.c.tags)
        .where(runs.c.status.in_(_NOT_ENDED))
        .where(sa.exists().where(work_items.c.run_id == runs.c.run_id,
                                 work_items.c.kind == _work.LAUNCH_KIND))
    )
    counts: Counter[Any] = Counter()
    for row in conn.execute(admitted):
        _count_in(_codec.dict_json_decoder.decode(row.tags), counts, limits)
    return counts


def _count_in(tags: dict[str, Any], counts: Counter[Any], limits: QueueLimits) -> None:
    counts[None] += 1
    for limit in limits.tag_limits:
        bucket = _bucket(limit, tags)
        if bucket is not None:
            counts[bucket] += 1
    for pool in pools_of(tags):
        if pool in limits.pool_limits:
            counts[_POOL, pool] += 1


def _blocker(tags: dict[str, Any], counts: Counter[Any], limits: QueueLimits) -> str | None:
    """Which limit keeps a run with ``tags`` waiting, said for the user; None if it fits."""
    if 0 < limits.max_concurrent_runs <= counts[None]:
        return (f"the limit of {limits.max_concurrent_runs} concurrent run(s) is reached "
                f"({counts[None]} in progress)")
    for limit in limits.tag_limits:
        bucket = _bucket(limit, tags)
        if bucket is not None and counts[bucket] >= limit.limit:
            return (f"the limit of {limit.limit} concurrent run(s) tagged "
                    f"{bucket[0]}={bucket[1]} is reached ({counts[bucket]} in progress)")
    for pool, steps in pools_of(tags).items():
        limit_of_pool = limits.pool_limits.get(pool)
        if limit_of_pool is not None and counts[_POOL, pool] >= limit_of_pool:
            return (f"step(s) {steps.replace(',', ', ')} wait for a slot of pool {pool}: its "
                    f"limit of {limit_of_pool} concurrent run(s) is reached "
                    f"({counts[_POOL, pool]} in progress)")
    return None


def _waiting(conn: Connection, now: float, only: str | None = None) -> list[_Waiting]:
    """QUEUED runs without a launch, best first (priority tag, then age)."""
    query = (
        sa.select(runs.c.run_id, runs.c.job_name, runs.c.location, runs.c.attempt,
                  runs.c.run_config, runs.c.step_selection, runs.c.input_runs, runs.c.tags,
                  runs.c.traceparent, runs.c.created_at)
        .where(runs.c.status == RunStatus.QUEUED)
        .where(~sa.exists().where(work_items.c.run_id == runs.c.run_id,
                                  work_items.c.kind == _work.LAUNCH_KIND))
        .order_by(runs.c.created_at, runs.c.run_id)
        .limit(SCAN_LIMIT)
    )
    if only is not None:
        query = query.where(runs.c.run_id == only)
    waiting = []
    for row in conn.execute(query):
        decoded = run_json(row)
        waiting.append(row_to(_Waiting, row, **decoded, traceparent=row.traceparent or "",
                              priority=priority_of(decoded["tags"])))
    # stable: equal priorities keep their age order
    waiting.sort(key=lambda run: -run.priority)
    return waiting


def _launch_items(conn: Connection, run_ids: list[str]) -> set[str]:
    rows = conn.execute(
        sa.select(work_items.c.run_id)
        .where(work_items.c.run_id.in_(run_ids), work_items.c.kind == _work.LAUNCH_KIND))
    return {row.run_id for row in rows}


def _enqueue_launch(conn: Connection, run: _Waiting, now: float) -> bool:
    """Hand the run to its location's agents; False if the location is gone (the run then
    waits, and says so)."""
    location = _locations.get(conn, run.location)
    if location is None:
        return False
    _work.enqueue_launches(conn, [_work.Launch(
        run_id=run.run_id, attempt=run.attempt, job_name=run.job_name, location=location.spec,
        run_config=run.run_config, traceparent=run.traceparent,
        step_selection=run.step_selection, input_runs=run.input_runs, tags=run.tags)], now)
    return True
