"""Runs, their event log and their compute logs, at the level of one open transaction.

The store opens the transaction; these functions only read and write through it, so the
callers can combine them (launching a run writes a run, an event and a work item atomically).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tether.wire import (
    AssetCheckEvaluation,
    AssetMaterialization,
    BatchReceipt,
    LogChunk,
    LogMessage,
    RunCanceled,
    RunEvent,
    StepCanceled,
    StepRetry,
    event_message,
)

from ..errors import RunNotFound
from . import _alerts, _codec, _partition_status
from ._bulk import insert_new
from ._fence import Fence, fence_of, grace_over
from ._projection import RUN_QUEUED, Fact, Projection, RunStatus, fact_of, fold
from ._records import EventRecord, LogRecord, NewRun, RunRecord
from ._rows import event_record, fact_of_row, projection_of, row_to, run_record
from ._schema import compute_logs, events, run_tags, runs

# a position in the runs list, newest first: (created_at, run_id) of the last run shown
RunCursor = tuple[float, str]


@dataclass(frozen=True, slots=True)
class LockedRun:
    run_id: str
    attempt: int
    projection: Projection
    # when the row last changed (control-plane clock): for an ended run, when it ended
    updated_at: float = 0.0

    def closed_to_output(self, now: float, grace: float) -> bool:
        """Whether the run ended more than ``grace`` seconds ago, so that its attempt's
        compute logs and results are refused (:mod:`._fence`)."""
        return self.projection.is_terminal and grace_over(self.updated_at, now, grace)

    def fence(self, conn: Connection, now: float, grace: float) -> Fence | None:
        """Which events an ended attempt still accepts (:mod:`._fence`); None while it runs."""
        if not self.projection.is_terminal:
            return None
        return fence_of(conn, self.run_id, self.attempt,
                        closed=self.closed_to_output(now, grace))


def create_runs(conn: Connection, new: Sequence[NewRun], now: float) -> None:
    """Insert runs, QUEUED, with their tags and RUN_QUEUED events: three statements for
    them all."""
    if not new:
        return
    conn.execute(runs.insert(), [{
        "traceparent": run.request.traceparent or None,
        "origin": run.request.origin,
        "run_key": run.request.run_key,
        "run_id": run.run_id,
        "job_name": run.job_name,
        "location": run.location.name,
        "status": RunStatus.QUEUED,
        "attempt": 1,
        "run_config": _codec.to_json_text(run.request.run_config),
        "tags": _codec.to_json_text(run.request.tags),
        "created_at": now,
        "updated_at": now,
        "steps_succeeded": 0,
        "steps_failed": 0,
        "step_selection": _codec.steps_to_json(run.request.step_selection),
        "input_runs": _codec.input_runs_to_json(run.request.input_runs),
        "partition": run.request.partition,
    } for run in new])
    tags = [{"run_id": run.run_id, "key": key, "value": tag_text(value), "created_at": now}
            for run in new for key, value in run.request.tags.items()]
    if tags:
        conn.execute(run_tags.insert(), tags)
    # the row is QUEUED already: the event changes nothing in the run's projection
    conn.execute(events.insert(), [_control_event_row(
        run.run_id, 1, Fact(type=RUN_QUEUED, timestamp=now), _queued_message(run), "INFO")
        for run in new])


def _queued_message(run: NewRun) -> str:
    selection = run.request.step_selection
    steps = "" if selection is None else f" (steps {', '.join(selection)})"
    partition = "" if run.request.partition is None else f" partition {run.request.partition}"
    return f"Queued run of {run.job_name}{partition}{steps}"


def lock_runs(conn: Connection, run_ids: Iterable[str]) -> dict[str, LockedRun]:
    """The runs' current projections, locked exclusively until the transaction ends.

    Everything that appends to a run's event or compute log holds this lock until it commits,
    even a batch of log lines that cannot change the run's row: storage ids are then handed
    out in commit order within a run, so a reader tailing the log by id (``after_id``) never
    steps past a row that a slower transaction commits later. Batches of different runs
    still go side by side. PostgreSQL takes the row locks in id order, so concurrent
    transactions never deadlock; on SQLite the write transaction already excludes other
    writers."""
    locked: dict[str, LockedRun] = {}
    rows = conn.execute(
        sa.select(
            runs.c.run_id,
            runs.c.attempt,
            runs.c.status,
            runs.c.start_time,
            runs.c.end_time,
            runs.c.error,
            runs.c.steps_succeeded,
            runs.c.steps_failed,
            runs.c.updated_at,
        )
        .where(runs.c.run_id.in_(sorted(set(run_ids))))
        .order_by(runs.c.run_id)
        .with_for_update()
    )
    for row in rows:
        locked[row.run_id] = LockedRun(run_id=row.run_id, attempt=row.attempt,
                                       projection=projection_of(row), updated_at=row.updated_at)
    return locked


def lock_run(conn: Connection, run_id: str) -> LockedRun | None:
    return lock_runs(conn, [run_id]).get(run_id)


def write_projection(conn: Connection, run_id: str, projection: Projection, now: float) -> None:
    write_projections(conn, {run_id: projection}, now)


def write_projections(conn: Connection, projections: dict[str, Projection], now: float) -> None:
    """Write each run's projection into its row: one statement for them all. A run that
    has ended settles the asset partitions it still had in progress."""
    if not projections:
        return
    _partition_status.settle_runs(conn, {
        run_id: _partition_status.RunEnd(projection.status)
        for run_id, projection in projections.items() if projection.is_terminal}, now)
    conn.execute(
        runs.update().where(runs.c.run_id == sa.bindparam("b_run_id")).values(
            status=sa.bindparam("b_status"),
            start_time=sa.bindparam("b_start_time"),
            end_time=sa.bindparam("b_end_time"),
            error=sa.bindparam("b_error"),
            steps_succeeded=sa.bindparam("b_steps_succeeded"),
            steps_failed=sa.bindparam("b_steps_failed"),
            updated_at=now,
        ),
        [{"b_run_id": run_id, "b_status": projection.status,
          "b_start_time": projection.start_time, "b_end_time": projection.end_time,
          "b_error": None if projection.error is None else _codec.to_json_text(projection.error),
          "b_steps_succeeded": projection.steps_succeeded,
          "b_steps_failed": projection.steps_failed}
         for run_id, projection in projections.items()],
    )


def record_control_event(
    conn: Connection,
    run: LockedRun,
    fact: Fact,
    message: str,
    now: float,
    *,
    level: str = "INFO",
) -> Projection:
    """Append an event the control plane observed itself (no seq) and fold it into the run."""
    return record_control_events(conn, [(run, fact, message)], now, level=level)[run.run_id]


def record_control_events(
    conn: Connection,
    observed: Sequence[tuple[LockedRun, Fact, str]],
    now: float,
    *,
    level: str = "INFO",
) -> dict[str, Projection]:
    """Append events the control plane observed itself (``(run, fact, message)``, no seq)
    and fold them into their runs, in two statements; each run's projection after them."""
    if not observed:
        return {}
    conn.execute(events.insert(), [_control_event_row(run.run_id, run.attempt, fact, message,
                                                      level) for run, fact, message in observed])
    before = {run.run_id: run.projection for run, _, _ in observed}
    after = dict(before)
    for run, fact, _ in observed:
        after[run.run_id] = fold(after[run.run_id], [fact])
    write_projections(conn, {run_id: projection for run_id, projection in after.items()
                             if projection != before[run_id]}, now)
    _alerts.on_runs_ended(conn, before, after, now)
    return after


def _control_event_row(run_id: str, attempt: int, fact: Fact, message: str,
                       level: str) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "attempt": attempt,
        "seq": None,
        "type": fact.type,
        "timestamp": fact.timestamp,
        "step_key": None,
        "level": level,
        "message": message,
        "body": None if fact.error is None else _codec.encode(fact.error),
    }


def store_events(conn: Connection, batch: Sequence[RunEvent], now: float,
                 grace: float, *, stored: list[RunEvent] | None = None) -> BatchReceipt:
    """Insert the events not stored yet in one statement and fold them into their runs.
    Events the fence refuses (a superseded attempt, or one that has ended: :mod:`._fence`)
    are counted as rejected. ``stored`` gets the events stored now, in batch order."""
    # the rows are made before the runs are locked, to hold the locks no longer than needed
    prepared: list[tuple[RunEvent, Fact, dict[str, Any]]] = []
    for event in batch:
        fact = fact_of(event)
        prepared.append((event, fact, _event_row(event, fact)))
    locked = lock_runs(conn, {event.run_id for event in batch})
    fences = {run_id: run.fence(conn, now, grace) for run_id, run in locked.items()}
    accepted: dict[tuple[str, int, int], tuple[Fact, dict[str, Any]]] = {}
    rejected = duplicates = 0
    for event, fact, row in prepared:
        run = locked.get(event.run_id)
        fence = fences.get(event.run_id)
        if (run is None or event.attempt != run.attempt
                or (fence is not None and not fence.accepts_event(event.seq))):
            rejected += 1
            continue
        key = (event.run_id, event.attempt, event.seq)
        if key in accepted:
            duplicates += 1
            continue
        accepted[key] = (fact, row)
    inserted = {
        tuple(row)
        for row in insert_new(conn, events, [row for _, row in accepted.values()],
                              unique=["run_id", "attempt", "seq"],
                              returning=[events.c.run_id, events.c.attempt, events.c.seq])
    }
    duplicates += len(accepted) - len(inserted)

    if stored is not None:
        # a batch may hold an event twice: it was stored once
        unseen = set(inserted)
        for event in batch:
            key = (event.run_id, event.attempt, event.seq)
            if key in unseen:
                unseen.discard(key)
                stored.append(event)
    facts: dict[str, list[Fact]] = {}
    for key, (fact, _) in accepted.items():
        if key in inserted:
            facts.setdefault(key[0], []).append(fact)
    # before the runs' rows: a run that ends in this batch settles its partitions after them
    _partition_status.apply_events(
        conn, (event for event in batch
               if (event.run_id, event.attempt, event.seq) in inserted), now)
    folded = {run_id: fold(locked[run_id].projection, run_facts)
              for run_id, run_facts in facts.items()}
    write_projections(conn, {run_id: after for run_id, after in folded.items()
                             if after != locked[run_id].projection}, now)
    # alerts are written in the transaction of their cause (the outbox: _alerts.py)
    _alerts.on_runs_ended(conn, {run_id: locked[run_id].projection for run_id in folded},
                          folded, now)
    _alerts.on_asset_checks(conn, [event for event, fact, _ in prepared
                                   if fact.type == _alerts.ASSET_CHECK_EVENT
                                   and (event.run_id, event.attempt, event.seq) in inserted],
                            now)
    return BatchReceipt(stored=len(inserted), duplicates=duplicates, rejected=rejected)


def _event_row(event: RunEvent, fact: Fact) -> dict[str, Any]:
    if isinstance(event, LogMessage):
        # most events are log lines: event_message would try every other type first
        level, message = event.level, event.message
    else:
        # a failed check is a warning: when it is blocking, its step's failure is the error
        level = ("ERROR" if fact.error is not None else
                 "WARNING" if isinstance(event, RunCanceled | StepCanceled | StepRetry)
                 or (isinstance(event, AssetCheckEvaluation) and not event.passed)
                 else "INFO")
        message = event_message(event)
    return {
        "run_id": event.run_id,
        "attempt": event.attempt,
        "seq": event.seq,
        "type": fact.type,
        "timestamp": event.timestamp,
        "step_key": event.step_key,
        "level": level,
        "message": _codec.storable_text(message),
        "body": _codec.encode(event),
        "asset_key": (event.asset_key
                      if isinstance(event, AssetMaterialization | AssetCheckEvaluation)
                      else None),
        "check_name": (event.check_name if isinstance(event, AssetCheckEvaluation)
                       else None),
    }


def store_logs(conn: Connection, chunks: Sequence[LogChunk], now: float,
               grace: float) -> BatchReceipt:
    locked = lock_runs(conn, {chunk.run_id for chunk in chunks})
    # an ended attempt's chunks are let in during the grace period only (:mod:`._fence`)
    closed = {run_id for run_id, run in locked.items() if run.closed_to_output(now, grace)}
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, int, str, int]] = set()
    rejected = duplicates = 0
    for chunk in chunks:
        run = locked.get(chunk.run_id)
        if run is None or chunk.attempt != run.attempt or chunk.run_id in closed:
            rejected += 1
            continue
        key = (chunk.run_id, chunk.attempt, chunk.stream, chunk.seq)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        rows.append(
            {
                "run_id": chunk.run_id,
                "attempt": chunk.attempt,
                "stream": chunk.stream,
                "seq": chunk.seq,
                "step_key": chunk.step_key,
                "data": _codec.storable_text(chunk.data),
            }
        )
    stored = len(insert_new(conn, compute_logs, rows, unique=["run_id", "attempt", "stream", "seq"],
                            returning=[compute_logs.c.id]))
    return BatchReceipt(
        stored=stored, duplicates=duplicates + len(rows) - stored, rejected=rejected
    )


# -- queries -------------------------------------------------------------------------------


def get_run(conn: Connection, run_id: str) -> RunRecord | None:
    row = conn.execute(sa.select(runs).where(runs.c.run_id == run_id)).one_or_none()
    return None if row is None else run_record(row)


def tag_text(value: Any) -> str:
    """A tag's value as the tag filter compares it: strings as they are, others as JSON."""
    return value if isinstance(value, str) else _codec.to_json_text(value)


def list_runs(
    conn: Connection, *, limit: int, status: str | None, job_name: str | None,
    tag: tuple[str, str] | None = None, before: RunCursor | None = None,
    partition: str | None = None,
) -> list[RunRecord]:
    """Newest first, by (created_at, run_id): ``before`` continues after the last run of the
    previous page (keyset pagination, as fast on the 1,000th page as on the first)."""
    created, run_id = runs.c.created_at, runs.c.run_id
    query = sa.select(runs)
    if tag is not None:
        # the tag's index yields its runs in page order; the runs are joined to them
        query = query.join(run_tags, run_tags.c.run_id == runs.c.run_id).where(
            run_tags.c.key == tag[0], run_tags.c.value == tag[1])
        created, run_id = run_tags.c.created_at, run_tags.c.run_id
    query = query.order_by(created.desc(), run_id.desc()).limit(limit)
    if status is not None:
        query = query.where(runs.c.status == status)
    if job_name is not None:
        query = query.where(runs.c.job_name == job_name)
    if partition is not None:
        query = query.where(runs.c.partition == partition)
    if before is not None:
        query = query.where(sa.tuple_(created, run_id) < sa.tuple_(*before))
    return [run_record(row) for row in conn.execute(query)]


def run_events(
    conn: Connection, run_id: str, *, after_id: int | None, limit: int | None
) -> list[EventRecord]:
    query = (
        sa.select(events)
        .where(events.c.run_id == run_id)
        .order_by(events.c.timestamp, events.c.id)
    )
    if after_id is not None:
        query = query.where(events.c.id > after_id)
    if limit is not None:
        query = query.limit(limit)
    return [event_record(row) for row in conn.execute(query)]


def run_logs(
    conn: Connection, run_id: str, *, stream: str | None, after_id: int | None,
    step_key: str | None = None,
) -> list[LogRecord]:
    query = (
        sa.select(compute_logs)
        .where(compute_logs.c.run_id == run_id)
        .order_by(compute_logs.c.attempt, compute_logs.c.stream, compute_logs.c.seq)
    )
    if stream is not None:
        query = query.where(compute_logs.c.stream == stream)
    if step_key is not None:
        query = query.where(compute_logs.c.step_key == step_key)
    if after_id is not None:
        query = query.where(compute_logs.c.id > after_id)
    return [row_to(LogRecord, row) for row in conn.execute(query)]


def rebuild_run(conn: Connection, run_id: str, now: float) -> None:
    """Recompute the run's projection from its stored events of the current attempt, in the
    order they were stored (the order the live fold saw them)."""
    run = lock_run(conn, run_id)
    if run is None:
        raise RunNotFound(run_id)
    rows = conn.execute(
        sa.select(events.c.seq, events.c.type, events.c.timestamp, events.c.body)
        .where(events.c.run_id == run_id, events.c.attempt == run.attempt)
        .order_by(events.c.id)
    )
    write_projection(conn, run_id, fold(Projection(), map(fact_of_row, rows)), now)
