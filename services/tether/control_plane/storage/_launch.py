"""Creating runs: their rows and first events, and their hand-over to the agents (at once, or
when the run queue admits them). Users' launches and the runs schedules and sensors ask for go
through here alike; so do re-executions (:func:`reexecute`).

A launch is checked first (:func:`plan`: the job exists and is loaded, the run config fits),
then written (:func:`create`). Both take a batch: the thousand runs of a thousand schedules
due in the same minute are checked against one decoded snapshot per location and written
with a few statements, not a few per run.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tether.partitions import range_of
from tether.wire import JobSnapshot

from ...errors import TetherError, describe_problems
from ..errors import BadInput, RunNotFound
from . import _browse, _locations, _queue, _runs, _work
from ._partitions import check_run_partition
from ._pools import with_pool_tags
from ._queue import QueueLimits
from ._records import ExistingRun, LaunchRequest, LocationRecord, NewRun
from ._reexecution import (
    ReexecutionStrategy,
    reexecution_tags,
    require_ended,
    steps_from_failure,
)
from ._run_config import run_config_errors
from ._schema import runs

# two bound values a pair: well inside SQLite's limit on a statement's variables
_PAIRS_PER_QUERY = 400


# a launch request that passed the checks
PlannedRun = NewRun | ExistingRun


def launch(conn: Connection, request: LaunchRequest, *, now: float,
           limits: QueueLimits) -> str:
    """Queue a run of a job of a loaded location; its id. Raises JobNotFoundError,
    AmbiguousJobError, LocationNotFound, LocationNotLoaded, or BadInput for a run config that
    does not fit the job's Config types (naming the path)."""
    [planned] = plan(conn, [request], now=now)
    if isinstance(planned, TetherError):
        raise planned
    [run_id] = create(conn, [planned], now=now, limits=limits)
    return run_id


def reexecute(conn: Connection, run_id: str, *, strategy: ReexecutionStrategy,
              tags: dict[str, Any], traceparent: str, now: float, limits: QueueLimits) -> str:
    """Queue a new run of an ended run's job, location and config, tagged with the run it
    repeats and ``tags``; its id. FROM_FAILURE runs only the steps that did not succeed (and
    those upstream of them whose output is not stored; see ``_reexecution``). Raises
    RunNotFound, BadInput (the run has not ended; from failure: it succeeded, or its job's
    graph lost a step it did not complete), and whatever a launch of its job raises."""
    parent = _runs.get_run(conn, run_id)
    if parent is None:
        raise RunNotFound(run_id)
    require_ended(parent)
    selection: list[str] | None = None
    input_runs: dict[str, str] = {}
    if strategy is ReexecutionStrategy.FROM_FAILURE:
        _, job = _locations.find_job(conn, parent.job_name, parent.location)
        outcomes = {span.step_key: span.status for span in _browse.step_spans(conn, run_id)
                    if span.attempt == parent.attempt}
        selection, input_runs = steps_from_failure(parent, job, outcomes)
    return launch(conn, LaunchRequest(
        job_name=parent.job_name, location=parent.location, run_config=parent.run_config,
        tags={**reexecution_tags(parent), **tags}, traceparent=traceparent,
        step_selection=selection, input_runs=input_runs, partition=parent.partition),
        now=now, limits=limits)


def plan(conn: Connection, requests: Sequence[LaunchRequest], *,
         now: float) -> list[PlannedRun | TetherError]:
    """Check each request (reads only): what :func:`create` is to write for it, or the error
    that refuses it (a partition is checked against the job's partitions at ``now``)."""
    existing = _existing_runs(conn, requests)
    dynamic: dict[str, list[str]] = {}
    jobs: dict[tuple[str, str | None], tuple[LocationRecord, JobSnapshot] | TetherError] = {}
    locations: dict[str, LocationRecord | None] = {}
    planned: list[PlannedRun | TetherError] = []
    for request in requests:
        run_id = existing.get((request.origin, request.run_key))
        if run_id is not None:
            planned.append(ExistingRun(request=request, run_id=run_id))
            continue
        key = (request.job_name, request.location)
        if key not in jobs:
            try:
                jobs[key] = _locations.find_job(conn, request.job_name, request.location,
                                                cache=locations)
            except TetherError as exc:
                jobs[key] = exc
        found = jobs[key]
        if isinstance(found, TetherError):
            planned.append(found)
            continue
        record, job = found
        # checked against the schema its code server exported: no user code runs here
        problems = run_config_errors(job.run_config_schema, request.run_config)
        if problems:
            planned.append(BadInput(f"invalid run config for job {job.name}: "
                                    f"{describe_problems(problems)}"))
            continue
        try:
            check_run_partition(conn, job, request.partition, now=now, dynamic=dynamic,
                                partition_range=range_of(request.tags))
        except BadInput as exc:
            planned.append(exc)
            continue
        # the job's tags are its runs' defaults (the launch's own tags win); the pools of
        # the steps it runs are the control plane's to say
        tags = with_pool_tags({**job.tags, **request.tags}, job, request.step_selection)
        if tags != request.tags:
            request = dataclasses.replace(request, tags=tags)
        planned.append(NewRun(request=request, run_id=str(uuid.uuid4()), job_name=job.name,
                              location=record.spec))
    return planned


def create(conn: Connection, planned: Sequence[PlannedRun], *, now: float,
           limits: QueueLimits) -> list[str]:
    """Write the planned runs, QUEUED, and hand them over (or to the run queue); the run id
    of each, in order. Two of them with the same origin and key are one run."""
    run_ids: list[str] = []
    new: list[NewRun] = []
    by_key: dict[tuple[str, str], str] = {}
    for run in planned:
        key = _key_of(run.request)
        if isinstance(run, NewRun) and key is not None and key in by_key:
            run_ids.append(by_key[key])
            continue
        if isinstance(run, NewRun):
            new.append(run)
        if key is not None:
            by_key[key] = run.run_id
        run_ids.append(run.run_id)
    if not new:
        return run_ids
    _runs.create_runs(conn, new, now=now)
    if limits.unlimited:
        _work.enqueue_launches(conn, [_work.Launch(
            run_id=run.run_id, attempt=1, job_name=run.job_name, location=run.location,
            run_config=run.request.run_config, traceparent=run.request.traceparent,
            step_selection=run.request.step_selection, input_runs=run.request.input_runs,
            partition=run.request.partition, tags=run.request.tags)
            for run in new], now=now)
    else:
        _queue.admit_waiting(conn, limits, now)
    return run_ids


def _key_of(request: LaunchRequest) -> tuple[str, str] | None:
    if request.origin is None or request.run_key is None:
        return None
    return request.origin, request.run_key


def _existing_runs(conn: Connection,
                   requests: Sequence[LaunchRequest]) -> dict[tuple[Any, Any], str]:
    """The runs created already for the requests' (origin, run key) pairs."""
    pairs = sorted({key for request in requests if (key := _key_of(request)) is not None})
    found: dict[tuple[Any, Any], str] = {}
    for start in range(0, len(pairs), _PAIRS_PER_QUERY):
        rows = conn.execute(sa.select(runs.c.origin, runs.c.run_key, runs.c.run_id).where(
            sa.tuple_(runs.c.origin, runs.c.run_key).in_(
                pairs[start:start + _PAIRS_PER_QUERY])))
        found.update(((row.origin, row.run_key), str(row.run_id)) for row in rows)
    return found
