"""Read queries behind the run page's header, timeline and output: when the run's attempt was
queued and claimed (the phases before its first step), the step that failed or was canceled
with its error, the first error of the log (for "jump to first error"), and the newest chunks
of a step's compute output that contain a text."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ._projection import RUN_QUEUED, RUN_STARTING
from ._records import EventRecord, LogRecord
from ._rows import event_record, row_to
from ._schema import STEP_EVENTS, compute_logs, events

_STOPPED_STEPS = ("STEP_FAILURE", "STEP_CANCELED")
_ERROR_LEVELS = ("ERROR", "CRITICAL")


@dataclass(frozen=True, slots=True)
class RunFacts:
    """What the run page shows above the log, read in one transaction."""

    # when the current attempt was queued and when an agent claimed it (None: not yet)
    queued_at: float | None
    starting_at: float | None
    # the STEP_FAILURE / STEP_CANCELED events of the current attempt, first first
    stopped_steps: list[EventRecord]
    # the first event of level ERROR or CRITICAL (any attempt), by (timestamp, id), if asked
    first_error: EventRecord | None


def like_pattern(text: str) -> str:
    """``text`` as a LIKE pattern that matches it anywhere, its wildcards taken literally
    (escaped with a backslash)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def run_facts(conn: Connection, run_id: str, attempt: int, *, first_error: bool = True
              ) -> RunFacts:
    """The facts of the run's ``attempt``; ``first_error=False`` skips the one query that
    reads the whole log (the page's live update does not show it)."""
    # the control plane's own events have no seq: the (run_id, attempt, seq) unique index
    # finds them without reading the log lines
    marks = dict(conn.execute(
        sa.select(events.c.type, sa.func.max(events.c.timestamp))
        .where(events.c.run_id == run_id, events.c.attempt == attempt,
               events.c.seq.is_(None), events.c.type.in_([RUN_QUEUED, RUN_STARTING]))
        .group_by(events.c.type)
    ).all())
    stopped = conn.execute(
        sa.select(events)
        # the partial index's own condition, as a literal, then the types wanted within it
        .where(events.c.run_id == run_id, sa.text(STEP_EVENTS),
               events.c.type.in_(_STOPPED_STEPS), events.c.attempt == attempt)
        .order_by(events.c.timestamp, events.c.id)
    )
    error = conn.execute(
        sa.select(events)
        .where(events.c.run_id == run_id, events.c.level.in_(_ERROR_LEVELS))
        .order_by(events.c.timestamp, events.c.id).limit(1)
    ).first() if first_error else None
    return RunFacts(queued_at=marks.get(RUN_QUEUED), starting_at=marks.get(RUN_STARTING),
                    stopped_steps=[event_record(row) for row in stopped],
                    first_error=None if error is None else event_record(error))


def compute_output(conn: Connection, run_id: str, *, stream: str, step_key: str | None,
                   text: str | None, limit: int) -> list[LogRecord]:
    """The newest ``limit`` chunks of the run's ``stream`` (of ``step_key``, containing
    ``text`` ignoring case), in the order they were stored."""
    query = (sa.select(compute_logs)
             .where(compute_logs.c.run_id == run_id, compute_logs.c.stream == stream)
             .order_by(compute_logs.c.id.desc()).limit(limit))
    if step_key is not None:
        query = query.where(compute_logs.c.step_key == step_key)
    if text:
        query = query.where(sa.func.lower(compute_logs.c.data).like(
            like_pattern(text.lower()), escape="\\"))
    rows = list(conn.execute(query))
    return [row_to(LogRecord, row) for row in reversed(rows)]
