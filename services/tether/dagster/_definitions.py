"""Dagster's forms of Tether's definitions: ``@asset``, ``@multi_asset``, ``@op``, ``@job``,
``AssetIn``, ``AssetOut``, ``In``, ``Out``, ``Definitions``, ``define_asset_job`` and the
time-window partitions, with Dagster's keyword names. Each maps its arguments onto Tether's
own definition and builds nothing else; an argument Tether has no counterpart for raises
:class:`~tether.dagster._errors.NotInTether` naming it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from .. import sdk
from ..sdk._asset_key import coerce_key
from ..sdk._io_manager import DEFAULT_IO_MANAGER_KEY
from ..sdk._outs import OP_MANAGER
from ._config import schema_config, with_config_defaults
from ._errors import NotInTether, refuse

_NO_VALUE: Any = object()

_METADATA = ("report metadata when the step runs: return MaterializeResult(metadata=...) or "
             "Output(value, metadata=...), or call context.add_output_metadata(...)")
_AUTOMATION = "materialize on a schedule or from a sensor (@schedule, @sensor)"
_TYPES = ("annotate the function's parameters and return value with Python types; Dagster "
          "types are not supported")
_RESOURCE_DEFS = "give every resource to Definitions(resources={...})"
_HOOKS = "attach @success_hook/@failure_hook functions to the job (@job(hooks=...))"
_COMMON = {
    "metadata": _METADATA,
    "automation_condition": _AUTOMATION,
    "auto_materialize_policy": _AUTOMATION,
    "freshness_policy": _AUTOMATION,
    "backfill_policy": "launch one run per partition (a backfill runs each partition apart)",
    "dagster_type": _TYPES,
    "resource_defs": _RESOURCE_DEFS,
    "io_manager_def": "give the IO manager to Definitions(resources=...) and name it with "
                      "io_manager_key=",
    "hooks": _HOOKS,
    "op_tags": "give tags= (on an asset, tags are the asset's tags)",
    "is_virtual": "define it as a regular asset",
    "output_required": "return MaterializeResult() when there is nothing to store",
    "version": "give code_version= on an @asset",
    "code_version": "give code_version= on an @asset (ops have no code version)",
    "internal_asset_deps": "split the multi-asset, or give each asset's deps= with AssetSpec",
    "allow_arbitrary_check_specs": "declare each check with check_specs=",
    "partitions_def": "partition the assets of a @multi_asset one by one with @asset",
    "retry_policy": "give retry_policy= to the @asset or @op that computes the assets",
    "pool": "give pool= to an @asset or @op",
    "input_manager_key": "load upstream values through the upstream asset's io_manager_key",
    "asset_key": "read an asset with @asset and its parameters",
    "asset_partitions": "give partition_mappings= on the @asset",
    "default_value": "give the function's parameter a default value",
}


class AssetIn:
    """Dagster's ``AssetIn``: which upstream asset an ``@asset`` parameter receives, and how
    its partitions map."""

    __slots__ = ("key", "key_prefix", "partition_mapping")

    def __init__(self, key: Any = None, metadata: Mapping[str, Any] | None = None,
                 key_prefix: str | Sequence[str] | None = None,
                 input_manager_key: str | None = None,
                 partition_mapping: sdk.PartitionMapping | None = None,
                 dagster_type: Any = None) -> None:
        refuse("AssetIn", {"metadata": metadata, "input_manager_key": input_manager_key,
                           "dagster_type": dagster_type}, _COMMON)
        self.key = key
        self.key_prefix = key_prefix
        self.partition_mapping = partition_mapping

    def key_for(self, parameter: str) -> Any:
        if self.key is not None:
            return self.key
        prefix = [self.key_prefix] if isinstance(self.key_prefix, str) else \
            list(self.key_prefix or ())
        return sdk.AssetKey([*prefix, parameter])


def _ins(ins: Mapping[str, AssetIn | Any] | None
         ) -> tuple[dict[str, Any], dict[Any, sdk.PartitionMapping]]:
    """Tether's ``ins=`` (parameter → key) and ``partition_mappings=`` of Dagster's ins."""
    keys: dict[str, Any] = {}
    mappings: dict[Any, sdk.PartitionMapping] = {}
    for parameter, given in (ins or {}).items():
        if not isinstance(given, AssetIn):
            keys[parameter] = given
            continue
        keys[parameter] = key = coerce_key(given.key_for(parameter),
                                           f"AssetIn of {parameter!r}").to_string()
        if given.partition_mapping is not None:
            mappings[key] = given.partition_mapping
    return keys, mappings


def _io_manager(key: str | None) -> str:
    # Dagster's None is "the default IO manager"; Tether's None keeps values in memory
    return DEFAULT_IO_MANAGER_KEY if key is None else key


def _kinds(kinds: Iterable[str] | None, compute_kind: str | None) -> list[str]:
    return [*(kinds or ()), *([compute_kind] if compute_kind else [])]


_CONTEXT_TYPES = ("AssetExecutionContext", "OpExecutionContext", "AssetCheckExecutionContext")


def _context_named(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, or, when its first parameter takes the context under another name (Dagster
    finds it by its annotation: ``def orders(ctx: AssetExecutionContext)``), ``fn`` seen by
    Tether with that parameter named ``context``."""
    import functools
    import inspect

    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return fn
    parameters = list(signature.parameters.values())
    if not parameters or parameters[0].name == "context":
        return fn
    first = parameters[0]
    annotation = first.annotation
    named = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    if not (annotation is sdk.OpContext or named.rpartition(".")[2] in _CONTEXT_TYPES):
        return fn

    @functools.wraps(fn)
    def call(context: sdk.OpContext, /, *args: Any, **kwargs: Any) -> Any:
        return fn(context, *args, **kwargs)

    call.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[first.replace(name="context"), *parameters[1:]])
    annotations = dict(getattr(fn, "__annotations__", {}))
    annotations["context"] = annotations.pop(first.name, None)
    call.__annotations__ = annotations
    return call


def _configured(owner: str, fn: Callable[..., Any], config_schema: Any
                ) -> tuple[Callable[..., Any], type[sdk.Config] | None]:
    """``fn`` and the Config class of its ``config_schema`` (None: it has none)."""
    if config_schema is None:
        return fn, None
    config_type = schema_config(owner, config_schema)
    code = getattr(fn, "__code__", None)
    if code is not None and code.co_argcount and code.co_varnames[0] == "context":
        fn = with_config_defaults(fn, config_type)
    return fn, config_type


def asset(compute_fn: Callable[..., Any] | None = None, *, name: str | None = None,
          key_prefix: str | Sequence[str] | None = None,
          ins: Mapping[str, AssetIn] | None = None, deps: Iterable[Any] | None = None,
          metadata: Mapping[str, Any] | None = None, tags: Mapping[str, str] | None = None,
          description: str | None = None, config_schema: Any = None,
          required_resource_keys: Iterable[str] | None = None,
          resource_defs: Mapping[str, object] | None = None, hooks: Any = None,
          io_manager_def: object | None = None, io_manager_key: str | None = None,
          dagster_type: Any = None, partitions_def: sdk.PartitionsDefinition | None = None,
          op_tags: Mapping[str, Any] | None = None, group_name: str | None = None,
          output_required: bool = True, automation_condition: Any = None,
          freshness_policy: Any = None, backfill_policy: Any = None,
          retry_policy: sdk.RetryPolicy | None = None, code_version: str | None = None,
          key: Any = None, check_specs: Sequence[sdk.AssetCheckSpec] | None = None,
          owners: Sequence[str] | None = None, kinds: Iterable[str] | None = None,
          pool: str | None = None, is_virtual: bool = False, compute_kind: str | None = None,
          ) -> Any:
    """Dagster's ``@asset``. ``required_resource_keys`` needs nothing more in Tether: every
    resource of the Definitions is on ``context.resources``; ``compute_kind`` is a kind."""
    refuse("asset", {"metadata": metadata, "resource_defs": resource_defs, "hooks": hooks,
                     "io_manager_def": io_manager_def, "dagster_type": dagster_type,
                     "op_tags": op_tags, "output_required": not output_required,
                     "automation_condition": automation_condition,
                     "freshness_policy": freshness_policy, "backfill_policy": backfill_policy,
                     "is_virtual": is_virtual}, _COMMON)
    keys, mappings = _ins(ins)

    def decorate(fn: Callable[..., Any]) -> sdk.AssetDefinition:
        fn, config_type = _configured(f"asset {name or fn.__name__}", _context_named(fn),
                                      config_schema)
        definition = sdk.asset(
            name=name, key=key, key_prefix=key_prefix, ins=keys, deps=list(deps or ()),
            description=description, group_name=group_name, owners=list(owners or ()),
            tags=tags, kinds=_kinds(kinds, compute_kind), code_version=code_version,
            io_manager_key=_io_manager(io_manager_key), pool=pool, retry_policy=retry_policy,
            check_specs=list(check_specs or ()), partitions_def=partitions_def,
            partition_mappings=mappings or None)(fn)
        if config_type is not None:
            definition.op.config_type = config_type
        return definition

    return decorate(compute_fn) if compute_fn is not None else decorate


class AssetOut(sdk.AssetOut):
    """Dagster's ``AssetOut``: one asset of a ``@multi_asset``."""

    __slots__ = ()

    def __init__(self, key_prefix: str | Sequence[str] | None = None, key: Any = None,
                 dagster_type: Any = None, description: str | None = None,
                 is_required: bool = True, io_manager_key: str | None = None,
                 metadata: Mapping[str, Any] | None = None, group_name: str | None = None,
                 code_version: str | None = None, automation_condition: Any = None,
                 backfill_policy: Any = None, owners: Sequence[str] | None = None,
                 tags: Mapping[str, str] | None = None, kinds: Iterable[str] | None = None,
                 freshness_policy: Any = None, is_virtual: bool = False) -> None:
        refuse("AssetOut", {
            "dagster_type": dagster_type, "metadata": metadata,
            "automation_condition": automation_condition, "backfill_policy": backfill_policy,
            "freshness_policy": freshness_policy, "is_virtual": is_virtual}, {
            **_COMMON,
            "is_required": "a @multi_asset(can_subset=True) returns only the selected assets"},
        )
        refuse("AssetOut", {"is_required": not is_required, "io_manager_key": io_manager_key},
               {"is_required": "use @multi_asset(can_subset=True): the body returns the "
                               "values of context.selected_output_names",
                "io_manager_key": "give io_manager_key= to the @multi_asset's assets one by "
                                  "one with @asset"})
        super().__init__(key, key_prefix=key_prefix, description=description or "",
                         group_name=group_name, code_version=code_version,
                         owners=list(owners or ()), tags=dict(tags or {}),
                         kinds=list(kinds or ()))


def multi_asset(*, outs: Mapping[str, sdk.AssetOut] | None = None, name: str | None = None,
                ins: Mapping[str, AssetIn] | None = None, deps: Iterable[Any] | None = None,
                description: str | None = None, config_schema: Any = None,
                required_resource_keys: Iterable[str] | None = None,
                internal_asset_deps: Mapping[str, Any] | None = None,
                partitions_def: Any = None, backfill_policy: Any = None,
                op_tags: Mapping[str, Any] | None = None, can_subset: bool = False,
                resource_defs: Mapping[str, object] | None = None,
                group_name: str | None = None, retry_policy: Any = None,
                code_version: str | None = None, specs: Sequence[sdk.AssetSpec] | None = None,
                check_specs: Sequence[sdk.AssetCheckSpec] | None = None,
                pool: str | None = None, allow_arbitrary_check_specs: bool = False,
                ) -> Callable[[Callable[..., Any]], Any]:
    """Dagster's ``@multi_asset``."""
    refuse("multi_asset", {
        "config_schema": config_schema, "internal_asset_deps": internal_asset_deps,
        "partitions_def": partitions_def, "backfill_policy": backfill_policy,
        "op_tags": op_tags, "resource_defs": resource_defs, "retry_policy": retry_policy,
        "code_version": code_version, "pool": pool,
        "allow_arbitrary_check_specs": allow_arbitrary_check_specs},
        {**_COMMON, "config_schema": "give the function a Config class parameter",
         "code_version": "give code_version= to each AssetOut"})
    keys, mappings = _ins(ins)
    if mappings:
        raise NotInTether("multi_asset(ins={...: AssetIn(partition_mapping=...)})",
                          _COMMON["partitions_def"])
    made = sdk.multi_asset(outs=outs, specs=list(specs or ()), name=name, ins=keys,
                           deps=list(deps or ()), can_subset=can_subset,
                           group_name=group_name, description=description,
                           check_specs=list(check_specs or ()))
    return lambda fn: made(_context_named(fn))


class In(sdk.In):
    """Dagster's ``In``."""

    __slots__ = ()

    def __init__(self, dagster_type: Any = None, description: str | None = None,
                 default_value: Any = _NO_VALUE, metadata: Mapping[str, Any] | None = None,
                 asset_key: Any = None, asset_partitions: Any = None,
                 input_manager_key: str | None = None) -> None:
        refuse("In", {"default_value": default_value is not _NO_VALUE, "metadata": metadata,
                      "asset_key": asset_key, "asset_partitions": asset_partitions,
                      "input_manager_key": input_manager_key},
               {**_COMMON, "metadata": "describe the input with description="})
        super().__init__(dagster_type, description=description or "")


def _out_kwargs(owner: str, description: str | None, is_required: bool,
                io_manager_key: str | None, metadata: Mapping[str, Any] | None,
                code_version: str | None) -> dict[str, Any]:
    refuse(owner, {"metadata": metadata, "code_version": code_version},
           {**_COMMON, "metadata": _METADATA})
    return {"description": description or "", "is_required": is_required,
            "io_manager_key": OP_MANAGER if io_manager_key is None else io_manager_key}


class Out(sdk.Out):
    """Dagster's ``Out``."""

    __slots__ = ()

    def __init__(self, dagster_type: Any = None, description: str | None = None,
                 is_required: bool = True, io_manager_key: str | None = None,
                 metadata: Mapping[str, Any] | None = None,
                 code_version: str | None = None) -> None:
        super().__init__(dagster_type, **_out_kwargs("Out", description, is_required,
                                                     io_manager_key, metadata, code_version))


class DynamicOut(sdk.DynamicOut):
    """Dagster's ``DynamicOut``."""

    __slots__ = ()

    def __init__(self, dagster_type: Any = None, description: str | None = None,
                 is_required: bool = True, io_manager_key: str | None = None,
                 metadata: Mapping[str, Any] | None = None,
                 code_version: str | None = None) -> None:
        super().__init__(dagster_type, **_out_kwargs("DynamicOut", description, is_required,
                                                     io_manager_key, metadata, code_version))


def op(compute_fn: Callable[..., Any] | None = None, *, name: str | None = None,
       description: str | None = None, ins: Mapping[str, sdk.In] | None = None,
       out: sdk.Out | Mapping[str, sdk.Out] | None = None, config_schema: Any = None,
       required_resource_keys: Iterable[str] | None = None,
       tags: Mapping[str, Any] | None = None, version: str | None = None,
       retry_policy: sdk.RetryPolicy | None = None, code_version: str | None = None,
       pool: str | None = None) -> Any:
    """Dagster's ``@op``: ``config_schema`` declares the config ``context.op_config``
    holds (defaults filled in); ``required_resource_keys`` needs nothing more in Tether."""
    refuse("op", {"version": version, "code_version": code_version}, _COMMON)

    def decorate(fn: Callable[..., Any]) -> sdk.OpDefinition:
        fn, config_type = _configured(f"op {name or fn.__name__}", _context_named(fn),
                                      config_schema)
        definition: sdk.OpDefinition = sdk.op(name=name or getattr(fn, "__name__", None),
                                              description=description, ins=ins, out=out,
                                              tags=tags, retry_policy=retry_policy,
                                              pool=pool)(fn)
        if config_type is not None:
            definition.config_type = config_type
        return definition

    return decorate(compute_fn) if compute_fn is not None else decorate


def job(compose_fn: Callable[..., Any] | None = None, *, name: str | None = None,
        description: str | None = None, resource_defs: Mapping[str, object] | None = None,
        config: Any = None, tags: Mapping[str, str] | None = None,
        run_tags: Mapping[str, str] | None = None, metadata: Mapping[str, Any] | None = None,
        logger_defs: Mapping[str, Any] | None = None, executor_def: Any = None,
        hooks: Any = None, op_retry_policy: sdk.RetryPolicy | None = None,
        partitions_def: sdk.PartitionsDefinition | None = None,
        input_values: Mapping[str, object] | None = None) -> Any:
    """Dagster's ``@job``: ``tags`` (and ``run_tags``) are the default tags of its runs."""
    refuse("job", {"resource_defs": resource_defs, "config": config, "metadata": metadata,
                   "logger_defs": logger_defs, "executor_def": executor_def,
                   "op_retry_policy": op_retry_policy, "input_values": input_values}, {
        **_COMMON,
        "config": "give the run config when launching (its defaults live in the ops' Config "
                  "classes)",
        "metadata": "describe the job in its docstring or description=",
        "logger_defs": "log with context.log; each call is an event of the run",
        "executor_def": "give executor=tether.sdk.Executor(...) with @tether.job, or the run "
                        "config's execution section",
        "op_retry_policy": "give retry_policy= to each @op",
        "input_values": "feed the ops from other ops, or read them from config",
    })
    merged = {**(tags or {}), **(run_tags or {})}

    def decorate(fn: Callable[..., Any]) -> sdk.JobDefinition:
        made: sdk.JobDefinition = sdk.job(name=name, description=description,
                                          hooks=hooks or (), tags=merged or None,
                                          partitions_def=partitions_def)(fn)
        return made

    return decorate(compose_fn) if compose_fn is not None else decorate


def define_asset_job(name: str, selection: Any = None, config: Any = None,
                     description: str | None = None, tags: Mapping[str, object] | None = None,
                     run_tags: Mapping[str, object] | None = None,
                     metadata: Mapping[str, Any] | None = None,
                     partitions_def: sdk.PartitionsDefinition | None = None,
                     executor_def: Any = None, hooks: Any = None,
                     op_retry_policy: Any = None) -> Any:
    """Dagster's ``define_asset_job``."""
    refuse("define_asset_job", {
        "config": config, "tags": tags, "run_tags": run_tags, "metadata": metadata,
        "executor_def": executor_def, "hooks": hooks, "op_retry_policy": op_retry_policy}, {
        **_COMMON,
        "config": "give the run config when launching or in the schedule's RunRequest",
        "tags": "give tags in the RunRequest of its schedule or sensor, or at launch",
        "run_tags": "give tags in the RunRequest of its schedule or sensor, or at launch",
        "metadata": "describe the job with description=",
        "executor_def": "choose the executor in the run config's execution section",
        "op_retry_policy": "give retry_policy= to each @asset",
    })
    return sdk.define_asset_job(name, selection, description=description or "",
                                partitions_def=partitions_def)


class Definitions(sdk.Definitions):
    """Dagster's ``Definitions``: Tether's, with Dagster's keyword names (also positional,
    in Dagster's order)."""

    __slots__ = ()

    def __init__(self, assets: Iterable[Any] | None = None,
                 schedules: Iterable[Any] | None = None, sensors: Iterable[Any] | None = None,
                 jobs: Iterable[Any] | None = None, resources: Mapping[str, Any] | None = None,
                 executor: Any = None, loggers: Mapping[str, Any] | None = None,
                 asset_checks: Iterable[Any] | None = None,
                 metadata: Mapping[str, Any] | None = None, component_tree: Any = None) -> None:
        refuse("Definitions", {"executor": executor, "loggers": loggers, "metadata": metadata,
                               "component_tree": component_tree}, {
            "executor": "choose the executor per job (@tether.job(executor=...)) or in the "
                        "run config's execution section",
            "loggers": "log with context.log; each call is an event of the run",
            "metadata": "describe the code location in its workspace entry",
            "component_tree": "declare the definitions in Python",
        })
        super().__init__(assets=list(assets or ()), schedules=list(schedules or ()),
                         sensors=list(sensors or ()), jobs=list(jobs or ()),
                         resources=dict(resources or {}), asset_checks=list(asset_checks or ()))

    @staticmethod
    def validate_loadable(defs: sdk.Definitions) -> None:
        """Dagster's check that ``defs`` load: Tether checks them when they are made, and
        again here when merged alone (a name defined twice, a job no one defines)."""
        sdk.Definitions.merge(defs)

    def get_job_def(self, name: str) -> Any:
        return self.get_job(name)

    def resolve_job_def(self, name: str) -> Any:
        return self.get_job(name)

    def get_assets_def(self, key: Any) -> sdk.AssetDefinition:
        return self.assets[_key(key)]

    def resolve_assets_def(self, key: Any) -> sdk.AssetDefinition:
        return self.assets[_key(key)]

    def get_schedule_def(self, name: str) -> Any:
        return self.schedules[name]

    def resolve_schedule_def(self, name: str) -> Any:
        return self.schedules[name]

    def get_sensor_def(self, name: str) -> Any:
        return self.sensors[name]

    def resolve_sensor_def(self, name: str) -> Any:
        return self.sensors[name]


def _key(key: Any) -> str:
    return coerce_key(key, "Definitions.get_assets_def").to_string()


# time-window partitions: Dagster's positional order and None defaults
_WINDOW = {"end_date": "leave the partitions open-ended (Tether's end at the current time, "
                      "or end_offset= later)",
           "exclusions": "skip the excluded partitions in the schedule's or sensor's function"}


def _window(owner: str, end_date: Any, exclusions: Any, timezone: str | None,
            fmt: str | None, default_fmt: str) -> dict[str, Any]:
    refuse(owner, {"end_date": end_date, "exclusions": exclusions}, _WINDOW)
    return {"timezone": timezone or "UTC", "fmt": fmt or default_fmt}


class HourlyPartitionsDefinition(sdk.HourlyPartitionsDefinition):
    """Dagster's ``HourlyPartitionsDefinition``."""

    __slots__ = ()

    def __init__(self, start_date: datetime | str, end_date: datetime | str | None = None,
                 minute_offset: int = 0, timezone: str | None = None, fmt: str | None = None,
                 end_offset: int = 0, exclusions: Sequence[Any] | None = None) -> None:
        super().__init__(start_date, minute_offset=minute_offset, end_offset=end_offset,
                         **_window("HourlyPartitionsDefinition", end_date, exclusions,
                                   timezone, fmt, "%Y-%m-%d-%H:%M"))


class DailyPartitionsDefinition(sdk.DailyPartitionsDefinition):
    """Dagster's ``DailyPartitionsDefinition``."""

    __slots__ = ()

    def __init__(self, start_date: datetime | str, end_date: datetime | str | None = None,
                 minute_offset: int = 0, hour_offset: int = 0, timezone: str | None = None,
                 fmt: str | None = None, end_offset: int = 0,
                 exclusions: Sequence[Any] | None = None) -> None:
        super().__init__(start_date, minute_offset=minute_offset, hour_offset=hour_offset,
                         end_offset=end_offset,
                         **_window("DailyPartitionsDefinition", end_date, exclusions,
                                   timezone, fmt, "%Y-%m-%d"))


class WeeklyPartitionsDefinition(sdk.WeeklyPartitionsDefinition):
    """Dagster's ``WeeklyPartitionsDefinition``."""

    __slots__ = ()

    def __init__(self, start_date: datetime | str, end_date: datetime | str | None = None,
                 minute_offset: int = 0, hour_offset: int = 0, day_offset: int = 0,
                 timezone: str | None = None, fmt: str | None = None, end_offset: int = 0,
                 exclusions: Sequence[Any] | None = None) -> None:
        super().__init__(start_date, minute_offset=minute_offset, hour_offset=hour_offset,
                         day_offset=day_offset, end_offset=end_offset,
                         **_window("WeeklyPartitionsDefinition", end_date, exclusions,
                                   timezone, fmt, "%Y-%m-%d"))


class MonthlyPartitionsDefinition(sdk.MonthlyPartitionsDefinition):
    """Dagster's ``MonthlyPartitionsDefinition``."""

    __slots__ = ()

    def __init__(self, start_date: datetime | str, end_date: datetime | str | None = None,
                 minute_offset: int = 0, hour_offset: int = 0, day_offset: int = 1,
                 timezone: str | None = None, fmt: str | None = None, end_offset: int = 0,
                 exclusions: Sequence[Any] | None = None) -> None:
        super().__init__(start_date, minute_offset=minute_offset, hour_offset=hour_offset,
                         day_offset=day_offset, end_offset=end_offset,
                         **_window("MonthlyPartitionsDefinition", end_date, exclusions,
                                   timezone, fmt, "%Y-%m-%d"))


class TimeWindowPartitionMapping(sdk.TimeWindowPartitionMapping):
    """Dagster's ``TimeWindowPartitionMapping``."""

    __slots__ = ()

    def __init__(self, start_offset: int = 0, end_offset: int = 0,
                 allow_nonexistent_upstream_partitions: bool = False) -> None:
        refuse("TimeWindowPartitionMapping", {
            "allow_nonexistent_upstream_partitions": allow_nonexistent_upstream_partitions},
            {"allow_nonexistent_upstream_partitions": "start the downstream asset's "
             "partitions no earlier than the upstream's"})
        super().__init__(start_offset, end_offset)


class DynamicPartitionsDefinition(sdk.DynamicPartitionsDefinition):
    """Dagster's ``DynamicPartitionsDefinition``: named partitions added and deleted by
    sensors (``partition_fn`` is not supported)."""

    __slots__ = ()

    def __init__(self, partition_fn: Any = None, name: str | None = None) -> None:
        refuse("DynamicPartitionsDefinition", {"partition_fn": partition_fn}, {
            "partition_fn": "give name= and add the partitions from a sensor "
                            "(SensorResult(dynamic_partitions_requests=[...]))"})
        super().__init__(name)  # type: ignore[arg-type]


class AssetKey(sdk.AssetKey):
    """Dagster's ``AssetKey`` over Tether's: ``parts``, ``to_user_string``,
    ``from_user_string`` and ``has_prefix`` as Dagster's. Its ``to_string()`` is Tether's
    ``"a/b"`` (Dagster's ``to_user_string`` form), and a string with ``/`` is a key of
    several parts, as everywhere in Tether."""

    __slots__ = ()

    @property
    def parts(self) -> list[str]:
        return list(self.path)

    def to_user_string(self) -> str:
        return self.to_string()

    @staticmethod
    def from_user_string(asset_key_string: str) -> AssetKey:
        return AssetKey(asset_key_string)

    def has_prefix(self, prefix: Sequence[str]) -> bool:
        return self.path[:len(prefix)] == tuple(prefix)


def asset_check(*, asset: Any, name: str | None = None, description: str | None = None,
                blocking: bool = False, additional_ins: Mapping[str, AssetIn] | None = None,
                additional_deps: Iterable[Any] | None = None,
                required_resource_keys: Iterable[str] | None = None,
                resource_defs: Mapping[str, object] | None = None, config_schema: Any = None,
                compute_kind: str | None = None, op_tags: Mapping[str, Any] | None = None,
                retry_policy: Any = None, metadata: Mapping[str, Any] | None = None,
                automation_condition: Any = None, pool: str | None = None,
                partitions_def: Any = None) -> Callable[[Callable[..., Any]], Any]:
    """Dagster's ``@asset_check``: a parameter named after the asset receives its value;
    ``additional_deps`` run first."""
    refuse("asset_check", {
        "additional_ins": additional_ins, "resource_defs": resource_defs,
        "config_schema": config_schema, "compute_kind": compute_kind, "op_tags": op_tags,
        "retry_policy": retry_policy, "metadata": metadata,
        "automation_condition": automation_condition, "pool": pool,
        "partitions_def": partitions_def}, {
        **_COMMON,
        "additional_ins": "give the other assets in additional_deps= and read them in the "
                          "check's function",
        "config_schema": "read settings from a resource",
        "compute_kind": "describe the check with description=",
        "retry_policy": "retry inside the check's function",
        "pool": "give pool= to the asset",
        "partitions_def": "check the latest value of a partitioned asset's partition from "
                          "its own step (check_specs= on the @asset)",
    })
    made = sdk.asset_check(asset=asset, name=name, description=description, blocking=blocking,
                           additional_deps=list(additional_deps or ()))
    return lambda fn: made(_context_named(fn))


def load_assets_from_modules(modules: Iterable[Any], group_name: str | None = None,
                             key_prefix: str | Sequence[str] | None = None, *,
                             automation_condition: Any = None, backfill_policy: Any = None,
                             source_key_prefix: str | Sequence[str] | None = None,
                             include_specs: bool = False) -> list[Any]:
    """Dagster's ``load_assets_from_modules``: the assets defined at the top level of
    ``modules`` (Tether's also include its AssetSpecs)."""
    _refuse_loading("load_assets_from_modules", automation_condition, backfill_policy,
                    source_key_prefix)
    return sdk.load_assets_from_modules(list(modules), group_name=group_name,
                                        key_prefix=key_prefix)


def load_assets_from_package_module(package_module: Any, group_name: str | None = None,
                                    key_prefix: str | Sequence[str] | None = None, *,
                                    automation_condition: Any = None,
                                    backfill_policy: Any = None,
                                    source_key_prefix: str | Sequence[str] | None = None,
                                    include_specs: bool = False) -> list[Any]:
    """Dagster's ``load_assets_from_package_module``."""
    _refuse_loading("load_assets_from_package_module", automation_condition, backfill_policy,
                    source_key_prefix)
    return sdk.load_assets_from_package_module(package_module, group_name=group_name,
                                               key_prefix=key_prefix)


def _refuse_loading(owner: str, automation_condition: Any, backfill_policy: Any,
                    source_key_prefix: Any) -> None:
    refuse(owner, {"automation_condition": automation_condition,
                   "backfill_policy": backfill_policy, "source_key_prefix": source_key_prefix},
           {**_COMMON, "source_key_prefix": "give the upstream keys in full with "
                                            "ins= or deps="})


def graph_asset(compose_fn: Callable[..., Any] | None = None, *, name: str | None = None,
                description: str | None = None, ins: Mapping[str, AssetIn] | None = None,
                config: Any = None, key_prefix: str | Sequence[str] | None = None,
                group_name: str | None = None, partitions_def: Any = None, hooks: Any = None,
                metadata: Mapping[str, Any] | None = None,
                tags: Mapping[str, str] | None = None, owners: Sequence[str] | None = None,
                automation_condition: Any = None, backfill_policy: Any = None,
                resource_defs: Mapping[str, object] | None = None,
                check_specs: Sequence[Any] | None = None, code_version: str | None = None,
                key: Any = None, kinds: Iterable[str] | None = None) -> Any:
    """Dagster's ``@graph_asset``: the body calls ops; its return value is the asset's."""
    refuse("graph_asset", {
        "config": config, "partitions_def": partitions_def, "hooks": hooks,
        "metadata": metadata, "automation_condition": automation_condition,
        "backfill_policy": backfill_policy, "resource_defs": resource_defs,
        "check_specs": check_specs}, {
        **_COMMON,
        "config": "give each op its config in the run config",
        "partitions_def": "partition an @asset (graph assets are not partitioned in Tether)",
        "check_specs": "declare the checks with @asset_check",
    })
    keys, mappings = _ins(ins)
    if mappings:
        raise NotInTether("graph_asset(ins={...: AssetIn(partition_mapping=...)})",
                          _COMMON["partitions_def"])
    made = sdk.graph_asset(name=name, key=key, key_prefix=key_prefix, ins=keys or None,
                           description=description, group_name=group_name,
                           owners=list(owners or ()), tags=tags, kinds=list(kinds or ()),
                           code_version=code_version)
    return made(compose_fn) if compose_fn is not None else made


class AssetSpec(sdk.AssetSpec):
    """Dagster's ``AssetSpec``: an asset's key and catalog attributes."""

    __slots__ = ()

    def __init__(self, key: Any, *, deps: Iterable[Any] | None = None,
                 description: str | None = None, metadata: Mapping[str, Any] | None = None,
                 skippable: bool = False, group_name: str | None = None,
                 code_version: str | None = None, automation_condition: Any = None,
                 owners: Sequence[str] | None = None, tags: Mapping[str, str] | None = None,
                 kinds: Iterable[str] | None = None, partitions_def: Any = None,
                 freshness_policy: Any = None, is_virtual: bool = False) -> None:
        refuse("AssetSpec", {
            "metadata": metadata, "skippable": skippable,
            "automation_condition": automation_condition, "partitions_def": partitions_def,
            "freshness_policy": freshness_policy, "is_virtual": is_virtual}, {
            **_COMMON,
            "skippable": "use @multi_asset(can_subset=True)",
            "partitions_def": "partition the asset with @asset(partitions_def=...)",
        })
        super().__init__(key, deps=list(deps or ()), description=description or "",
                         group_name=group_name, owners=list(owners or ()), tags=tags,
                         kinds=list(kinds or ()), code_version=code_version)


_RESULT = {
    "data_version": "give code_version= on the asset",
    "tags": "tag the run (RunRequest(tags=...)) or the asset (@asset(tags=...))",
    "asset_key": "return the values of a @multi_asset in its outs' order, each as "
                 "Output(value, metadata=...)",
    "value": "return Output(value, metadata=...) to store a value with metadata",
}


class Output(sdk.Output):
    """Dagster's ``Output``."""

    __slots__ = ()

    def __init__(self, value: Any, output_name: str = "result",
                 metadata: Mapping[str, Any] | None = None, data_version: Any = None, *,
                 tags: Mapping[str, str] | None = None) -> None:
        refuse("Output", {"data_version": data_version, "tags": tags}, _RESULT)
        super().__init__(value, None if output_name == "result" else output_name,
                         metadata=metadata)


class MaterializeResult(sdk.MaterializeResult):
    """Dagster's ``MaterializeResult``: metadata and check results, no value stored."""

    __slots__ = ()

    def __init__(self, *, asset_key: Any = None, metadata: Mapping[str, Any] | None = None,
                 check_results: Sequence[Any] | None = None, data_version: Any = None,
                 tags: Mapping[str, str] | None = None, value: Any = _NO_VALUE) -> None:
        refuse("MaterializeResult", {"asset_key": asset_key, "data_version": data_version,
                                     "tags": tags, "value": value is not _NO_VALUE}, _RESULT)
        super().__init__(metadata=metadata, check_results=list(check_results or ()))


def graph(compose_fn: Callable[..., Any] | None = None, *, name: str | None = None,
          description: str | None = None, input_defs: Any = None, output_defs: Any = None,
          ins: Mapping[str, Any] | None = None, out: Any = None,
          tags: Mapping[str, Any] | None = None, config: Any = None) -> Any:
    """Dagster's ``@graph`` of one output (its parameters are its inputs)."""
    refuse("graph", {"input_defs": input_defs, "output_defs": output_defs, "ins": ins,
                     "out": out, "tags": tags, "config": config}, {
        "input_defs": "the function's parameters are the graph's inputs",
        "output_defs": "return the output from the function",
        "ins": "the function's parameters are the graph's inputs",
        "out": "return one output, or use tether.graph(out=[names]) for several",
        "tags": "tag the ops (@op(tags=...)) or the job",
        "config": "give each op its config in the run config",
    })
    made = sdk.graph(name=name, description=description)
    return made(compose_fn) if compose_fn is not None else made


class AssetCheckSpec(sdk.AssetCheckSpec):
    """Dagster's ``AssetCheckSpec``: a check an asset's own step reports on."""

    __slots__ = ()

    def __init__(self, name: str, *, asset: Any, description: str | None = None,
                 additional_deps: Iterable[Any] | None = None, blocking: bool = False,
                 metadata: Mapping[str, Any] | None = None, automation_condition: Any = None,
                 partitions_def: Any = None) -> None:
        refuse("AssetCheckSpec", {"metadata": metadata,
                                  "automation_condition": automation_condition,
                                  "partitions_def": partitions_def}, {
            **_COMMON, "partitions_def": "check each partition from the asset's own step"})
        super().__init__(name, asset=asset, description=description or "", blocking=blocking,
                         additional_deps=list(additional_deps or ()))


def resource(config_schema: Any = None, description: str | None = None,
             required_resource_keys: Iterable[str] | None = None,
             version: str | None = None) -> Any:
    """Dagster's ``@resource``: a function making the resource once per run (it may yield it
    and clean up after)."""
    if callable(config_schema) and not isinstance(config_schema, type | Mapping):
        return sdk.ResourceDefinition(config_schema)
    refuse("resource", {"config_schema": config_schema,
                        "required_resource_keys": required_resource_keys,
                        "version": version}, {
        "config_schema": "declare a ConfigurableResource class with fields",
        "required_resource_keys": "read other resources from context.resources",
        "version": "describe it with description=",
    })
    return lambda fn: sdk.ResourceDefinition(fn, description=description)


def success_hook(hook_fn: Callable[..., Any] | None = None, *, name: str | None = None,
                 required_resource_keys: Iterable[str] | None = None) -> Any:
    """Dagster's ``@success_hook``."""
    return _hook(sdk.success_hook, "success_hook", hook_fn, name, required_resource_keys)


def failure_hook(hook_fn: Callable[..., Any] | None = None, *, name: str | None = None,
                 required_resource_keys: Iterable[str] | None = None) -> Any:
    """Dagster's ``@failure_hook``."""
    return _hook(sdk.failure_hook, "failure_hook", hook_fn, name, required_resource_keys)


def _hook(make: Callable[..., Any], owner: str, hook_fn: Callable[..., Any] | None,
          name: str | None, required_resource_keys: Iterable[str] | None) -> Any:
    refuse(owner, {"required_resource_keys": required_resource_keys}, {
        "required_resource_keys": "read the resources from context.resources"})
    if hook_fn is not None:
        return make(hook_fn)
    return make(name=name)
