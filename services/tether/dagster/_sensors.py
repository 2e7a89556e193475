"""Dagster's sensor forms over Tether's: ``@sensor``, ``@run_status_sensor``,
``@run_failure_sensor``, ``@asset_sensor`` and ``@multi_asset_sensor`` with Dagster's keywords;
a ``@sensor`` made here can be called with a context, as Dagster's tests do."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any

from .. import sdk
from ..sdk._automation import _target
from ._automation import (
    _ALSO,
    DefaultSensorStatus,
    SensorEvaluationContext,
    _job_or_assets,
    _running,
    _takes_context,
    build_sensor_context,
)
from ._errors import NotInTether, refuse


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


class DagsterRunStatus(Enum):
    """The run statuses a run status sensor may react to (Tether's: STARTED, SUCCESS,
    FAILURE, CANCELED)."""

    STARTED = "STARTED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    CANCELED = "CANCELED"


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
