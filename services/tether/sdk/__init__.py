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
    SensorResult,
    SkipReason,
    build_schedule_from_partitioned_job,
    evaluate_schedule,
    evaluate_sensor,
    schedule,
    sensor,
)
from ._backfill_policy import BackfillPolicy
from ._checks import (
    AssetCheckDefinition,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    asset_check,
)
from ._compose import DynamicHandle, OutputHandle, OutputHandles
from ._config import Config, EnvVar, Resource, resolve_run_config, run_config_schema
from ._context import OpContext, OpLogger
from ._definitions import Definitions
from ._event_sensors import (
    MultiAssetSensorContext,
    RunStatusSensorContext,
    asset_sensor,
    multi_asset_sensor,
    run_failure_sensor,
    run_status_sensor,
)
from ._events import RunEmitter
from ._executor import execute_job
from ._graph import JobDefinition, Node
from ._graph_asset import graph_asset
from ._graph_def import GraphDefinition, graph
from ._hooks import HookContext, HookDefinition, failure_hook, success_hook
from ._io_manager import InputContext, IOManager, OutputContext
from ._job import job
from ._load_assets import (
    load_asset_checks_from_modules,
    load_asset_checks_from_package_module,
    load_assets_from_modules,
    load_assets_from_package_module,
)
from ._loader import load_definitions
from ._metadata import Metadata
from ._multi_asset import AssetOut, AssetSpec, MultiAssetDefinition, multi_asset
from ._op import OpDefinition, op
from ._outputs import DynamicOutput, MaterializeResult, Output
from ._outs import DynamicOut, In, Nothing, Out
from ._parallel import Executor
from ._partitions import (
    AddDynamicPartitionsRequest,
    AllPartitionMapping,
    DailyPartitionsDefinition,
    DeleteDynamicPartitionsRequest,
    DynamicPartitionsDefinition,
    HourlyPartitionsDefinition,
    IdentityPartitionMapping,
    MonthlyPartitionsDefinition,
    MultiPartitionsDefinition,
    PartitionKeyRange,
    PartitionMapping,
    PartitionsDefinition,
    StaticPartitionsDefinition,
    TimeWindow,
    TimeWindowPartitionMapping,
    TimeWindowPartitionsDefinition,
    WeeklyPartitionsDefinition,
)
from ._resources import InitResourceContext, ResourceDefinition, resource
from ._retries import Backoff, Jitter, RetryPolicy, RetryRequested
from ._selection import AssetSelection
from ._slots import PoolSlots
from ._snapshot import snapshot_definitions
from ._testing import ExecuteInProcessResult, TestOpContext, build_op_context, materialize
from ._tracebacks import user_traceback

__all__ = [
    "AddDynamicPartitionsRequest",
    "AllPartitionMapping",
    "AssetCheckDefinition",
    "AssetCheckResult",
    "AssetCheckSeverity",
    "AssetCheckSpec",
    "AssetDefinition",
    "AssetJobDefinition",
    "AssetKey",
    "AssetOut",
    "AssetSelection",
    "AssetSpec",
    "BackfillPolicy",
    "Backoff",
    "Config",
    "DailyPartitionsDefinition",
    "Definitions",
    "DeleteDynamicPartitionsRequest",
    "DynamicHandle",
    "DynamicOut",
    "DynamicOutput",
    "DynamicPartitionsDefinition",
    "EnvVar",
    "ExecuteInProcessResult",
    "Executor",
    "GraphDefinition",
    "HookContext",
    "HookDefinition",
    "HourlyPartitionsDefinition",
    "IOManager",
    "IdentityPartitionMapping",
    "In",
    "InitResourceContext",
    "InputContext",
    "Jitter",
    "JobDefinition",
    "MaterializeResult",
    "Metadata",
    "MonthlyPartitionsDefinition",
    "MultiAssetDefinition",
    "MultiAssetSensorContext",
    "MultiPartitionsDefinition",
    "Node",
    "Nothing",
    "OpContext",
    "OpDefinition",
    "OpLogger",
    "Out",
    "Output",
    "OutputContext",
    "OutputHandle",
    "OutputHandles",
    "PartitionKeyRange",
    "PartitionMapping",
    "PartitionsDefinition",
    "PoolSlots",
    "Resource",
    "ResourceDefinition",
    "RetryPolicy",
    "RetryRequested",
    "RunEmitter",
    "RunRequest",
    "RunStatusSensorContext",
    "ScheduleContext",
    "ScheduleDefinition",
    "SensorContext",
    "SensorDefinition",
    "SensorResult",
    "SkipReason",
    "StaticPartitionsDefinition",
    "TestOpContext",
    "TimeWindow",
    "TimeWindowPartitionMapping",
    "TimeWindowPartitionsDefinition",
    "WeeklyPartitionsDefinition",
    "asset",
    "asset_check",
    "asset_sensor",
    "build_op_context",
    "build_schedule_from_partitioned_job",
    "define_asset_job",
    "evaluate_schedule",
    "evaluate_sensor",
    "execute_job",
    "failure_hook",
    "graph",
    "graph_asset",
    "job",
    "load_asset_checks_from_modules",
    "load_asset_checks_from_package_module",
    "load_assets_from_modules",
    "load_assets_from_package_module",
    "load_definitions",
    "materialize",
    "multi_asset",
    "multi_asset_sensor",
    "op",
    "resolve_run_config",
    "resource",
    "run_config_schema",
    "run_failure_sensor",
    "run_status_sensor",
    "schedule",
    "sensor",
    "snapshot_definitions",
    "success_hook",
    "user_traceback",
]
