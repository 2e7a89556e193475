"""The SDK: ops, jobs, assets and their ``Definitions``; loading a code location; the
in-process executor and the emitter that numbers run events.

Imports only the standard library, msgspec and ``tether.wire``: every code server and run
worker imports it, and user code imports it through ``tether``.
"""

from ._asset import AssetDefinition, AssetJobDefinition, asset, define_asset_job
from ._asset_key import AssetKey
from ._automation import (
    RunRequest,
    ScheduleContext,
    ScheduleDefinition,
    SensorContext,
    SensorDefinition,
    SkipReason,
    evaluate_schedule,
    evaluate_sensor,
    schedule,
    sensor,
)
from ._compose import OutputHandle
from ._config import Config, EnvVar, Resource, resolve_run_config, run_config_schema
from ._context import OpContext, OpLogger
from ._definitions import Definitions
from ._events import RunEmitter
from ._executor import execute_job
from ._graph import JobDefinition, Node
from ._io_manager import InputContext, IOManager, OutputContext
from ._job import job
from ._load_assets import load_assets_from_modules, load_assets_from_package_module
from ._loader import load_definitions
from ._metadata import Metadata
from ._multi_asset import AssetOut, AssetSpec, MultiAssetDefinition, multi_asset
from ._op import OpDefinition, op
from ._outputs import MaterializeResult, Output
from ._parallel import Executor
from ._retries import Backoff, Jitter, RetryPolicy, RetryRequested
from ._selection import AssetSelection
from ._snapshot import snapshot_definitions
from ._tracebacks import user_traceback

__all__ = [
    "AssetDefinition",
    "AssetJobDefinition",
    "AssetKey",
    "AssetOut",
    "AssetSelection",
    "AssetSpec",
    "Backoff",
    "Config",
    "Definitions",
    "EnvVar",
    "Executor",
    "IOManager",
    "InputContext",
    "Jitter",
    "JobDefinition",
    "MaterializeResult",
    "Metadata",
    "MultiAssetDefinition",
    "Node",
    "OpContext",
    "OpDefinition",
    "OpLogger",
    "Output",
    "OutputContext",
    "OutputHandle",
    "Resource",
    "RetryPolicy",
    "RetryRequested",
    "RunEmitter",
    "RunRequest",
    "ScheduleContext",
    "ScheduleDefinition",
    "SensorContext",
    "SensorDefinition",
    "SkipReason",
    "asset",
    "define_asset_job",
    "evaluate_schedule",
    "evaluate_sensor",
    "execute_job",
    "job",
    "load_assets_from_modules",
    "load_assets_from_package_module",
    "load_definitions",
    "multi_asset",
    "op",
    "resolve_run_config",
    "run_config_schema",
    "schedule",
    "sensor",
    "snapshot_definitions",
    "user_traceback",
]
