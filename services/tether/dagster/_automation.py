"""Dagster's forms of Tether's schedules and sensors: ``ScheduleDefinition(job=,
cron_schedule=, execution_timezone=)``, ``@schedule(cron_schedule=...)``, ``@sensor``,
``default_status=Default...Status.RUNNING``, ``RunRequest`` and the evaluation contexts
(``context.scheduled_execution_time``, ``context.cursor``)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from .. import sdk
from ..sdk._asset import AssetJobDefinition
from ..sdk._automation import _check_cron, _check_timezone, _target
from ._errors import NotInTether, refuse

_ALSO = {
    "metadata": "describe it with description=",
    "owners": "describe who owns it in description=",
    "environment_vars": "set the code location's env (`tether location deploy --env`)",
    "should_execute": "return SkipReason(...) from the schedule's function",
    "tags_fn": "return RunRequest(tags=...) from the schedule's function",
    "required_resource_keys": "read what the function needs from its own module: schedules' "
                              "and sensors' functions get no resources in Tether",
    "resources": "read what the function needs from its own module: schedules' and sensors' "
                 "functions get no resources in Tether",
    "jobs": "give one job= per sensor (one sensor per job it requests)",
    "asset_selection": "give asset_selection= to a sensor, or define_asset_job(...) as job=",
    "stale_assets_only": "request the run and let its assets materialize",
    "asset_check_keys": "select the checks' assets; their checks run with them",
    "instance": "no instance is needed: build the context from its values",
    "repository_name": "no repository is needed: build the context from its values",
    "repository_def": "no repository is needed: build the context from its values",
    "definitions": "no definitions are needed: build the context from its values",
    "instance_ref": "no instance is needed: build the context from its values",
    "sensor_name": "build the context from the cursor only",
    "cron_schedule": "give one five-field cron string (one schedule per cron)",
    "minute_of_hour": "set minute_offset= on the job's partitions definition",
    "hour_of_day": "set hour_offset= on the job's partitions definition",
    "day_of_week": "set day_offset= on the job's partitions definition",
    "day_of_month": "set day_offset= on the job's partitions definition",
    "execution_timezone": "set timezone= on the job's partitions definition",
    "tags": "return RunRequest(tags=...) from a @schedule function instead",
    "job_selection": "give monitored_jobs=",
    "monitor_all_code_locations": "a sensor watches its own code location's jobs, or those "
                                  "named in monitored_jobs=",
    "monitor_all_repositories": "a sensor watches its own code location's jobs, or those "
                                "named in monitored_jobs=",
    "request_jobs": "give one request_job= per sensor",
}


class DefaultScheduleStatus(Enum):
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"


class DefaultSensorStatus(Enum):
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"


def _running(status: Enum | None) -> bool:
    return status is not None and status.value == "RUNNING"


class DagsterRunStatus(Enum):
    """The run statuses a run status sensor may react to (Tether's: STARTED, SUCCESS,
    FAILURE, CANCELED)."""

    STARTED = "STARTED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    CANCELED = "CANCELED"


class RunRequest(sdk.RunRequest):
    """Dagster's ``RunRequest`` (``run_key`` may be given by position)."""

    __slots__ = ()

    def __init__(self, run_key: str | None = None, run_config: Mapping[str, Any] | None = None,
                 tags: Mapping[str, Any] | None = None, job_name: str | None = None,
                 asset_selection: Sequence[Any] | None = None, stale_assets_only: bool = False,
                 partition_key: str | None = None,
                 asset_check_keys: Sequence[Any] | None = None) -> None:
        refuse("RunRequest", {"asset_selection": asset_selection,
                              "stale_assets_only": stale_assets_only,
                              "asset_check_keys": asset_check_keys}, _ALSO)
        super().__init__(run_key=run_key, run_config=dict(run_config or {}),
                         tags=dict(tags or {}), job_name=job_name, partition_key=partition_key)


class SkipReason(sdk.SkipReason):
    """Dagster's ``SkipReason(skip_message)``."""

    __slots__ = ()

    def __init__(self, skip_message: str | None = None) -> None:
        super().__init__(skip_message or "")

    @property
    def skip_message(self) -> str:
        return self.message


class SensorResult(sdk.SensorResult):
    """Dagster's ``SensorResult``."""

    __slots__ = ()

    def __init__(self, run_requests: Sequence[sdk.RunRequest] | None = None,
                 skip_reason: str | sdk.SkipReason | None = None, cursor: str | None = None,
                 dynamic_partitions_requests: Sequence[Any] | None = None,
                 asset_events: Sequence[Any] | None = None) -> None:
        refuse("SensorResult", {"asset_events": asset_events}, {
            "asset_events": "materialize assets with a run (RunRequest of an asset job)"})
        super().__init__(run_requests, skip_reason=skip_reason, cursor=cursor,
                         dynamic_partitions_requests=list(dynamic_partitions_requests or ()))


class ScheduleEvaluationContext(sdk.ScheduleContext):
    """Dagster's name and attribute for the time a schedule's tick was due."""

    __slots__ = ()

    @property
    def scheduled_execution_time(self) -> datetime:
        return self.scheduled_time


class SensorEvaluationContext(sdk.SensorContext):
    """Dagster's name and attributes for a sensor's cursor and last tick."""

    __slots__ = ()

    @property
    def last_tick_completion_time(self) -> float | None:
        return self.last_tick_time

    @property
    def last_sensor_start_time(self) -> float | None:
        return self.last_tick_time


def build_schedule_context(instance: Any = None,
                           scheduled_execution_time: datetime | None = None,
                           resources: Mapping[str, object] | None = None,
                           repository_def: Any = None,
                           instance_ref: Any = None) -> ScheduleEvaluationContext:
    """A schedule context to call a schedule's function with in a test."""
    refuse("build_schedule_context", {"instance": instance, "resources": resources,
                                      "repository_def": repository_def,
                                      "instance_ref": instance_ref}, _ALSO)
    return ScheduleEvaluationContext(scheduled_execution_time
                                     or datetime.now(ZoneInfo("UTC")))


def build_sensor_context(instance: Any = None, cursor: str | None = None,
                         repository_name: str | None = None, repository_def: Any = None,
                         sensor_name: str | None = None,
                         resources: Mapping[str, object] | None = None,
                         definitions: Any = None, instance_ref: Any = None,
                         last_sensor_start_time: float | None = None
                         ) -> SensorEvaluationContext:
    """A sensor context to call a sensor's function with in a test."""
    refuse("build_sensor_context", {
        "instance": instance, "repository_name": repository_name,
        "repository_def": repository_def, "resources": resources,
        "definitions": definitions, "instance_ref": instance_ref}, _ALSO)
    return SensorEvaluationContext(cursor, last_sensor_start_time)


def _takes_context(fn: Callable[..., Any]) -> bool:
    return bool(inspect.signature(fn).parameters)


def _schedule_fn(fn: Callable[..., Any] | None, run_config: Mapping[str, Any] | None,
                 run_config_fn: Callable[..., Any] | None,
                 tags: Mapping[str, str] | None) -> Callable[[sdk.ScheduleContext], Any]:
    """Tether's schedule function for a Dagster schedule: its context is a
    ScheduleEvaluationContext, and a dict it returns is the run config of one run."""
    def tick(context: sdk.ScheduleContext) -> Any:
        dagster_context = ScheduleEvaluationContext(context.scheduled_time)
        if fn is not None:
            result = fn(dagster_context) if _takes_context(fn) else fn()
        elif run_config_fn is not None:
            result = (run_config_fn(dagster_context) if _takes_context(run_config_fn)
                      else run_config_fn())
        else:
            result = dict(run_config or {})
        if isinstance(result, Mapping):
            return sdk.RunRequest(run_config=dict(result), tags=dict(tags or {}))
        return result

    return tick


def _job_or_assets(owner: str, job: Any, job_name: str | None, target: Any,
                   asset_selection: Any = None) -> tuple[Any, Any]:
    """Tether's ``job=`` and ``assets=`` of Dagster's job / job_name / target /
    asset_selection."""
    given = [value for value in (job, job_name, target, asset_selection) if value is not None]
    if len(given) != 1:
        raise NotInTether(f"{owner} with {len(given)} of job=, job_name=, target=, "
                          f"asset_selection=", "give exactly one")
    chosen = given[0]
    if asset_selection is not None or (target is not None and not isinstance(
            target, sdk.JobDefinition | AssetJobDefinition | str)):
        return None, chosen
    return chosen, None


class ScheduleDefinition(sdk.ScheduleDefinition):
    """Dagster's ``ScheduleDefinition``: runs ``job`` (or ``target``) on ``cron_schedule``
    in ``execution_timezone`` (default UTC), with ``run_config`` and ``tags``. One made by
    ``@schedule`` can be called with a context, as in Dagster's tests."""

    __slots__ = ("_execution_fn",)

    def __init__(self, name: str | None = None, *, cron_schedule: str | None = None,
                 job_name: str | None = None, run_config: Mapping[str, Any] | None = None,
                 run_config_fn: Callable[..., Any] | None = None,
                 tags: Mapping[str, str] | None = None,
                 tags_fn: Callable[..., Any] | None = None,
                 metadata: Mapping[str, Any] | None = None,
                 should_execute: Callable[..., bool] | None = None,
                 environment_vars: Mapping[str, str] | None = None,
                 execution_timezone: str | None = None,
                 execution_fn: Callable[..., Any] | None = None,
                 description: str | None = None, job: Any = None,
                 default_status: DefaultScheduleStatus = DefaultScheduleStatus.STOPPED,
                 required_resource_keys: set[str] | None = None, target: Any = None,
                 owners: Sequence[str] | None = None) -> None:
        refuse("ScheduleDefinition", {
            "tags_fn": tags_fn, "metadata": metadata, "should_execute": should_execute,
            "environment_vars": environment_vars,
            "required_resource_keys": required_resource_keys, "owners": owners}, _ALSO)
        if not isinstance(cron_schedule, str):
            raise NotInTether(f"ScheduleDefinition(cron_schedule={cron_schedule!r})",
                              _ALSO["cron_schedule"])
        tether_job, assets = _job_or_assets("ScheduleDefinition", job, job_name, target)
        if name is None:
            if tether_job is None or isinstance(tether_job, str):
                raise NotInTether("ScheduleDefinition without name= for an asset target",
                                  "give name=")
            name = f"{tether_job.name}_schedule"
        timezone = execution_timezone or "UTC"
        _check_cron(cron_schedule, name)
        _check_timezone(timezone, name)
        resolved_job, target_job = _target("schedule", name, tether_job, assets)
        fn = _schedule_fn(execution_fn, run_config, run_config_fn, tags)
        self._execution_fn = execution_fn
        super().__init__(name=name, cron=cron_schedule, job_name=resolved_job,
                         timezone=timezone, fn=fn,
                         description=description or (inspect.getdoc(execution_fn) or ""
                                                     if execution_fn else ""),
                         default_running=_running(default_status), target_job=target_job)


    @property
    def cron_schedule(self) -> str:
        return self.snapshot.cron

    @property
    def execution_timezone(self) -> str:
        """The schedule's timezone: "UTC" when none was given (Dagster's reads None)."""
        return self.snapshot.timezone

    @property
    def default_status(self) -> DefaultScheduleStatus:
        return (DefaultScheduleStatus.RUNNING if self.snapshot.default_running
                else DefaultScheduleStatus.STOPPED)

    def __call__(self, context: ScheduleEvaluationContext | None = None) -> Any:
        """The decorated function's result for ``context`` (a test calls the schedule)."""
        if self._execution_fn is None:
            raise NotInTether(f"calling schedule {self.name!r}, which has no function",
                              "call a schedule made with @schedule")
        if not _takes_context(self._execution_fn):
            return self._execution_fn()
        return self._execution_fn(context or build_schedule_context())


def schedule(cron_schedule: str, *, job_name: str | None = None, name: str | None = None,
             tags: Mapping[str, str] | None = None, tags_fn: Callable[..., Any] | None = None,
             metadata: Mapping[str, Any] | None = None,
             should_execute: Callable[..., bool] | None = None,
             environment_vars: Mapping[str, str] | None = None,
             execution_timezone: str | None = None, description: str | None = None,
             job: Any = None,
             default_status: DefaultScheduleStatus = DefaultScheduleStatus.STOPPED,
             required_resource_keys: set[str] | None = None, target: Any = None,
             owners: Sequence[str] | None = None
             ) -> Callable[[Callable[..., Any]], ScheduleDefinition]:
    """Dagster's ``@schedule``: the function returns a RunRequest, several, a SkipReason or
    a run config dict."""
    refuse("schedule", {
        "tags_fn": tags_fn, "metadata": metadata, "should_execute": should_execute,
        "environment_vars": environment_vars,
        "required_resource_keys": required_resource_keys, "owners": owners}, _ALSO)

    def decorate(fn: Callable[..., Any]) -> ScheduleDefinition:
        return ScheduleDefinition(
            name=name or fn.__name__, cron_schedule=cron_schedule, job_name=job_name,
            tags=tags, tags_fn=tags_fn, metadata=metadata, should_execute=should_execute,
            environment_vars=environment_vars, execution_timezone=execution_timezone,
            execution_fn=fn, description=description, job=job,
            default_status=default_status, required_resource_keys=required_resource_keys,
            target=target, owners=owners)

    return decorate


def _sensor_fn(fn: Callable[..., Any]) -> Callable[[sdk.SensorContext], Any]:
    """Tether's sensor function for a Dagster one: its context is a SensorEvaluationContext
    whose cursor goes back to Tether's."""
    def tick(context: sdk.SensorContext) -> Any:
        dagster_context = SensorEvaluationContext(context.cursor, context.last_tick_time)
        result = fn(dagster_context) if _takes_context(fn) else fn()
        if inspect.isgenerator(result):
            result = list(result)
        context.update_cursor(dagster_context.cursor)
        return result

    tick.__name__ = getattr(fn, "__name__", "sensor")
    tick.__doc__ = fn.__doc__
    return tick


class SensorDefinition(sdk.SensorDefinition):
    """What Dagster's ``@sensor`` makes: Tether's sensor, which a test may call with a
    context (``my_sensor(build_sensor_context(cursor=...))``)."""

    __slots__ = ("_sensor_fn",)

    def __init__(self, *, name: str, fn: Callable[..., Any], job: Any, assets: Any,
                 minimum_interval_seconds: float, description: str | None,
                 default_running: bool) -> None:
        if minimum_interval_seconds <= 0:
            raise NotInTether(f"sensor {name!r}(minimum_interval_seconds="
                              f"{minimum_interval_seconds})", "give a positive interval")
        job_name, target_job = _target("sensor", name, job, assets)
        self._sensor_fn = fn
        super().__init__(name=name, job_name=job_name, fn=_sensor_fn(fn),
                         minimum_interval_seconds=minimum_interval_seconds,
                         description=description or inspect.getdoc(fn) or "",
                         default_running=default_running, target_job=target_job)

    @property
    def minimum_interval_seconds(self) -> float:
        return self.snapshot.minimum_interval_seconds

    @property
    def default_status(self) -> DefaultSensorStatus:
        return (DefaultSensorStatus.RUNNING if self.snapshot.default_running
                else DefaultSensorStatus.STOPPED)

    def __call__(self, context: SensorEvaluationContext | None = None) -> Any:
        """The decorated function's result for ``context`` (a test calls the sensor)."""
        if not _takes_context(self._sensor_fn):
            return self._sensor_fn()
        return self._sensor_fn(context or build_sensor_context())


def sensor(job_name: str | None = None, *, name: str | None = None,
           minimum_interval_seconds: int | None = None, description: str | None = None,
           job: Any = None, jobs: Sequence[Any] | None = None,
           default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
           asset_selection: Any = None, required_resource_keys: set[str] | None = None,
           tags: Mapping[str, str] | None = None, metadata: Mapping[str, Any] | None = None,
           target: Any = None, owners: Sequence[str] | None = None
           ) -> Callable[[Callable[..., Any]], SensorDefinition]:
    """Dagster's ``@sensor``: ticks every ``minimum_interval_seconds`` (default 30)."""
    refuse("sensor", {"jobs": jobs, "required_resource_keys": required_resource_keys,
                      "tags": tags, "metadata": metadata, "owners": owners}, {
        **_ALSO, "tags": "return RunRequest(tags=...) from the sensor's function"})
    tether_job, assets = _job_or_assets("sensor", job, job_name, target, asset_selection)

    def decorate(fn: Callable[..., Any]) -> SensorDefinition:
        return SensorDefinition(name=name or fn.__name__, fn=fn, job=tether_job,
                                assets=assets,
                                minimum_interval_seconds=minimum_interval_seconds or 30,
                                description=description, default_running=_running(
                                    default_status))

    return decorate


def build_schedule_from_partitioned_job(
        job: Any, description: str | None = None, name: str | None = None,
        minute_of_hour: int | None = None, hour_of_day: int | None = None,
        day_of_week: int | None = None, day_of_month: int | None = None,
        default_status: DefaultScheduleStatus = DefaultScheduleStatus.STOPPED,
        tags: Mapping[str, str] | None = None, cron_schedule: str | None = None,
        execution_timezone: str | None = None, metadata: Mapping[str, Any] | None = None,
        ) -> sdk.ScheduleDefinition:
    """Dagster's ``build_schedule_from_partitioned_job``: runs each partition of ``job``
    once its window ends."""
    refuse("build_schedule_from_partitioned_job", {
        "minute_of_hour": minute_of_hour, "hour_of_day": hour_of_day,
        "day_of_week": day_of_week, "day_of_month": day_of_month, "tags": tags,
        "cron_schedule": cron_schedule, "execution_timezone": execution_timezone,
        "metadata": metadata}, {
        **_ALSO, "cron_schedule": "the schedule follows the partitions: set their offsets"})
    made = sdk.build_schedule_from_partitioned_job(
        job, name=name, description=description, default_running=_running(default_status))
    # Tether's schedule as the Dagster-shaped class (its attributes, callable in tests)
    schedule = ScheduleDefinition.__new__(ScheduleDefinition)
    for slot in sdk.ScheduleDefinition.__slots__:
        setattr(schedule, slot, getattr(made, slot))
    schedule._execution_fn = made.fn
    return schedule


def _status(run_status: Any) -> str:
    return run_status.value if isinstance(run_status, Enum) else str(run_status)


def run_status_sensor(run_status: Any, name: str | None = None,
                      minimum_interval_seconds: int | None = None,
                      description: str | None = None,
                      monitored_jobs: Sequence[Any] | None = None,
                      job_selection: Sequence[Any] | None = None,
                      monitor_all_code_locations: bool | None = None,
                      default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
                      request_job: Any = None, request_jobs: Sequence[Any] | None = None,
                      monitor_all_repositories: bool | None = None,
                      tags: Mapping[str, str] | None = None,
                      metadata: Mapping[str, Any] | None = None
                      ) -> Callable[[Callable[..., Any]], sdk.SensorDefinition]:
    """Dagster's ``@run_status_sensor``; ``request_job`` is the job its RunRequests run.
    Tether needs a job to request: without ``request_job`` it raises."""
    refuse("run_status_sensor", {
        "job_selection": job_selection, "monitor_all_code_locations": monitor_all_code_locations,
        "request_jobs": request_jobs, "monitor_all_repositories": monitor_all_repositories,
        "tags": tags, "metadata": metadata}, _ALSO)
    if request_job is None:
        raise NotInTether("run_status_sensor without request_job=",
                          "give request_job=, the job its RunRequests run (to only react, "
                          "use an alert: `tether alert create`)")
    return sdk.run_status_sensor(
        run_status=_status(run_status), job=request_job,
        monitored_jobs=list(monitored_jobs or ()),
        minimum_interval_seconds=minimum_interval_seconds or 30, name=name,
        description=description, default_running=_running(default_status))


def asset_sensor(asset_key: Any, *, job_name: str | None = None, name: str | None = None,
                 minimum_interval_seconds: int | None = None, description: str | None = None,
                 job: Any = None, jobs: Sequence[Any] | None = None,
                 default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
                 required_resource_keys: set[str] | None = None,
                 tags: Mapping[str, str] | None = None,
                 metadata: Mapping[str, Any] | None = None
                 ) -> Callable[[Callable[..., Any]], sdk.SensorDefinition]:
    """Dagster's ``@asset_sensor``: ``fn(context, asset_event)`` for each new
    materialization of ``asset_key`` (the event is Tether's materialization record)."""
    refuse("asset_sensor", {"jobs": jobs, "required_resource_keys": required_resource_keys,
                            "tags": tags, "metadata": metadata}, _ALSO)
    tether_job, _ = _job_or_assets("asset_sensor", job, job_name, None)
    return sdk.asset_sensor(asset_key=asset_key, job=tether_job,
                            minimum_interval_seconds=minimum_interval_seconds or 30,
                            name=name, description=description,
                            default_running=_running(default_status))


def run_failure_sensor(name: Callable[..., Any] | str | None = None,
                       minimum_interval_seconds: int | None = None,
                       description: str | None = None,
                       monitored_jobs: Sequence[Any] | None = None,
                       job_selection: Sequence[Any] | None = None,
                       monitor_all_code_locations: bool | None = None,
                       default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
                       request_job: Any = None, request_jobs: Sequence[Any] | None = None,
                       monitor_all_repositories: bool | None = None,
                       tags: Mapping[str, str] | None = None,
                       metadata: Mapping[str, Any] | None = None
                       ) -> Callable[[Callable[..., Any]], sdk.SensorDefinition]:
    """Dagster's ``@run_failure_sensor``: ``run_status_sensor`` on failed runs;
    ``request_job`` is required."""
    if callable(name):
        raise NotInTether("@run_failure_sensor without request_job=",
                          "give request_job=, the job its RunRequests run (to only be told "
                          "of failures, create an alert: `tether alert create`)")
    return run_status_sensor(
        DagsterRunStatus.FAILURE, name=name, minimum_interval_seconds=minimum_interval_seconds,
        description=description, monitored_jobs=monitored_jobs, job_selection=job_selection,
        monitor_all_code_locations=monitor_all_code_locations, default_status=default_status,
        request_job=request_job, request_jobs=request_jobs,
        monitor_all_repositories=monitor_all_repositories, tags=tags, metadata=metadata)


def multi_asset_sensor(monitored_assets: Any, *, job_name: str | None = None,
                       name: str | None = None, minimum_interval_seconds: int | None = None,
                       description: str | None = None, job: Any = None,
                       jobs: Sequence[Any] | None = None,
                       default_status: DefaultSensorStatus = DefaultSensorStatus.STOPPED,
                       request_assets: Any = None,
                       required_resource_keys: set[str] | None = None,
                       tags: Mapping[str, str] | None = None,
                       metadata: Mapping[str, Any] | None = None
                       ) -> Callable[[Callable[..., Any]], sdk.SensorDefinition]:
    """Dagster's ``@multi_asset_sensor`` keywords over Tether's; its context is Tether's
    MultiAssetSensorContext (see docs/dagster.md)."""
    refuse("multi_asset_sensor", {"jobs": jobs,
                                  "required_resource_keys": required_resource_keys,
                                  "tags": tags, "metadata": metadata}, _ALSO)
    tether_job, assets = _job_or_assets("multi_asset_sensor", job, job_name, None,
                                        request_assets)
    keys = monitored_assets if isinstance(monitored_assets, Sequence) else [monitored_assets]
    return sdk.multi_asset_sensor(monitored_assets=list(keys), job=tether_job, assets=assets,
                                  minimum_interval_seconds=minimum_interval_seconds or 30,
                                  name=name, description=description,
                                  default_running=_running(default_status))
