"""What the definition adapters of ``tether.dagster`` share: the advice given for Dagster
keywords Tether has no counterpart for, and the two ways a Dagster function differs from
what Tether reads (a context parameter found by its annotation, an op's ``config_schema``)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from .. import sdk
from ._config import schema_config, with_config_defaults
from ._errors import NotInTether

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
    "backfill_policy": "give backfill_policy= to the partitioned @asset",
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

_CONTEXT_TYPES = ("AssetExecutionContext", "OpExecutionContext", "AssetCheckExecutionContext")


def _context_named(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, or, when its first parameter takes the context under another name (Dagster
    finds it by its annotation: ``def orders(ctx: AssetExecutionContext)``), ``fn`` seen by
    Tether with that parameter named ``context``."""
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


def give_config_type(owner: str, op: sdk.OpDefinition, config_type: type[sdk.Config] | None
                     ) -> None:
    """Make ``config_type`` (from ``config_schema``) the config ``op`` is checked against;
    Dagster refuses config_schema beside a Config parameter, and so does this."""
    if config_type is None:
        return
    if op.config_param is not None:
        raise NotInTether(f"{owner}(config_schema=...) with a Config parameter "
                          f"{op.config_param!r}", "declare the config once: the Config "
                                                  "class, or config_schema")
    op.config_type = config_type
