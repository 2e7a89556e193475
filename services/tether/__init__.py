"""Tether: an open hybrid orchestrator for data pipelines.

This top-level package is the SDK that user code imports (``from tether import op, job``); it
stays light, because every run worker and code server imports it: the standard library and
msgspec only, never grpc, redis, SQLAlchemy, Starlette, httpx or OpenTelemetry.
"""

from .sdk import (
    AssetDefinition,
    AssetKey,
    AssetOut,
    AssetSelection,
    AssetSpec,
    Config,
    Definitions,
    EnvVar,
    JobDefinition,
    OpContext,
    OpDefinition,
    Resource,
    RunRequest,
    ScheduleContext,
    SensorContext,
    SkipReason,
    asset,
    define_asset_job,
    job,
    load_assets_from_modules,
    load_assets_from_package_module,
    multi_asset,
    op,
    schedule,
    sensor,
)

__all__ = [
    "AssetDefinition",
    "AssetKey",
    "AssetOut",
    "AssetSelection",
    "AssetSpec",
    "Config",
    "Definitions",
    "EnvVar",
    "JobDefinition",
    "OpContext",
    "OpDefinition",
    "Resource",
    "RunRequest",
    "ScheduleContext",
    "SensorContext",
    "SkipReason",
    "asset",
    "define_asset_job",
    "job",
    "load_assets_from_modules",
    "load_assets_from_package_module",
    "multi_asset",
    "op",
    "schedule",
    "sensor",
]
