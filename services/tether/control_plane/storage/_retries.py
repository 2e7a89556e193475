"""Retries: a failed run whose ``tether/max_retries`` tag allows it gets a new attempt.

The new attempt is fenced like any other: the run's row moves to it (a fresh projection,
QUEUED), so events, logs and results of the failed attempt that arrive late are rejected.
Its LaunchRun is enqueued at once (it counts against the run queue's limits from then on).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import _codec, _locations, _runs, _work
from ._projection import RUN_QUEUED, Fact, Projection, RunStatus
from ._records import RunRecord
from ._schema import runs

RETRIES_TAG = "tether/max_retries"
# failures older than this are not looked at again
WINDOW_SECONDS = 3600.0


def max_retries(tags: dict[str, Any]) -> int:
    try:
        return max(0, int(tags.get(RETRIES_TAG, 0)))
    except (TypeError, ValueError):
        return 0


def will_retry(record: RunRecord) -> bool:
    """Whether ``record`` failed and its tag allows another attempt: it is not finished, and
    a user following it waits for that attempt."""
    return record.status == RunStatus.FAILURE and record.attempt <= max_retries(record.tags)


def retryable(conn: Connection, now: float) -> list[tuple[str, int]]:
    """(run, failed attempt) of the recently failed runs whose tag allows another attempt."""
    rows = conn.execute(
        sa.select(runs.c.run_id, runs.c.attempt, runs.c.tags)
        .where(runs.c.status == RunStatus.FAILURE, runs.c.end_time >= now - WINDOW_SECONDS))
    return [(row.run_id, row.attempt) for row in rows
            if row.attempt <= max_retries(_codec.dict_json_decoder.decode(row.tags))]


def retry_failed(conn: Connection, now: float) -> list[str]:
    """Start a new attempt of each recently failed run that may retry; the ids retried."""
    return [run_id for run_id, attempt in retryable(conn, now)
            if _retry(conn, run_id, attempt, now)]


def _retry(conn: Connection, run_id: str, failed_attempt: int, now: float) -> bool:
    run = _runs.lock_run(conn, run_id)
    record = _runs.get_run(conn, run_id)
    if run is None or record is None or run.attempt != failed_attempt or \
            run.projection.status is not RunStatus.FAILURE:
        return False  # retried meanwhile, or no longer failed
    location = _locations.get(conn, record.location)
    if location is None:
        return False
    attempt = failed_attempt + 1
    conn.execute(runs.update().where(runs.c.run_id == run_id).values(
        attempt=attempt, status=RunStatus.QUEUED, start_time=None, end_time=None, error=None,
        steps_succeeded=0, steps_failed=0, updated_at=now))
    cause = run.projection.error.message if run.projection.error else "it failed"
    _runs.record_control_event(
        conn, _runs.LockedRun(run_id=run_id, attempt=attempt, projection=Projection()),
        Fact(type=RUN_QUEUED, timestamp=now),
        f"Retry {attempt - 1} of {max_retries(record.tags)}: attempt {attempt} queued after "
        f"attempt {failed_attempt} failed: {cause}", now)
    _work.enqueue_launches(conn, [_work.Launch(
        run_id=run_id, attempt=attempt, job_name=record.job_name, location=location.spec,
        run_config=record.run_config, traceparent=record_traceparent(conn, run_id),
        step_selection=record.step_selection, input_runs=record.input_runs,
        tags=record.tags)], now)
    return True


def record_traceparent(conn: Connection, run_id: str) -> str:
    value = conn.execute(sa.select(runs.c.traceparent)
                         .where(runs.c.run_id == run_id)).scalar_one_or_none()
    return value or ""
