"""Read queries behind the web UI's pages: a run's event log filtered and paged, its steps'
spans for the timeline, and the checks' results (the assets' queries are in :mod:`._assets`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tether.wire import AssetCheckEvaluation

from . import _codec
from ._assets import newest_checks
from ._records import CheckEvaluation, CheckSummary, EventRecord, StepSpan
from ._rows import event_record
from ._run_page import like_pattern
from ._schema import CHECK_EVALUATIONS, STEP_EVENTS, events

# a position in a run's event log: (timestamp, id) of the last event shown
EventCursor = tuple[float, int]

_STEP_END = {"STEP_SUCCESS": "SUCCESS", "STEP_FAILURE": "FAILURE", "STEP_SKIPPED": "SKIPPED",
             "STEP_CANCELED": "CANCELED"}


def events_page(
    conn: Connection, run_id: str, *, limit: int, levels: Sequence[str] = (),
    step_key: str | None = None, after: EventCursor | None = None, after_id: int | None = None,
    text: str | None = None,
) -> list[EventRecord]:
    """Up to ``limit`` events of the run by (timestamp, id), from ``after`` on or stored after
    event ``after_id``, of the given levels (all when empty) and step, whose message contains
    ``text`` (ignoring case)."""
    query = (sa.select(events).where(events.c.run_id == run_id)
             .order_by(events.c.timestamp, events.c.id).limit(limit))
    if levels:
        query = query.where(events.c.level.in_(list(levels)))
    if step_key is not None:
        query = query.where(events.c.step_key == step_key)
    if text:
        # the run's rows only (its index bounds the scan), the page cut by the same keyset
        # lower() on both sides rather than ILIKE: PostgreSQL's ILIKE is four times slower
        query = query.where(sa.func.lower(events.c.message).like(like_pattern(text.lower()),
                                                                 escape="\\"))
    if after is not None:
        query = query.where(sa.tuple_(events.c.timestamp, events.c.id) > sa.tuple_(*after))
    if after_id is not None:
        # a live tail, in the order the events were stored: the id is in the run_id index
        # itself (SQLite's rowid; PostgreSQL takes the primary key for a recent id), so only
        # the new rows are read, and a batch cut at ``limit`` continues from its last id
        query = query.where(events.c.id > after_id).order_by(None).order_by(events.c.id)
    return [event_record(row) for row in conn.execute(query)]


def event_tally(conn: Connection, run_id: str) -> tuple[int, int]:
    """How many events the run has, and the id of the newest one stored (0 for none)."""
    count, newest = conn.execute(
        sa.select(sa.func.count(), sa.func.max(events.c.id)).where(events.c.run_id == run_id)
    ).one()
    return int(count or 0), int(newest or 0)


def step_spans(conn: Connection, run_id: str) -> list[StepSpan]:
    """Each step of each attempt: when it started and ended and how, in start order."""
    rows = conn.execute(
        sa.select(events.c.attempt, events.c.step_key, events.c.type, events.c.timestamp)
        # the partial index's own condition, as a literal
        .where(events.c.run_id == run_id, sa.text(STEP_EVENTS), events.c.step_key.is_not(None))
        .order_by(events.c.timestamp, events.c.id)
    )
    spans: dict[tuple[int, str], StepSpan] = {}
    for row in rows:
        key = (row.attempt, row.step_key)
        span = spans.get(key) or StepSpan(step_key=row.step_key, attempt=row.attempt,
                                          start=None, end=None, status="STARTED")
        if row.type == "STEP_START" and span.status == "RETRYING":
            # the step runs again: one bar from its first start, counting its attempts
            span = StepSpan(step_key=span.step_key, attempt=span.attempt, start=span.start,
                            end=None, status="STARTED", step_attempts=span.step_attempts + 1)
        elif row.type == "STEP_START":
            span = StepSpan(step_key=span.step_key, attempt=span.attempt, start=row.timestamp,
                            end=span.end, status=span.status)
        elif row.type == "STEP_RETRY":
            # not finished: it waits for its next attempt
            span = StepSpan(step_key=span.step_key, attempt=span.attempt, start=span.start,
                            end=None, status="RETRYING", step_attempts=span.step_attempts)
        else:
            span = StepSpan(step_key=span.step_key, attempt=span.attempt, start=span.start,
                            end=row.timestamp, status=_STEP_END[row.type],
                            step_attempts=span.step_attempts)
        spans[key] = span
    return list(spans.values())


def check_evaluations(conn: Connection, asset_key: str, *, check_name: str | None = None,
                      limit: int = 20) -> list[CheckEvaluation]:
    """The newest ``limit`` results of the checks of ``asset_key`` (of its check
    ``check_name`` only, when given), newest first."""
    query = (sa.select(events.c.run_id, events.c.timestamp, events.c.body)
             # the partial index's own condition, as a literal
             .where(sa.text(CHECK_EVALUATIONS), events.c.asset_key == asset_key)
             .order_by(events.c.id.desc()).limit(limit))
    if check_name is not None:
        query = query.where(events.c.check_name == check_name)
    return [_evaluation(event, row.run_id, row.timestamp) for row in conn.execute(query)
            if isinstance(event := _codec.event_decoder.decode(row.body), AssetCheckEvaluation)]


def check_summaries(conn: Connection, checks: Mapping[str, Sequence[str]]
                    ) -> dict[str, CheckSummary]:
    """The summary of each asset's checks (``checks``: their names by asset key) from the
    newest result of each: one index probe per check, however many results it has."""
    pairs = sorted({(key, name) for key, names in checks.items() for name in names})
    newest: dict[str, dict[str, tuple[bool, str]]] = {}
    for row in newest_checks(conn, pairs):
        outcome = _codec.outcome_decoder.decode(row.body)
        newest.setdefault(row.asset_key, {})[row.check_name] = (outcome.passed,
                                                                outcome.severity)
    return {key: CheckSummary.of(names, newest.get(key, {})) for key, names in checks.items()}


def run_check_evaluations(conn: Connection, run_id: str) -> list[CheckEvaluation]:
    """The check results of a run, in the order they were stored."""
    rows = conn.execute(
        sa.select(events.c.run_id, events.c.timestamp, events.c.body)
        .where(events.c.run_id == run_id, sa.text(CHECK_EVALUATIONS))
        .order_by(events.c.id)
    )
    return [_evaluation(event, row.run_id, row.timestamp) for row in rows
            if isinstance(event := _codec.event_decoder.decode(row.body), AssetCheckEvaluation)]


def _evaluation(event: AssetCheckEvaluation, run_id: str, timestamp: float) -> CheckEvaluation:
    return CheckEvaluation(
        asset_key=event.asset_key, check_name=event.check_name, run_id=run_id,
        step_key=event.step_key, timestamp=timestamp, passed=event.passed,
        severity=event.severity, blocking=event.blocking, description=event.description,
        metadata=dict(event.metadata))
