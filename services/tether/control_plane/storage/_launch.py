"""Creating a run: its row and first event, and its hand-over to the agents (at once, or when
the run queue admits it). Users' launches, re-executions and the runs schedules and sensors
ask for go through here alike."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import BadInput, RunNotFound
from . import _browse, _locations, _queue, _runs, _work
from ._queue import QueueLimits
from ._reexecution import (
    ReexecutionStrategy,
    reexecution_tags,
    require_ended,
    steps_from_failure,
)
from ._run_config import run_config_error
from ._schema import runs


def launch(conn: Connection, job_name: str, *, location: str | None,
           run_config: dict[str, Any], tags: dict[str, Any], traceparent: str, now: float,
           limits: QueueLimits, origin: str | None = None, run_key: str | None = None,
           step_selection: list[str] | None = None) -> str:
    """Queue a run of a job of a loaded location; its id. With ``origin`` and ``run_key``, a
    run that origin already created with that key is not created again: its id is returned.
    ``step_selection`` (steps of the job, each with the steps upstream of it) runs only those.
    Raises JobNotFoundError, AmbiguousJobError, LocationNotFound, LocationNotLoaded, or
    BadInput for a run config that does not fit the job's Config types (naming the path)."""
    if origin is not None and run_key is not None:
        existing = conn.execute(sa.select(runs.c.run_id).where(
            runs.c.origin == origin, runs.c.run_key == run_key)).scalar_one_or_none()
        if existing is not None:
            return str(existing)
    record, job = _locations.find_job(conn, job_name, location)
    # checked against the schema its code server exported: no user code runs here
    problem = run_config_error(job.run_config_schema, run_config)
    if problem is not None:
        raise BadInput(f"invalid run config for job {job.name}: {problem}")
    run_id = str(uuid.uuid4())
    _runs.create_run(conn, run_id=run_id, job_name=job.name, location=record.name,
                     run_config=run_config, tags=tags, traceparent=traceparent, origin=origin,
                     run_key=run_key, step_selection=step_selection, now=now)
    if limits.unlimited:
        _work.enqueue_launch(conn, run_id=run_id, attempt=1, job_name=job.name,
                             location=record.spec, run_config=run_config,
                             step_selection=step_selection, traceparent=traceparent, now=now)
    else:
        _queue.admit_waiting(conn, limits, now)
    return run_id


def reexecute(conn: Connection, run_id: str, *, strategy: ReexecutionStrategy,
              tags: dict[str, Any], traceparent: str, now: float, limits: QueueLimits) -> str:
    """Queue a new run of an ended run's job, location and config, tagged with the run it
    repeats and ``tags``; its id. FROM_FAILURE runs only the steps that did not succeed and
    those upstream of them (see ``_reexecution``). Raises RunNotFound, BadInput (the run has
    not ended; from failure: it succeeded, or its job's graph lost a step it did not
    complete), and whatever a launch of its job raises."""
    parent = _runs.get_run(conn, run_id)
    if parent is None:
        raise RunNotFound(run_id)
    require_ended(parent)
    selection = None
    if strategy is ReexecutionStrategy.FROM_FAILURE:
        _, job = _locations.find_job(conn, parent.job_name, parent.location)
        outcomes = {span.step_key: span.status for span in _browse.step_spans(conn, run_id)
                    if span.attempt == parent.attempt}
        selection = steps_from_failure(parent, job, outcomes)
    return launch(conn, parent.job_name, location=parent.location,
                  run_config=parent.run_config, tags={**reexecution_tags(parent), **tags},
                  traceparent=traceparent, now=now, limits=limits, step_selection=selection)
