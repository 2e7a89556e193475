"""Dagster's op and job forms over Tether's: ``@op``, ``@job``, ``@graph``, ``In``, ``Out``,
``DynamicOut``, ``Output``, ``MaterializeResult``, ``define_asset_job``, ``@resource`` and
the hooks."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .. import sdk
from ..sdk._outs import OP_MANAGER
from ._errors import refuse
from ._shared import (
    _COMMON,
    _METADATA,
    _NO_VALUE,
    _configured,
    _context_named,
    give_config_type,
)


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
        give_config_type(f"op {definition.name}", definition, config_type)
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
