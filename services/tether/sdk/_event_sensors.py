"""Sensors on what happens in the deployment: ``@run_status_sensor``, ``@run_failure_sensor``,
``@asset_sensor`` and ``@multi_asset_sensor``.

The control plane keeps their cursor (a storage event id) and hands each tick the runs that
reached a monitored status, or the materializations of the monitored assets, since it
(:mod:`tether.control_plane.storage._sensor_news`). The user's function sees each one once:
a run status or asset sensor's function is called per run or materialization, a multi-asset
sensor's once per tick with all of them. Requests without a run key get one made of what
they react to, so a tick evaluated twice never creates a run twice.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from tether.wire import (
    ErrorInfo,
    MaterializationRecord,
    RequestedRun,
    RunStatusChange,
    SensorType,
    TickOutcome,
)

from ..errors import DefinitionError
from ._asset_key import coerce_key
from ._automation import (
    AssetTarget,
    JobTarget,
    SensorDefinition,
    _call,
    _failed,
    _outcome,
    _target,
)

RUN_STATUSES = ("SUCCESS", "FAILURE", "CANCELED", "STARTED")


class RunStatusSensorContext:
    """What a run status sensor's function is told: the run that reached the status (its
    ``run_id``, ``job_name``, ``location``, ``status``, ``tags`` and, failed, ``error``)."""

    __slots__ = ("cursor", "run")

    def __init__(self, run: RunStatusChange, cursor: str | None) -> None:
        self.run = run
        self.cursor = cursor

    @property
    def error(self) -> ErrorInfo | None:
        return self.run.error


class MultiAssetSensorContext:
    """What a multi-asset sensor's function is told: the new materializations of its assets,
    oldest first."""

    __slots__ = ("asset_keys", "cursor", "materializations")

    def __init__(self, materializations: Sequence[MaterializationRecord],
                 asset_keys: Sequence[str], cursor: str | None) -> None:
        self.materializations = list(materializations)
        self.asset_keys = list(asset_keys)
        self.cursor = cursor

    def latest_materialization_by_key(self) -> dict[str, MaterializationRecord | None]:
        """Each monitored asset's newest new materialization (None: none this tick)."""
        latest: dict[str, MaterializationRecord | None] = dict.fromkeys(self.asset_keys)
        for record in self.materializations:
            latest[record.asset_key] = record
        return latest


def run_status_sensor(*, run_status: str | Sequence[str], job: JobTarget | None = None,
                      assets: AssetTarget | None = None,
                      monitored_jobs: Sequence[JobTarget] = (),
                      minimum_interval_seconds: float = 30.0, name: str | None = None,
                      description: str | None = None, default_running: bool = False
                      ) -> Callable[[Callable[..., Any]], SensorDefinition]:
    """Call the decorated function, ``fn(context)``, once for each run of
    ``monitored_jobs`` (empty: any job) that reached ``run_status`` (SUCCESS, FAILURE,
    CANCELED or STARTED; one or several); it returns run requests of ``job`` (or
    ``assets``), a skip reason, or nothing."""
    statuses = [run_status] if isinstance(run_status, str) else list(run_status)
    unknown = [status for status in statuses if status not in RUN_STATUSES]
    if unknown or not statuses:
        raise DefinitionError(f"run_status_sensor {name or ''}: run_status takes "
                              f"{', '.join(RUN_STATUSES)}; got {unknown or statuses}")
    watched = [job_name(target) for target in monitored_jobs]

    def decorate(fn: Callable[..., Any]) -> SensorDefinition:
        sensor_name = name or fn.__name__
        target_name, target_job = _target("sensor", sensor_name, job, assets)
        return SensorDefinition(
            name=sensor_name, job_name=target_name, fn=fn,
            minimum_interval_seconds=_interval(minimum_interval_seconds, sensor_name),
            description=description or inspect.getdoc(fn) or "",
            default_running=default_running, target_job=target_job,
            sensor_type="run_status", run_statuses=statuses, monitored_jobs=watched)

    return decorate


def run_failure_sensor(*, job: JobTarget | None = None, assets: AssetTarget | None = None,
                       monitored_jobs: Sequence[JobTarget] = (),
                       minimum_interval_seconds: float = 30.0, name: str | None = None,
                       description: str | None = None, default_running: bool = False
                       ) -> Callable[[Callable[..., Any]], SensorDefinition]:
    """:func:`run_status_sensor` on failed runs; ``context.error`` says why each failed."""
    return run_status_sensor(run_status="FAILURE", job=job, assets=assets,
                             monitored_jobs=monitored_jobs,
                             minimum_interval_seconds=minimum_interval_seconds, name=name,
                             description=description, default_running=default_running)


def asset_sensor(*, asset_key: Any, job: JobTarget | None = None,
                 assets: AssetTarget | None = None, minimum_interval_seconds: float = 30.0,
                 name: str | None = None, description: str | None = None,
                 default_running: bool = False
                 ) -> Callable[[Callable[..., Any]], SensorDefinition]:
    """Call the decorated function, ``fn(context, materialization)``, once for each new
    materialization of ``asset_key`` (a key, its string form, or an asset)."""
    key = coerce_key(asset_key, f"asset_sensor {name or ''}").to_string()
    return _asset_sensor([key], "asset", job, assets, minimum_interval_seconds, name,
                         description, default_running)


def multi_asset_sensor(*, monitored_assets: Sequence[Any], job: JobTarget | None = None,
                       assets: AssetTarget | None = None,
                       minimum_interval_seconds: float = 30.0, name: str | None = None,
                       description: str | None = None, default_running: bool = False
                       ) -> Callable[[Callable[..., Any]], SensorDefinition]:
    """Call the decorated function, ``fn(context)``, once per tick that has new
    materializations of any of ``monitored_assets``: ``context.materializations`` lists
    them, ``context.latest_materialization_by_key()`` has each asset's newest."""
    keys = [coerce_key(key, f"multi_asset_sensor {name or ''}").to_string()
            for key in monitored_assets]
    if not keys:
        raise DefinitionError(f"multi_asset_sensor {name or ''}: give monitored_assets")
    return _asset_sensor(keys, "multi_asset", job, assets, minimum_interval_seconds, name,
                         description, default_running)


def _asset_sensor(keys: list[str], sensor_type: SensorType, job: JobTarget | None,
                  assets: AssetTarget | None, interval: float, name: str | None,
                  description: str | None, default_running: bool
                  ) -> Callable[[Callable[..., Any]], SensorDefinition]:
    def decorate(fn: Callable[..., Any]) -> SensorDefinition:
        sensor_name = name or fn.__name__
        target_name, target_job = _target("sensor", sensor_name, job, assets)
        return SensorDefinition(
            name=sensor_name, job_name=target_name, fn=fn,
            minimum_interval_seconds=_interval(interval, sensor_name),
            description=description or inspect.getdoc(fn) or "",
            default_running=default_running, target_job=target_job,
            sensor_type=sensor_type, asset_keys=keys)

    return decorate


def job_name(target: JobTarget) -> str:
    if isinstance(target, str):
        return target
    found = getattr(target, "name", None)
    if not isinstance(found, str):
        raise DefinitionError(f"monitored_jobs takes jobs or job names; got {target!r}")
    return found


def _interval(seconds: float, name: str) -> float:
    if seconds <= 0:
        raise DefinitionError(f"sensor {name}: minimum_interval_seconds must be > 0")
    return seconds


def evaluate_event_sensor(definition: SensorDefinition, cursor: str | None,
                          run_changes: Sequence[RunStatusChange],
                          materializations: Sequence[MaterializationRecord],
                          events_until: int) -> TickOutcome:
    """One tick of a run status or asset sensor: the user's function over the news, and
    the cursor moved past it (kept where it was if the function fails)."""
    snapshot = definition.snapshot
    requests: list[RequestedRun] = []
    skips: list[str] = []
    try:
        if snapshot.sensor_type == "run_status":
            for change in run_changes:
                result = _call(definition.fn, RunStatusSensorContext(change, cursor))
                _collect(definition, result, f"{change.run_id}:{change.status}", requests,
                         skips)
        elif snapshot.sensor_type == "multi_asset":
            if materializations:
                context = MultiAssetSensorContext(materializations, snapshot.asset_keys,
                                                  cursor)
                _collect(definition, _call(definition.fn, context),
                         f"materializations-{materializations[-1].event_id}", requests,
                         skips)
        else:
            for record in materializations:
                result = _call_with_event(definition.fn, cursor, record)
                _collect(definition, result, f"materialization-{record.event_id}", requests,
                         skips)
    except Exception as exc:
        return _failed(exc, cursor)
    new_cursor = str(max(events_until, int(cursor) if cursor and cursor.isdigit() else 0))
    if requests:
        return TickOutcome(run_requests=requests, cursor=new_cursor)
    news = len(run_changes) + len(materializations)
    return TickOutcome(skip_reason="; ".join(skips) or (
        f"{news} new event(s), no run requested" if news else "nothing new"),
        cursor=new_cursor)


def _call_with_event(fn: Callable[..., Any], cursor: str | None,
                     record: MaterializationRecord) -> Any:
    context = MultiAssetSensorContext([record], [record.asset_key], cursor)
    if len(inspect.signature(fn).parameters) >= 2:
        return fn(context, record)
    return _call(fn, context)


def _collect(definition: SensorDefinition, result: Any, key: str,
             requests: list[RequestedRun], skips: list[str]) -> None:
    """Add the requests of one call (a run key made of ``key`` where the user gave none)."""
    if inspect.isgenerator(result):
        result = list(result)
    outcome = _outcome(definition.job_name, result, default_run=False)
    if outcome.skip_reason and not outcome.run_requests:
        if outcome.skip_reason != "no run requested":
            skips.append(outcome.skip_reason)
        return
    for index, request in enumerate(outcome.run_requests):
        run_key = request.run_key or key + (f"-{index}" if index else "")
        requests.append(RequestedRun(job_name=request.job_name, run_key=run_key,
                                     run_config=request.run_config, tags=request.tags))
