"""Schedules and sensors on the control plane: when a tick is due, the tick history, and the
runs a tick's outcome asks for.

The control plane decides *when*; the user's function, in the location's code server,
decides *what*: each due tick becomes a tick row (EVALUATING) and an EvaluateTick work item;
the agent answers with a TickEvaluated, whose runs are created once per run key. A
schedule's tick is unique per due time, so a restarted or doubled daemon never asks twice;
ticks missed while no daemon ran are recorded as skipped, except the latest one, which is
evaluated late (catch-up "latest", the default), or all of them are (catch-up "all").
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from croniter import croniter
from sqlalchemy.engine import Connection

from tether.wire import (
    ErrorInfo,
    EvaluateTick,
    LocationSpec,
    ScheduleSnapshot,
    SensorSnapshot,
    TickKind,
    TickOutcome,
)

from ...errors import TetherError
from ..errors import BadInput
from . import _alerts, _codec, _deployments, _launch, _locations, _partitions, _sensor_news, _work
from ._engine import upsert
from ._queue import QueueLimits
from ._records import LaunchRequest, LocationStatus, NewRun
from ._rows import row_to
from ._schema import automation_states, ticks
from ._tags import TICK_TAGS

CatchUp = Literal["latest", "all"]
# at most this many missed ticks of one schedule are recorded (or evaluated) at once
MAX_MISSED = 100
# a tick no agent has answered within this long is failed (its work item may still run)
TICK_TIMEOUT_SECONDS = 300.0


class TickStatus:
    EVALUATING = "EVALUATING"
    SUCCESS = "SUCCESS"
    SKIPPED = "SKIPPED"
    FAILURE = "FAILURE"


@dataclass(frozen=True, slots=True)
class KeyedRun:
    run_key: str
    run_id: str


@dataclass(frozen=True, slots=True)
class AutomationState:
    """A schedule's or sensor's state row; it has none until first started, stopped or
    ticked."""

    kind: str
    location: str
    name: str
    # None: as its definition's default_running says
    running: bool | None
    # a sensor's, as its last evaluation left it
    cursor: str | None
    last_tick_time: float | None


@dataclass(frozen=True, slots=True)
class TickHead:
    """What the scheduler needs of a tick row: whose tick it is, when it was due, and how it
    stands."""

    id: int
    kind: str
    location: str
    name: str
    scheduled_time: float | None
    status: str


@dataclass(frozen=True, slots=True)
class TickRecord(TickHead):
    """A tick as its history lists it: what it did."""

    # the runs it created
    run_ids: list[str]
    # the runs it asked for whose run key had a run already (created by an earlier tick, or
    # earlier in this one): not created again
    existing_runs: list[KeyedRun]
    skip_reason: str | None
    error: str | None
    created_at: float
    ended_at: float | None


@dataclass(frozen=True, slots=True)
class AutomationRecord:
    """A schedule or sensor of a loaded location, with its state."""

    kind: TickKind
    location: str
    name: str
    job_name: str
    running: bool
    # a schedule's cron and timezone; a sensor's minimum interval
    cron: str | None
    timezone: str | None
    minimum_interval_seconds: float | None
    cursor: str | None
    last_tick_time: float | None
    next_tick_time: float | None
    # a run status or asset sensor's watch, in words (None: a schedule or a plain sensor)
    watches: str | None = None


def origin(kind: str, location: str, name: str) -> str:
    return f"{kind}:{location}/{name}"


# -- what exists ---------------------------------------------------------------------------


def _definitions(conn: Connection) -> Iterator[
        tuple[LocationSpec, ScheduleSnapshot | SensorSnapshot]]:
    """Every schedule and sensor of every location with a snapshot."""
    for record in _locations.list_all(conn):
        if record.snapshot is None or record.status == LocationStatus.ERROR:
            continue
        yield from ((record.spec, schedule) for schedule in record.snapshot.schedules)
        yield from ((record.spec, sensor) for sensor in record.snapshot.sensors)


def _kind(definition: ScheduleSnapshot | SensorSnapshot) -> TickKind:
    return "schedule" if isinstance(definition, ScheduleSnapshot) else "sensor"


def _state(conn: Connection, kind: str, location: str, name: str) -> AutomationState | None:
    row = conn.execute(sa.select(automation_states).where(
        automation_states.c.kind == kind, automation_states.c.location == location,
        automation_states.c.name == name)).one_or_none()
    return None if row is None else row_to(AutomationState, row)


def _states(conn: Connection) -> dict[tuple[str, str, str], AutomationState]:
    """Every schedule's and sensor's state, by (kind, location, name): one query."""
    return {(row.kind, row.location, row.name): row_to(AutomationState, row)
            for row in conn.execute(sa.select(automation_states))}


def _save_state(conn: Connection, kind: str, location: str, name: str, now: float,
                **values: Any) -> None:
    row = {"kind": kind, "location": location, "name": name, "updated_at": now, **values}
    conn.execute(upsert(conn, automation_states).values(**row).on_conflict_do_update(
        index_elements=["deployment", "kind", "location", "name"],
        set_={**values, "updated_at": now}))


def _is_running(definition: ScheduleSnapshot | SensorSnapshot,
                state: AutomationState | None, branch: bool) -> bool:
    """Started or stopped by hand, else as its code says; in a branch deployment, stopped
    until started (a pull request's copy must not run production's schedules)."""
    if state is not None and state.running is not None:
        return bool(state.running)
    return definition.default_running and not branch


def list_automations(conn: Connection, now: float) -> list[AutomationRecord]:
    records = []
    states = _states(conn)
    branch = _deployments.in_branch(conn)
    for spec, definition in _definitions(conn):
        kind = _kind(definition)
        state = states.get((kind, spec.name, definition.name))
        running = _is_running(definition, state, branch)
        last = state.last_tick_time if state is not None else None
        if isinstance(definition, ScheduleSnapshot):
            after = max(last or now, now) if running else now
            next_time: float | None = _due_after(definition, after)
            cron, timezone, interval = definition.cron, definition.timezone, None
            watches = None
        else:
            next_time = (max(now, (last or now) + definition.minimum_interval_seconds)
                         if running else None)
            cron, timezone, interval = None, None, definition.minimum_interval_seconds
            watches = _watches(definition)
        records.append(AutomationRecord(
            kind=kind, location=spec.name, name=definition.name, job_name=definition.job_name,
            running=running, cron=cron, timezone=timezone, minimum_interval_seconds=interval,
            cursor=state.cursor if state is not None else None, last_tick_time=last,
            next_tick_time=next_time if running else None, watches=watches))
    return records


def _watches(sensor: SensorSnapshot) -> str | None:
    if sensor.sensor_type == "run_status":
        jobs = ", ".join(sensor.monitored_jobs) or "any job"
        return f"runs of {jobs} that end {' or '.join(sensor.run_statuses)}".replace(
            "end STARTED", "start")
    if sensor.sensor_type in ("asset", "multi_asset"):
        return f"materializations of {', '.join(sensor.asset_keys)}"
    return None


def set_running(conn: Connection, kind: TickKind, name: str, location: str | None,
                running: bool, now: float) -> AutomationRecord:
    """Start or stop a schedule or sensor. Started, a schedule ticks from now on (the ticks
    it would have had while stopped are not made up)."""
    spec, definition = _one(conn, kind, name, location)
    state = _state(conn, kind, spec.name, name)
    values: dict[str, Any] = {"running": running}
    if running and not _is_running(definition, state, _deployments.in_branch(conn)):
        values["last_tick_time"] = now
    _save_state(conn, kind, spec.name, name, now, **values)
    return next(r for r in list_automations(conn, now)
                if r.kind == kind and r.location == spec.name and r.name == name)


def _one(conn: Connection, kind: TickKind, name: str, location: str | None) -> tuple[
        LocationSpec, ScheduleSnapshot | SensorSnapshot]:
    """The schedule or sensor ``name`` (of ``location``, if given); BadInput names the known
    ones, or the locations to choose from."""
    matches = [(spec, d) for spec, d in _definitions(conn)
               if _kind(d) == kind and d.name == name and location in (None, spec.name)]
    if not matches:
        known = sorted(d.name for _, d in _definitions(conn) if _kind(d) == kind)
        raise BadInput(f"no {kind} named {name!r}" + (f" in location {location!r}"
                                                      if location else "")
                       + f"; known: {', '.join(known) or 'none'}")
    if len(matches) > 1:
        raise BadInput(f"several locations define a {kind} named {name!r}: "
                       f"{', '.join(spec.name for spec, _ in matches)}; name the location")
    return matches[0]


def tick_now(conn: Connection, kind: TickKind, name: str, location: str | None,
             scheduled_time: float | None, now: float,
             traceparent: str = "") -> TickRecord:
    """Ask for one tick of a schedule or sensor now, started or stopped (what a user tests
    it with): a tick row and its work item, as the scheduler makes them, so its outcome
    creates runs (once per run key) and saves a sensor's cursor like any tick's. A
    schedule's tick is due at ``scheduled_time`` (default: now); its state and next due time
    are left as they were."""
    spec, definition = _one(conn, kind, name, location)
    if isinstance(definition, ScheduleSnapshot):
        when = now if scheduled_time is None else scheduled_time
        tick_id = _new_tick(conn, kind, spec.name, name, when, now)
        if tick_id is None:
            due = dt.datetime.fromtimestamp(when, dt.UTC).isoformat()
            raise BadInput(f"schedule {name!r} has a tick due at {due} already; pass "
                           "another scheduled time")
        payload = EvaluateTick(tick_id=tick_id, kind=kind, name=name, location=spec,
                               scheduled_time=when)
    else:
        if scheduled_time is not None:
            raise BadInput(f"a sensor's tick has no scheduled time (sensor {name!r}); "
                           "leave it out")
        if _evaluating(conn, kind, spec.name, name):
            raise BadInput(f"a tick of sensor {name!r} is being evaluated; the next one "
                           "needs its cursor: try again when it has ended")
        state = _state(conn, kind, spec.name, name)
        cursor = state.cursor if state is not None else None
        last = state.last_tick_time if state is not None else None
        tick_id = _new_tick(conn, kind, spec.name, name, None, now)
        assert tick_id is not None  # sensor ticks have no due time to collide on
        changes, materializations, until = (
            _sensor_news.news(conn, definition, cursor)
            if definition.sensor_type != "standard" else ([], [], 0))
        payload = EvaluateTick(tick_id=tick_id, kind=kind, name=name, location=spec,
                               cursor=cursor, last_tick_time=last, run_changes=changes,
                               materializations=materializations, events_until=until)
    _work.enqueue(conn, payload, queue=spec.queue, traceparent=traceparent, now=now)
    [tick] = _tick_records(conn.execute(sa.select(ticks).where(ticks.c.id == tick_id)))
    return tick


# -- ticks ---------------------------------------------------------------------------------


def _due_after(schedule: ScheduleSnapshot, after: float) -> float:
    return _next_due(schedule.cron, schedule.timezone, after)


@functools.lru_cache(maxsize=100_000)
def _next_due(cron: str, timezone: str, after: float) -> float:
    """The first due time of ``cron`` in ``timezone`` after ``after``; cached, because the
    scheduler asks it for every schedule on every turn until the tick is due."""
    start = dt.datetime.fromtimestamp(after, ZoneInfo(timezone))
    return float(croniter(cron, start).get_next(float))


def _due_between(schedule: ScheduleSnapshot, after: float, until: float) -> list[float]:
    """The due times in (after, until], the newest ``MAX_MISSED`` of them. Each step is the
    cached :func:`_next_due`, so the next turn's check of the last one costs nothing."""
    due: list[float] = []
    when = _next_due(schedule.cron, schedule.timezone, after)
    while when <= until:
        due.append(when)
        if len(due) > MAX_MISSED:
            due.pop(0)
        when = _next_due(schedule.cron, schedule.timezone, when)
    return due


def _due(conn: Connection, now: float) -> Iterator[
        tuple[LocationSpec, ScheduleSnapshot | SensorSnapshot, AutomationState | None]]:
    """The running schedules and sensors that have a tick to ask for now (or whose state is
    to be started), with their state."""
    for spec, definition, state, when in _next_ticks(conn, now):
        if when <= now:
            yield spec, definition, state


def _next_ticks(conn: Connection, now: float) -> Iterator[
        tuple[LocationSpec, ScheduleSnapshot | SensorSnapshot, AutomationState | None,
              float]]:
    """Each running schedule and sensor, its state, and when it next has a tick to ask for
    (``now`` for one whose state is to be started): one query for all states, and a
    schedule's next due time computed once per last tick, not on every turn."""
    states = _states(conn)
    branch = _deployments.in_branch(conn)
    for spec, definition in _definitions(conn):
        state = states.get((_kind(definition), spec.name, definition.name))
        if not _is_running(definition, state, branch):
            continue
        last = state.last_tick_time if state is not None else None
        if last is None:
            yield spec, definition, state, now
        elif isinstance(definition, ScheduleSnapshot):
            yield spec, definition, state, _next_due(definition.cron, definition.timezone, last)
        else:
            yield spec, definition, state, last + definition.minimum_interval_seconds


def next_tick_time(conn: Connection, now: float) -> float | None:
    """When :func:`start_due_ticks` next has something to do (at or before ``now``: it has
    now); None while no schedule or sensor runs (a read: the scheduler sleeps until then)."""
    times = [when for _, _, _, when in _next_ticks(conn, now)]
    oldest = conn.execute(sa.select(sa.func.min(ticks.c.created_at)).where(
        ticks.c.status == TickStatus.EVALUATING)).scalar_one_or_none()
    if oldest is not None:
        times.append(oldest + TICK_TIMEOUT_SECONDS)
    return min(times, default=None)


def start_due_ticks(conn: Connection, now: float, catch_up: CatchUp,
                    traceparent: str = "") -> list[int]:
    """Ask for every tick that is due: the ids of the ticks now being evaluated. Their work
    items carry ``traceparent``, so each evaluation joins the scheduler's trace."""
    started: list[int] = []
    schedules: list[tuple[LocationSpec, ScheduleSnapshot, list[float]]] = []
    for spec, definition, state in list(_due(conn, now)):
        kind = _kind(definition)
        if state is None or state.last_tick_time is None:
            # first seen running (default_running): tick from now on
            _save_state(conn, kind, spec.name, definition.name, now, last_tick_time=now)
            continue
        if isinstance(definition, ScheduleSnapshot):
            due = _due_between(definition, state.last_tick_time, now)
            if due:
                schedules.append((spec, definition, due))
        else:
            tick = _sensor_tick(conn, spec, definition, state.cursor, state.last_tick_time,
                                now, traceparent)
            started += [tick] if tick is not None else []
    started += _schedule_ticks(conn, schedules, now, catch_up, traceparent)
    _time_out(conn, now)
    return started


def _schedule_ticks(conn: Connection,
                    due: list[tuple[LocationSpec, ScheduleSnapshot, list[float]]],
                    now: float, catch_up: CatchUp, traceparent: str) -> list[int]:
    """The ticks of the schedules that are due, each due time once; a few statements for
    all of them, so a thousand schedules due in the same minute are asked for at once."""
    missed = ("missed while no scheduler ran; catch-up evaluates only the latest missed "
              "tick")
    rows = []
    for spec, schedule, times in due:
        evaluate = set(times if catch_up == "all" else times[-1:])
        rows += [_tick_row("schedule", spec.name, schedule.name, when, now,
                           status=(TickStatus.EVALUATING if when in evaluate
                                   else TickStatus.SKIPPED),
                           skip_reason=None if when in evaluate else missed)
                 for when in times]
    specs = {(spec.name, schedule.name): spec for spec, schedule, _ in due}
    work: list[tuple[EvaluateTick, str]] = []
    for tick in _insert_ticks(conn, rows):
        if tick.status == TickStatus.EVALUATING:
            spec = specs[(tick.location, tick.name)]
            work.append((EvaluateTick(tick_id=tick.id, kind="schedule", name=tick.name,
                                      location=spec, scheduled_time=tick.scheduled_time),
                         spec.queue))
    _work.enqueue_many(conn, work, traceparent=traceparent, now=now)
    if due:
        conn.execute(automation_states.update().where(
            automation_states.c.kind == "schedule",
            automation_states.c.location == sa.bindparam("b_location"),
            automation_states.c.name == sa.bindparam("b_name"),
        ).values(last_tick_time=sa.bindparam("b_last"), updated_at=now), [
            {"b_location": spec.name, "b_name": schedule.name, "b_last": times[-1]}
            for spec, schedule, times in due])
    return [payload.tick_id for payload, _ in work]


def _sensor_tick(conn: Connection, spec: LocationSpec, sensor: SensorSnapshot,
                 cursor: str | None, last_tick_time: float, now: float,
                 traceparent: str) -> int | None:
    if now - last_tick_time < sensor.minimum_interval_seconds:
        return None
    if _evaluating(conn, "sensor", spec.name, sensor.name):
        return None  # one tick at a time: the next one needs this one's cursor
    tick_id = _new_tick(conn, "sensor", spec.name, sensor.name, None, now)
    assert tick_id is not None  # sensor ticks have no due time to collide on
    changes, materializations, until = (
        _sensor_news.news(conn, sensor, cursor) if sensor.sensor_type != "standard"
        else ([], [], 0))
    _work.enqueue(conn, EvaluateTick(tick_id=tick_id, kind="sensor", name=sensor.name,
                                     location=spec, cursor=cursor,
                                     last_tick_time=last_tick_time, run_changes=changes,
                                     materializations=materializations,
                                     events_until=until),
                  queue=spec.queue, traceparent=traceparent, now=now)
    _save_state(conn, "sensor", spec.name, sensor.name, now, last_tick_time=now)
    return tick_id


def _tick_row(kind: str, location: str, name: str, scheduled_time: float | None, now: float,
              *, status: str = TickStatus.EVALUATING,
              skip_reason: str | None = None) -> dict[str, Any]:
    return {"kind": kind, "location": location, "name": name,
            "scheduled_time": scheduled_time, "status": status, "run_ids": "[]",
            "existing_runs": "[]",
            "skip_reason": skip_reason, "created_at": now,
            "ended_at": None if status == TickStatus.EVALUATING else now}


def _insert_ticks(conn: Connection, rows: list[dict[str, Any]]) -> list[TickHead]:
    """Insert tick rows, leaving out those whose schedule and due time exist already; the
    ticks inserted."""
    if not rows:
        return []
    # executemany with RETURNING: one statement compiled once and cached, which a
    # multi-row VALUES of hundreds of rows is not
    return [row_to(TickHead, row) for row in conn.execute(
        upsert(conn, ticks).on_conflict_do_nothing()
        .returning(ticks.c.id, ticks.c.kind, ticks.c.location, ticks.c.name,
                   ticks.c.scheduled_time, ticks.c.status), rows)]


def _new_tick(conn: Connection, kind: str, location: str, name: str,
              scheduled_time: float | None, now: float) -> int | None:
    """A new tick row; None if this schedule's tick for that due time exists already."""
    inserted = _insert_ticks(conn, [_tick_row(kind, location, name, scheduled_time, now)])
    return inserted[0].id if inserted else None


def _evaluating(conn: Connection, kind: str, location: str, name: str) -> bool:
    return conn.execute(sa.select(ticks.c.id).where(
        ticks.c.kind == kind, ticks.c.location == location, ticks.c.name == name,
        ticks.c.status == TickStatus.EVALUATING).limit(1)).first() is not None


def _time_out(conn: Connection, now: float) -> None:
    error = ErrorInfo(
        class_name="TickTimeout",
        message=f"no agent evaluated the tick within {TICK_TIMEOUT_SECONDS:g} s: is an "
                "agent serving the location's queue, with the location loaded?")
    late = conn.execute(ticks.update().where(
        ticks.c.status == TickStatus.EVALUATING,
        ticks.c.created_at < now - TICK_TIMEOUT_SECONDS,
    ).values(status=TickStatus.FAILURE, ended_at=now, error=_codec.to_json_text(error))
        .returning(ticks.c.id, ticks.c.kind, ticks.c.location, ticks.c.name)).all()
    for tick in late:
        _alerts.on_tick_failed(conn, tick.kind, tick.location, tick.name, tick.id,
                               f"{error.class_name}: {error.message}", now)


# -- outcomes ------------------------------------------------------------------------------


def record_outcomes(conn: Connection, evaluated: Sequence[tuple[int, TickOutcome]],
                    now: float, limits: QueueLimits) -> list[bool]:
    """Apply evaluated ticks: create their runs (once per run key), keep each sensor's
    cursor, and close the ticks; for each, False if it is unknown or closed already. The runs
    of all of them are checked and created together (see :mod:`._launch`)."""
    rows = {row.id: row_to(TickHead, row) for row in conn.execute(
        sa.select(ticks).where(ticks.c.id.in_(sorted({tick_id for tick_id, _ in evaluated})))
        .order_by(ticks.c.id).with_for_update())}
    applied: list[bool] = []
    # (tick, outcome, its requests) of the ticks to close, in order
    closing: list[tuple[TickHead, TickOutcome, list[LaunchRequest]]] = []
    for tick_id, outcome in evaluated:
        tick = rows.pop(tick_id, None)  # a tick answered twice in one batch counts once
        if tick is None or tick.status != TickStatus.EVALUATING:
            applied.append(False)
            continue
        applied.append(True)
        if outcome.error is None:
            # before the runs are planned: they may be of the partitions added here
            _partitions.apply_requests(conn, outcome.dynamic_partitions_requests, now)
        closing.append((tick, outcome, _requests(tick, outcome)))
    planned = iter(_launch.plan(conn, [request for _, _, requests in closing
                                       for request in requests], now=now))
    to_create: list[_launch.PlannedRun] = []
    # per tick: the runs it asks for (its part of to_create), and the error that failed it
    verdicts: list[tuple[list[_launch.PlannedRun], ErrorInfo | None]] = []
    for _, outcome, requests in closing:
        mine: list[_launch.PlannedRun] = []
        error = outcome.error
        for index, plan in enumerate(itertools.islice(planned, len(requests))):
            if error is not None:
                continue  # a refused request fails the tick; the runs before it stand
            if isinstance(plan, TetherError):
                error = ErrorInfo(class_name=type(plan).__name__,
                                  message=f"run request {index + 1} refused: {plan}")
            else:
                mine.append(plan)
        to_create += mine
        verdicts.append((mine, error))
    run_ids = iter(_launch.create(conn, to_create, now=now, limits=limits))
    created_here: set[str] = set()
    updates = []
    for (tick, outcome, _), (plans, error) in zip(closing, verdicts, strict=True):
        ids: list[str] = []
        existing: list[tuple[str, str]] = []
        for plan, run_id in zip(plans, run_ids, strict=False):
            if isinstance(plan, NewRun) and run_id not in created_here:
                created_here.add(run_id)
                ids.append(run_id)
            else:
                # its run key has a run: from an earlier tick, or a request before it
                existing.append((plan.request.run_key or "", run_id))
        if error is None and tick.kind == "sensor":
            _save_state(conn, "sensor", tick.location, tick.name, now, cursor=outcome.cursor)
        status = (TickStatus.FAILURE if error is not None else
                  TickStatus.SUCCESS if ids else TickStatus.SKIPPED)
        if error is not None:
            _alerts.on_tick_failed(conn, tick.kind, tick.location, tick.name, tick.id,
                                   error.stack or f"{error.class_name}: {error.message}", now)
        updates.append({"b_id": tick.id, "b_status": status, "b_run_ids":
                        _codec.to_json_text(ids), "b_existing": _codec.to_json_text(existing),
                        "b_skip": outcome.skip_reason if error is None else None,
                        "b_error": None if error is None else _codec.to_json_text(error)})
    if updates:
        conn.execute(ticks.update().where(ticks.c.id == sa.bindparam("b_id")).values(
            status=sa.bindparam("b_status"), ended_at=now, run_ids=sa.bindparam("b_run_ids"),
            existing_runs=sa.bindparam("b_existing"), skip_reason=sa.bindparam("b_skip"),
            error=sa.bindparam("b_error")), updates)
    return applied


def _requests(tick: TickHead, outcome: TickOutcome) -> list[LaunchRequest]:
    """The runs an evaluated tick asks for, each with its run key: a schedule's runs are one
    per due time, even without a key of the user's."""
    if outcome.error is not None:
        return []
    requests = []
    made_by = origin(tick.kind, tick.location, tick.name)
    for index, request in enumerate(outcome.run_requests):
        run_key = request.run_key
        if run_key is None and tick.scheduled_time is not None:
            run_key = f"{tick.scheduled_time:.0f}" + (f"-{index}" if index else "")
        requests.append(LaunchRequest(
            job_name=request.job_name, location=tick.location, run_config=request.run_config,
            tags={**request.tags, TICK_TAGS[tick.kind]: tick.name}, origin=made_by,
            run_key=run_key, partition=request.partition))
    return requests


def list_ticks(conn: Connection, kind: str, location: str, name: str,
               limit: int) -> list[TickRecord]:
    return _tick_records(conn.execute(sa.select(ticks).where(
        ticks.c.kind == kind, ticks.c.location == location, ticks.c.name == name)
        .order_by(ticks.c.id.desc()).limit(limit)))


def _tick_records(rows: Iterable[sa.Row[Any]]) -> list[TickRecord]:
    return [row_to(
        TickRecord, row,
        run_ids=_codec.list_json_decoder.decode(row.run_ids),
        existing_runs=[KeyedRun(run_key=key, run_id=run_id) for key, run_id in
                       _codec.pairs_json_decoder.decode(row.existing_runs)],
        error=_error_text(row.error)) for row in rows]


def _error_text(raw: str | None) -> str | None:
    if raw is None:
        return None
    error = _codec.error_from_json(raw)
    if error is None:
        return None
    return error.stack or f"{error.class_name}: {error.message}"
