"""Dagster's asset forms over Tether's: ``@asset``, ``@multi_asset``, ``@graph_asset``,
``@asset_check``, ``AssetIn``, ``AssetOut``, ``AssetSpec``, ``AssetCheckSpec``, ``AssetKey``
and ``load_assets_from_*``. Each maps its arguments onto Tether's own definition; an argument
Tether has no counterpart for raises :class:`~tether.dagster._errors.NotInTether`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .. import sdk
from ..sdk._asset_key import coerce_key
from ..sdk._io_manager import DEFAULT_IO_MANAGER_KEY
from ._errors import NotInTether, refuse
from ._shared import _COMMON, _configured, _context_named, give_config_type


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
    refuse("asset", {"resource_defs": resource_defs, "hooks": hooks,
                     "io_manager_def": io_manager_def, "dagster_type": dagster_type,
                     "op_tags": op_tags, "output_required": not output_required,
                     "automation_condition": automation_condition,
                     "freshness_policy": freshness_policy, "is_virtual": is_virtual}, _COMMON)
    keys, mappings = _ins(ins)

    def decorate(fn: Callable[..., Any]) -> sdk.AssetDefinition:
        fn, config_type = _configured(f"asset {name or fn.__name__}", _context_named(fn),
                                      config_schema)
        definition = sdk.asset(
            name=name, key=key, key_prefix=key_prefix, ins=keys, deps=list(deps or ()),
            description=description, group_name=group_name, owners=list(owners or ()),
            tags=tags, kinds=_kinds(kinds, compute_kind), code_version=code_version,
            metadata=metadata, io_manager_key=_io_manager(io_manager_key), pool=pool,
            retry_policy=retry_policy,
            check_specs=list(check_specs or ()), partitions_def=partitions_def,
            partition_mappings=mappings or None, backfill_policy=backfill_policy)(fn)
        give_config_type(f"asset {definition.key}", definition.op, config_type)
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
            "dagster_type": dagster_type,
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
                         kinds=list(kinds or ()), metadata=metadata)

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
        "op_tags": op_tags, "resource_defs": resource_defs, "retry_policy": retry_policy,
        "code_version": code_version, "pool": pool,
        "allow_arbitrary_check_specs": allow_arbitrary_check_specs},
        {**_COMMON, "config_schema": "give the function a Config class parameter",
         "code_version": "give code_version= to each AssetOut"})
    keys, mappings = _ins(ins)
    made = sdk.multi_asset(outs=outs, specs=list(specs or ()), name=name, ins=keys,
                           deps=list(deps or ()), can_subset=can_subset,
                           group_name=group_name, description=description,
                           check_specs=list(check_specs or ()), partitions_def=partitions_def,
                           partition_mappings=mappings or None,
                           backfill_policy=backfill_policy)
    return lambda fn: made(_context_named(fn))

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
        "config": config, "hooks": hooks,
        "automation_condition": automation_condition,
        "backfill_policy": backfill_policy, "resource_defs": resource_defs,
        "check_specs": check_specs}, {
        **_COMMON,
        "config": "give each op its config in the run config",
        "backfill_policy": "give the policy to an @asset or @multi_asset (a graph asset's "
                           "backfill runs a partition per run)",
        "check_specs": "declare the checks with @asset_check",
    })
    keys, mappings = _ins(ins)
    made = sdk.graph_asset(name=name, key=key, key_prefix=key_prefix, ins=keys or None,
                           description=description, group_name=group_name,
                           owners=list(owners or ()), tags=tags, kinds=list(kinds or ()),
                           code_version=code_version, metadata=metadata,
                           partitions_def=partitions_def, partition_mappings=mappings or None)
    return made(compose_fn) if compose_fn is not None else made

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
            "skippable": skippable,
            "automation_condition": automation_condition, "partitions_def": partitions_def,
            "freshness_policy": freshness_policy, "is_virtual": is_virtual}, {
            **_COMMON,
            "skippable": "use @multi_asset(can_subset=True)",
            "partitions_def": "partition the asset with @asset(partitions_def=...)",
        })
        super().__init__(key, deps=list(deps or ()), description=description or "",
                         group_name=group_name, owners=list(owners or ()), tags=tags,
                         kinds=list(kinds or ()), code_version=code_version,
                         metadata=metadata)

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


_SELECTION = ("select with AssetSelection.all(), keys(), assets() or groups(), walked with "
              ".upstream() / .downstream() and combined with | & -")


def _no_selection(method: str) -> Any:
    def raises(*args: Any, **kwargs: Any) -> Any:
        raise NotInTether(f"AssetSelection.{method}(...)", _SELECTION)

    raises.__name__ = method
    return staticmethod(raises)


class AssetSelection(sdk.AssetSelection):
    """Dagster's ``AssetSelection`` constructors that Tether has; the others raise, naming
    themselves. The selections made are Tether's (``upstream``, ``downstream``, ``|``, ``&``,
    ``-``)."""

    __slots__ = ()

    @staticmethod
    def all(include_sources: bool = False) -> sdk.AssetSelection:
        refuse("AssetSelection.all", {"include_sources": include_sources},
               {"include_sources": "assets produced outside Tether are never materialized; "
                                   "leave them out"})
        return sdk.AssetSelection.all()

    @staticmethod
    def groups(*group_strs: str, include_sources: bool = False) -> sdk.AssetSelection:
        refuse("AssetSelection.groups", {"include_sources": include_sources},
               {"include_sources": "assets produced outside Tether are never materialized; "
                                   "leave them out"})
        return sdk.AssetSelection.groups(*group_strs)

    all_asset_checks = _no_selection("all_asset_checks")
    checks = _no_selection("checks")
    checks_for_assets = _no_selection("checks_for_assets")
    from_coercible = _no_selection("from_coercible")
    from_string = _no_selection("from_string")
    key_prefixes = _no_selection("key_prefixes")
    key_substring = _no_selection("key_substring")
    kind = _no_selection("kind")
    owner = _no_selection("owner")
    tag = _no_selection("tag")
    tag_string = _no_selection("tag_string")
