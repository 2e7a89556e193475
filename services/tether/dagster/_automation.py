"""What Dagster's schedules and sensors share, over Tether's: ``RunRequest``,
``SkipReason``, ``SensorResult``, ``Default...Status``, the evaluation contexts
(``context.scheduled_execution_time``, ``context.cursor``) and their ``build_*_context``;
the schedules are in ``_schedules``, the sensors in ``_sensors``."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from .. import sdk
from ..sdk._asset import AssetJobDefinition
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
