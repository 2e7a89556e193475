"""``@schedule`` and ``@sensor``: the user's functions that decide which runs to create, and
their evaluation for one tick (the code server calls :func:`evaluate_schedule` and
:func:`evaluate_sensor`; the control plane decides when a tick is due and creates the runs).

A schedule's function gets the tick's scheduled time and may return nothing (one run of its
job), a :class:`RunRequest`, several, or a :class:`SkipReason`. A sensor's function gets the
cursor it saved on its last tick and returns or yields run requests, or a skip reason, or a
:class:`SensorResult` (which can also add or delete dynamic partitions); a request's
``run_key`` makes asking twice harmless, and its ``partition_key`` names the partition of a
partitioned job to run.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tether.wire import (
    DynamicPartitionsRequest,
    ErrorInfo,
    MaterializationRecord,
    RequestedRun,
    RunStatusChange,
    ScheduleSnapshot,
    SensorSnapshot,
    SensorType,
    TickOutcome,
    TimeWindowPartitions,
)

from .. import partitions
from ..errors import DefinitionError
from ._asset import AssetDefinition, AssetJobDefinition, define_asset_job
from ._graph import JobDefinition
from ._partitions import AddDynamicPartitionsRequest
from ._selection import AssetSelection
from ._tracebacks import user_traceback

JobTarget = JobDefinition | AssetJobDefinition | str
# an AssetSelection, one key, or a list of keys and assets
AssetTarget = AssetSelection | str | Sequence[str | AssetDefinition]


class RunRequest:
    """A run for a schedule or sensor to create: of its job (or ``job_name``), with this run
    config and these tags, of partition ``partition_key`` (for a partitioned job); with a
    ``run_key``, created once however often it is asked for."""

    __slots__ = ("job_name", "partition_key", "run_config", "run_key", "tags")

    def __init__(self, *, run_key: str | None = None, run_config: dict[str, Any] | None = None,
                 tags: dict[str, Any] | None = None, job_name: str | None = None,
                 partition_key: str | None = None) -> None:
        self.partition_key = partition_key
        self.run_key = run_key
        self.run_config = dict(run_config or {})
        self.tags = {str(key): str(value) for key, value in (tags or {}).items()}
        self.job_name = job_name

    def __repr__(self) -> str:
        return f"RunRequest(run_key={self.run_key!r}, job_name={self.job_name!r})"


class SensorResult:
    """What a sensor's tick decided: runs to create, dynamic partitions to add or delete
    (applied before the runs are created, so the runs may be of the new partitions), the
    cursor to keep (None: as ``context.update_cursor`` left it), or why nothing."""

    __slots__ = ("cursor", "dynamic_partitions_requests", "run_requests", "skip_reason")

    def __init__(self, run_requests: Iterable[RunRequest] | None = None, *,
                 dynamic_partitions_requests: Iterable[AddDynamicPartitionsRequest] = (),
                 skip_reason: str | SkipReason | None = None,
                 cursor: str | None = None) -> None:
        self.run_requests = list(run_requests or [])
        self.dynamic_partitions_requests = list(dynamic_partitions_requests)
        self.skip_reason = (skip_reason.message if isinstance(skip_reason, SkipReason)
                            else skip_reason)
        self.cursor = cursor


class SkipReason:
    """No run this tick, and why (shown in the tick history)."""

    __slots__ = ("message",)

    def __init__(self, message: str = "") -> None:
        self.message = message


class ScheduleContext:
    """What a schedule's function is told: the time the tick was due, in its timezone."""

    __slots__ = ("scheduled_time",)

    def __init__(self, scheduled_time: datetime) -> None:
        self.scheduled_time = scheduled_time


class SensorContext:
    """What a sensor's function is told, and how it keeps state between ticks: the cursor it
    saved last time (None at first), which :meth:`update_cursor` replaces."""

    __slots__ = ("cursor", "last_tick_time")

    def __init__(self, cursor: str | None, last_tick_time: float | None) -> None:
        self.cursor = cursor
        self.last_tick_time = last_tick_time

    def update_cursor(self, cursor: str | None) -> None:
        self.cursor = cursor


class ScheduleDefinition:
    __slots__ = ("fn", "job_name", "name", "snapshot", "target_job")

    def __init__(self, *, name: str, cron: str, job_name: str, timezone: str,
                 fn: Callable[..., Any], description: str, default_running: bool,
                 target_job: JobDefinition | AssetJobDefinition | None = None) -> None:
        self.name = name
        self.job_name = job_name
        self.fn = fn
        # the job it was given, or made of its asset selection, which Definitions adds to
        # its jobs (None: a job named by a string, which must be listed there)
        self.target_job = target_job
        self.snapshot = ScheduleSnapshot(name=name, job_name=job_name, cron=cron,
                                         timezone=timezone, description=description,
                                         default_running=default_running)

    def __repr__(self) -> str:
        return f"<schedule {self.name} {self.snapshot.cron!r} -> {self.job_name}>"


class SensorDefinition:
    __slots__ = ("fn", "job_name", "name", "snapshot", "target_job")

    def __init__(self, *, name: str, job_name: str, fn: Callable[..., Any],
                 minimum_interval_seconds: float, description: str,
                 default_running: bool,
                 target_job: JobDefinition | AssetJobDefinition | None = None,
                 sensor_type: SensorType = "standard", run_statuses: Sequence[str] = (),
                 monitored_jobs: Sequence[str] = (), asset_keys: Sequence[str] = ()) -> None:
        self.name = name
        self.job_name = job_name
        self.fn = fn
        self.target_job = target_job
        self.snapshot = SensorSnapshot(name=name, job_name=job_name,
                                       minimum_interval_seconds=minimum_interval_seconds,
                                       description=description,
                                       default_running=default_running,
                                       sensor_type=sensor_type,
                                       run_statuses=list(run_statuses),
                                       monitored_jobs=list(monitored_jobs),
                                       asset_keys=list(asset_keys))

    def __repr__(self) -> str:
        return f"<sensor {self.name} -> {self.job_name}>"


def schedule(*, cron: str, job: JobTarget | None = None, assets: AssetTarget | None = None,
             timezone: str = "UTC", name: str | None = None, description: str | None = None,
             default_running: bool = False
             ) -> Callable[[Callable[..., Any]], ScheduleDefinition]:
    """Run ``job``, or materialize ``assets`` (an AssetSelection, keys or @asset
    definitions), on the ``cron`` schedule (five fields, e.g. ``"0 6 * * *"``), in
    ``timezone``. The decorated function, ``fn(context)`` or ``fn()``, decides each tick's
    runs; returning nothing asks for one run with no config."""
    _check_cron(cron, name)
    _check_timezone(timezone, name)

    def decorate(fn: Callable[..., Any]) -> ScheduleDefinition:
        schedule_name = name or fn.__name__
        job_name, target_job = _target("schedule", schedule_name, job, assets)
        return ScheduleDefinition(
            name=schedule_name, cron=cron, job_name=job_name, timezone=timezone, fn=fn,
            description=description or inspect.getdoc(fn) or "",
            default_running=default_running, target_job=target_job)

    return decorate


def sensor(*, job: JobTarget | None = None, assets: AssetTarget | None = None,
           minimum_interval_seconds: float = 30.0, name: str | None = None,
           description: str | None = None, default_running: bool = False
           ) -> Callable[[Callable[..., Any]], SensorDefinition]:
    """Evaluate the decorated function, ``fn(context)``, at most every
    ``minimum_interval_seconds``; it returns or yields :class:`RunRequest` s of ``job``, or
    of a run materializing ``assets``."""
    if minimum_interval_seconds <= 0:
        raise DefinitionError(f"sensor {name or ''}: minimum_interval_seconds must be > 0")

    def decorate(fn: Callable[..., Any]) -> SensorDefinition:
        sensor_name = name or fn.__name__
        job_name, target_job = _target("sensor", sensor_name, job, assets)
        return SensorDefinition(
            name=sensor_name, job_name=job_name, fn=fn,
            minimum_interval_seconds=minimum_interval_seconds,
            description=description or inspect.getdoc(fn) or "",
            default_running=default_running, target_job=target_job)

    return decorate


def _target(kind: str, name: str, job: JobTarget | None, assets: AssetTarget | None
            ) -> tuple[str, JobDefinition | AssetJobDefinition | None]:
    """The job a schedule or sensor runs: ``job``'s, or one made of ``assets``; and the job
    definition that ``Definitions`` adds to its jobs (as Dagster does) unless listed there."""
    if (job is None) == (assets is None):
        raise DefinitionError(f"{kind} {name!r}: give exactly one of job= and assets=")
    if assets is None:
        assert job is not None
        return _job_name(job), None if isinstance(job, str) else job
    asset_job = define_asset_job(f"{name}_assets", assets,
                                 description=f"the assets the {kind} {name} materializes")
    return asset_job.name, asset_job


def evaluate_schedule(definition: ScheduleDefinition, scheduled_time: float) -> TickOutcome:
    """One tick of a schedule, due at ``scheduled_time`` (epoch seconds)."""
    when = datetime.fromtimestamp(scheduled_time, ZoneInfo(definition.snapshot.timezone))
    try:
        result = _call(definition.fn, ScheduleContext(when))
        return _outcome(definition.job_name, result, default_run=True)
    except Exception as exc:
        return _failed(exc)


def evaluate_sensor(definition: SensorDefinition, cursor: str | None,
                    last_tick_time: float | None, *,
                    run_changes: Sequence[RunStatusChange] = (),
                    materializations: Sequence[MaterializationRecord] = (),
                    events_until: int = 0) -> TickOutcome:
    """One tick of a sensor, given the cursor its last tick saved (and, for a run status
    or asset sensor, the news since it, up to storage event ``events_until``)."""
    if definition.snapshot.sensor_type != "standard":
        from ._event_sensors import evaluate_event_sensor

        return evaluate_event_sensor(definition, cursor, run_changes, materializations,
                                     events_until)
    context = SensorContext(cursor, last_tick_time)
    changes: list[DynamicPartitionsRequest] = []
    try:
        result = _call(definition.fn, context)
        if inspect.isgenerator(result):
            result = list(result)
        if isinstance(result, SensorResult):
            changes = [request.snapshot for request in result.dynamic_partitions_requests]
            if result.cursor is not None:
                context.update_cursor(result.cursor)
            if not result.run_requests:
                result = SkipReason(result.skip_reason or (
                    "no run requested" if not changes else "dynamic partitions changed; "
                    "no run requested"))
            else:
                result = result.run_requests
        outcome = _outcome(definition.job_name, result, default_run=False)
    except Exception as exc:
        return _failed(exc, cursor)
    return TickOutcome(run_requests=outcome.run_requests, skip_reason=outcome.skip_reason,
                       cursor=context.cursor, dynamic_partitions_requests=changes)


def _call(fn: Callable[..., Any], context: object) -> Any:
    return fn(context) if inspect.signature(fn).parameters else fn()


def _outcome(job_name: str, result: Any, *, default_run: bool) -> TickOutcome:
    if result is None:
        items: list[Any] = [RunRequest()] if default_run else []
    elif isinstance(result, RunRequest | SkipReason):
        items = [result]
    elif isinstance(result, Iterable) and not isinstance(result, str | bytes | dict):
        items = list(result)
    else:
        raise TypeError(f"expected RunRequest, SkipReason, a list of them or None; "
                        f"got {type(result).__name__}")
    skips = [item.message for item in items if isinstance(item, SkipReason)]
    requests = [item for item in items if isinstance(item, RunRequest)]
    strays = [item for item in items if not isinstance(item, RunRequest | SkipReason)]
    if strays:
        raise TypeError(f"expected RunRequest or SkipReason items; got {strays[0]!r}")
    if not requests:
        return TickOutcome(skip_reason="; ".join(skips) or "no run requested")
    return TickOutcome(run_requests=[
        RequestedRun(job_name=request.job_name or job_name, run_key=request.run_key,
                     run_config=request.run_config, tags=request.tags,
                     partition=request.partition_key)
        for request in requests])


def build_schedule_from_partitioned_job(
    job: JobDefinition | AssetJobDefinition, *, name: str | None = None,
    description: str | None = None, default_running: bool = False,
) -> ScheduleDefinition:
    """A schedule that runs ``job`` (partitioned by hour, day, week or month) once each
    partition's window ends, for that partition, in the partitions' timezone: a daily job
    at midnight runs the day that just ended (run key: the partition key, so a tick asked
    twice runs once)."""
    definition = job.partitions_def.snapshot if job.partitions_def is not None else None
    if not isinstance(definition, TimeWindowPartitions):
        raise DefinitionError(
            f"build_schedule_from_partitioned_job: job {job.name!r} must be partitioned by "
            f"hour, day, week or month (give @job or define_asset_job "
            f"partitions_def=DailyPartitionsDefinition(...)); its partitions: "
            f"{job.partitions_def!r}")
    minute, hour, day = definition.minute_offset, definition.hour_offset, definition.day_offset
    cron = {"hour": f"{minute} * * * *", "day": f"{minute} {hour} * * *",
            "week": f"{minute} {hour} * * {day}",
            "month": f"{minute} {hour} {day} * *"}[definition.unit]
    window = definition

    def partition_run(context: ScheduleContext) -> RunRequest | SkipReason:
        keys = partitions.partition_keys(window, now=context.scheduled_time.timestamp())
        if not keys:
            return SkipReason(f"no partition of {job.name} has ended by "
                              f"{context.scheduled_time.isoformat()}")
        return RunRequest(run_key=keys[-1], partition_key=keys[-1])

    schedule_name = name or f"{job.name}_schedule"
    _check_cron(cron, schedule_name)
    return ScheduleDefinition(
        name=schedule_name, cron=cron, job_name=job.name, timezone=definition.timezone,
        fn=partition_run, default_running=default_running,
        description=description or f"runs each {definition.unit} partition of {job.name} "
                                    f"once its window ends",
        target_job=job)


def _failed(exc: Exception, cursor: str | None = None) -> TickOutcome:
    error = ErrorInfo(class_name=type(exc).__name__, message=str(exc),
                      stack=user_traceback(exc))
    return TickOutcome(error=error, cursor=cursor)


def _job_name(job: JobTarget) -> str:
    if isinstance(job, str):
        return job
    if isinstance(job, JobDefinition | AssetJobDefinition):
        return job.name
    raise DefinitionError(f"job= takes a @job, a define_asset_job or a job's name; got {job!r}")


def _check_cron(cron: str, name: str | None) -> None:
    # imported here: only locations that define schedules pay for it
    from croniter import croniter

    if len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise DefinitionError(f"schedule {name or ''}: {cron!r} is not a five-field cron "
                              "expression (minute hour day-of-month month day-of-week)")


def _check_timezone(timezone: str, name: str | None) -> None:
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DefinitionError(f"schedule {name or ''}: unknown timezone {timezone!r}") from exc
