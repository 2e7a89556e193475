"""Dagster's test helpers over Tether's: ``materialize`` (and ``materialize_to_memory``,
the same in Tether: values stay in memory unless the test gives an ``io_manager``),
``build_op_context`` and ``build_asset_context``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import sdk
from ._errors import refuse

_INSTEAD = {
    "instance": "no instance is needed: the run's events are on the result",
    "tags": "tags are not needed to run in a test",
    "run_tags": "tags are not needed to run in a test",
    "resources_config": "give configured resource objects in resources=",
    "partition_key": "call the function with the partition's values, or run "
                     "materialize(..., partition_key=...)",
    "partition_key_range": "run materialize(..., partition_key=...) per partition",
    "mapping_key": "call the function with the mapped value",
    "event_loop": "call async functions with asyncio.run",
}


def materialize(assets: Sequence[Any], run_config: Any = None, instance: Any = None,
                resources: Mapping[str, object] | None = None,
                partition_key: str | None = None, raise_on_error: bool = True,
                tags: Mapping[str, str] | None = None,
                selection: Any = None) -> sdk.ExecuteInProcessResult:
    """Dagster's ``materialize``: runs the assets in this process."""
    refuse("materialize", {"instance": instance, "tags": tags}, _INSTEAD)
    return sdk.materialize(list(assets), resources=resources, run_config=run_config,
                           selection=selection, raise_on_error=raise_on_error,
                           partition_key=partition_key)


def materialize_to_memory(assets: Sequence[Any], run_config: Any = None, instance: Any = None,
                          resources: Mapping[str, object] | None = None,
                          partition_key: str | None = None, raise_on_error: bool = True,
                          tags: Mapping[str, str] | None = None,
                          selection: Any = None) -> sdk.ExecuteInProcessResult:
    """Dagster's ``materialize_to_memory``: Tether's ``materialize`` already keeps the
    values in memory unless ``resources`` gives an ``io_manager``."""
    refuse("materialize_to_memory", {"instance": instance, "tags": tags}, _INSTEAD)
    return sdk.materialize(list(assets), resources=resources, run_config=run_config,
                           selection=selection, raise_on_error=raise_on_error,
                           partition_key=partition_key)


def build_op_context(resources: Mapping[str, Any] | None = None, op_config: Any = None,
                     resources_config: Mapping[str, Any] | None = None, instance: Any = None,
                     config: Any = None, partition_key: str | None = None,
                     partition_key_range: Any = None, mapping_key: str | None = None,
                     run_tags: Mapping[str, str] | None = None,
                     event_loop: Any = None) -> sdk.TestOpContext:
    """Dagster's ``build_op_context``: ``context.op_config`` is ``op_config`` (or
    ``config``), ``context.resources`` the ``resources``."""
    refuse("build_op_context", {
        "resources_config": resources_config, "instance": instance,
        "partition_key": partition_key, "partition_key_range": partition_key_range,
        "mapping_key": mapping_key, "run_tags": run_tags, "event_loop": event_loop}, _INSTEAD)
    return sdk.build_op_context(resources=resources,
                                op_config=op_config if op_config is not None else config)


def build_asset_context(resources: Mapping[str, Any] | None = None,
                        resources_config: Mapping[str, Any] | None = None,
                        asset_config: Mapping[str, Any] | None = None, instance: Any = None,
                        partition_key: str | None = None, partition_key_range: Any = None,
                        run_tags: Mapping[str, str] | None = None,
                        event_loop: Any = None) -> sdk.TestOpContext:
    """Dagster's ``build_asset_context``: an asset's context is an op's in Tether."""
    refuse("build_asset_context", {
        "resources_config": resources_config, "instance": instance,
        "partition_key": partition_key, "partition_key_range": partition_key_range,
        "run_tags": run_tags, "event_loop": event_loop}, _INSTEAD)
    return sdk.build_op_context(resources=resources, op_config=asset_config)
