"""Dagster's schedule forms over Tether's: ``ScheduleDefinition(job=, cron_schedule=,
execution_timezone=)``, ``@schedule(cron_schedule=...)`` and
``build_schedule_from_partitioned_job``; a schedule made here can be called with a context,
as Dagster's tests do."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .. import sdk
from ..sdk._automation import _check_cron, _check_timezone, _target
from ._automation import (
    _ALSO,
    DefaultScheduleStatus,
    ScheduleEvaluationContext,
    _job_or_assets,
    _running,
    _takes_context,
    build_schedule_context,
)
from ._errors import NotInTether, refuse


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
