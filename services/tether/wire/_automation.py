"""Schedules and sensors as a code location reports them, and the outcome of one tick: what
the code server's evaluation of the user's function decided."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from ._common import ErrorInfo
from ._partitions import DynamicPartitionsRequest

TickKind = Literal["schedule", "sensor"]


class ScheduleSnapshot(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    job_name: str
    # a five-field cron expression, evaluated in ``timezone`` (an IANA name)
    cron: str
    timezone: str = "UTC"
    description: str = ""
    # whether it ticks from its first deploy on, before anyone starts it
    default_running: bool = False


SensorType = Literal["standard", "run_status", "asset", "multi_asset"]


class SensorSnapshot(msgspec.Struct, kw_only=True, frozen=True):
    name: str
    job_name: str
    minimum_interval_seconds: float = 30.0
    description: str = ""
    default_running: bool = False
    # standard: the user's function keeps its own cursor; run_status, asset (called per
    # materialization) and multi_asset (called per tick): the control
    # plane hands each tick the runs that ended (with ``run_statuses``, of
    # ``monitored_jobs``; empty: any job) or the materializations of ``asset_keys`` since
    # the cursor, which then moves past them
    sensor_type: SensorType = "standard"
    run_statuses: list[str] = []
    monitored_jobs: list[str] = []
    asset_keys: list[str] = []


class RunStatusChange(msgspec.Struct, kw_only=True, frozen=True):
    """A run that reached ``status`` (storage event ``event_id``), for run status sensors."""

    event_id: int
    run_id: str
    job_name: str
    location: str
    status: str
    timestamp: float
    tags: dict[str, str] = {}
    error: ErrorInfo | None = None


class MaterializationRecord(msgspec.Struct, kw_only=True, frozen=True):
    """A stored materialization (storage event ``event_id``), for asset sensors."""

    event_id: int
    asset_key: str
    run_id: str
    timestamp: float
    job_name: str = ""


class RequestedRun(msgspec.Struct, kw_only=True, frozen=True):
    """A run a tick asks for. Runs with the same ``run_key`` from the same schedule or
    sensor are created once, however often they are asked for."""

    job_name: str
    run_key: str | None = None
    run_config: dict[str, Any] = {}
    tags: dict[str, Any] = {}
    # the partition of the job to run; None: the job is not partitioned
    partition: str | None = None


class TickOutcome(msgspec.Struct, kw_only=True, frozen=True):
    """What one evaluation decided: runs to create, or why none (a skip or the user's
    error), and for a sensor the cursor to keep for its next tick."""

    run_requests: list[RequestedRun] = []
    skip_reason: str | None = None
    cursor: str | None = None
    error: ErrorInfo | None = None
    # dynamic partitions to add or delete, applied before the runs are created
    dynamic_partitions_requests: list[DynamicPartitionsRequest] = []
