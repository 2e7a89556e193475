"""``@multi_asset`` (one op producing several assets) and ``AssetSpec`` (an asset described
but not computed here: an output of a multi-asset, or, given to ``Definitions`` on its own,
an asset produced outside Tether that other assets depend on).

A multi-asset's function returns its assets' values as a tuple in the order of its ``outs``
(or ``specs``), or as a dict keyed by out name or key. In an asset job it is one step named
after the function, followed by one small step per selected asset that takes that asset's
value out of the return value (and records its materialization).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from ..errors import DefinitionError
from ._asset import PICK_INPUT, AssetDefinition, CoercibleKey, check_partition_mappings
from ._asset_key import AssetKey, _prefix_parts, coerce_key
from ._backfill_policy import BackfillPolicy, check_backfill_policy
from ._checks import AssetCheckSpec, own_check_specs
from ._graph import Node
from ._io_manager import RESULT
from ._op import OpDefinition
from ._partitions import PartitionMapping, PartitionsDefinition, check_partitions_def


class AssetSpec:
    """An asset described by its key and catalog attributes, without a function."""

    __slots__ = ("asset_key", "code_version", "deps", "description", "group_name", "key",
                 "kinds", "metadata", "owners", "tags")

    def __init__(self, key: CoercibleKey, *, deps: Iterable[CoercibleKey] = (),
                 description: str = "", group_name: str | None = None,
                 owners: Sequence[str] = (), tags: Mapping[str, str] | None = None,
                 kinds: Iterable[str] = (), code_version: str | None = None,
                 metadata: Mapping[str, Any] | None = None) -> None:
        self.asset_key: AssetKey = coerce_key(key, "AssetSpec")
        self.key = self.asset_key.to_string()
        where = f"AssetSpec {self.key!r}"
        self.deps = tuple(coerce_key(dep, f"{where}: deps").to_string() for dep in deps)
        self.description = description
        self.group_name = group_name
        self.owners = tuple(owners)
        self.tags = dict(tags or {})
        self.kinds = tuple(kinds)
        self.code_version = code_version
        self.metadata = dict(metadata or {})

    def __repr__(self) -> str:
        return f"AssetSpec({self.key!r})"

    def definition(self, fn: Callable[..., Any], where: str,
                   group_name: str | None = None) -> AssetDefinition:
        # an AssetDefinition checks the attributes and gives selection and snapshot one shape
        try:
            return AssetDefinition(fn, key=self.asset_key, deps=self.deps,
                                   description=self.description or None,
                                   group_name=self.group_name or group_name,
                                   owners=self.owners, tags=self.tags, kinds=self.kinds,
                                   code_version=self.code_version, metadata=self.metadata)
        except DefinitionError as exc:
            raise DefinitionError(f"{where}: {exc}") from None


class AssetOut:
    """One output of ``@multi_asset(outs={"name": AssetOut(...)})``: its asset is keyed
    ``key``, or the out's name under ``key_prefix``."""

    __slots__ = ("attributes", "key", "key_prefix")

    def __init__(self, key: CoercibleKey | None = None, *,
                 key_prefix: str | Sequence[str] | None = None, **attributes: Any) -> None:
        self.key, self.key_prefix, self.attributes = key, key_prefix, attributes

    def spec(self, name: str) -> AssetSpec:
        key = (coerce_key(self.key, f"AssetOut {name!r}") if self.key is not None
               else AssetKey([*_prefix_parts(self.key_prefix or ()), name]))
        return AssetSpec(key, **self.attributes)


def external_asset(spec: AssetSpec) -> AssetDefinition:
    """The definition of an asset produced outside Tether: in the catalog and the lineage,
    never in a job."""
    def produced_elsewhere() -> None:
        raise DefinitionError(f"asset {spec.key!r} is produced outside Tether")

    definition = spec.definition(produced_elsewhere, f"AssetSpec {spec.key!r}")
    definition.external = True
    return definition


class MultiAssetDefinition:
    """One op whose return value holds the values of several assets."""

    __slots__ = (
        "assets",
        "backfill_policy",
        "can_subset",
        "check_specs",
        "deps",
        "inputs",
        "keys",
        "node_name",
        "op",
        "out_names",
        "partition_mappings",
        "partitions_def",
        "value_deps",
    )

    def __init__(self, fn: Callable[..., Any], *, name: str | None, outs: Mapping[str, AssetOut],
                 specs: Sequence[AssetSpec], ins: Mapping[str, CoercibleKey] | None,
                 deps: Iterable[CoercibleKey], can_subset: bool, group_name: str | None,
                 description: str | None, check_specs: Iterable[AssetCheckSpec] = (),
                 partitions_def: PartitionsDefinition | None = None,
                 partition_mappings: Mapping[CoercibleKey, PartitionMapping] | None = None,
                 backfill_policy: BackfillPolicy | None = None,
                 ) -> None:
        self.node_name = name or fn.__name__
        where = f"multi-asset {self.node_name!r}"
        if bool(outs) == bool(specs):
            raise DefinitionError(f"{where}: give outs= or specs= (one or more assets)")
        named = [(out, out_spec.spec(out)) for out, out_spec in outs.items()] or [
            (spec.key, spec) for spec in specs]
        self.op = OpDefinition(fn, name=self.node_name, description=description,
                               kind="multi-asset")
        explicit = dict(ins or {})
        self.inputs: dict[str, str] = {
            param: coerce_key(explicit.get(param, param), where).to_string()
            for param in self.op.input_names}
        self.value_deps: tuple[str, ...] = tuple(dict.fromkeys(self.inputs.values()))
        extra = [coerce_key(dep, f"{where}: deps").to_string() for dep in deps]
        self.deps: tuple[str, ...] = tuple(dict.fromkeys((*self.value_deps, *extra)))
        self.can_subset = can_subset
        # each of its assets is split alike; the step reads its upstream through the mappings
        self.partitions_def = check_partitions_def(partitions_def, where)
        self.partition_mappings = check_partition_mappings(partition_mappings, self.deps, where)
        self.backfill_policy = check_backfill_policy(
            backfill_policy, self.partitions_def is not None, where)
        self.assets: list[AssetDefinition] = []
        for position, (out, spec) in enumerate(named):
            definition = spec.definition(_picker(out, position, len(named)), where, group_name)
            # its upstream is the multi-asset's, and its own spec's deps
            definition.inputs, definition.value_deps = {}, self.value_deps
            definition.deps = tuple(dict.fromkeys((*self.deps, *spec.deps)))
            definition.computed_by = self.node_name
            definition.partitions_def = self.partitions_def
            definition.backfill_policy = self.backfill_policy
            definition.partition_mappings = {
                key: mapping for key, mapping in self.partition_mappings.items()
                if key in definition.deps}
            self.assets.append(definition)
        self.keys: tuple[str, ...] = tuple(definition.key for definition in self.assets)
        # each asset's out name (its key for specs=), in the order of the return value
        self.out_names: dict[str, str] = {
            definition.key: out for definition, (out, _) in zip(self.assets, named, strict=True)}
        if len(set(self.keys)) != len(self.keys):
            raise DefinitionError(f"{where}: two of its assets have the same key")
        # evaluated by its own step; each asset lists its own
        self.check_specs = own_check_specs(check_specs, self.keys, where)
        for definition in self.assets:
            definition.check_specs = tuple(spec for spec in self.check_specs
                                           if spec.key == definition.key)

    def __repr__(self) -> str:
        return f"<MultiAssetDefinition {self.node_name} ({', '.join(self.keys)})>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Compute the assets directly, outside any run (for unit tests)."""
        return self.op.fn(*args, **kwargs)

    def selected_values(self, value: Any, selected: AssetSubset) -> dict[str, Any]:
        """The values of the selected assets out of what a ``can_subset`` body returned, by
        out name: a dict by out name or key (values of assets not selected are dropped, so
        they are never stored), or a tuple of every asset's value or of the selected ones',
        in declaration order. Raises what the step fails with when one is missing."""
        where = f"multi-asset {self.node_name!r}"
        wanted = [out for key, out in self.out_names.items() if key in selected.asset_keys]
        if isinstance(value, Mapping):
            by_out = {self.out_names.get(str(name), str(name)): item
                      for name, item in value.items()}
            missing = [out for out in wanted if out not in by_out]
            if missing:
                raise ValueError(f"{where} returned no value for its selected "
                               f"{', '.join(map(repr, missing))} (it returned "
                               f"{', '.join(map(repr, by_out)) or 'none'})")
            return {out: by_out[out] for out in wanted}
        if isinstance(value, tuple | list):
            everything = list(self.out_names.values())
            if len(value) == len(everything):
                return {out: item for out, item in zip(everything, value, strict=True)
                        if out in wanted}
            if len(value) == len(wanted):
                return dict(zip(wanted, value, strict=True))
        raise TypeError(
            f"{where} (can_subset=True) returns a dict keyed by out name, or a tuple of all "
            f"its {len(self.out_names)} values or of the {len(wanted)} selected "
            f"({', '.join(wanted)}); got {type(value).__name__}"
            + (f" of {len(value)}" if isinstance(value, tuple | list) else ""))


class AssetSubset(NamedTuple):
    """What a step is to materialize: ``context.selected_asset_keys`` and
    ``context.selected_output_names``."""

    asset_keys: frozenset[AssetKey]
    output_names: frozenset[str]


NOTHING_SELECTED = AssetSubset(frozenset(), frozenset())


def asset_subset(node: Node, running: Iterable[Node],
                 multi: MultiAssetDefinition | None) -> AssetSubset:
    """The assets ``node`` materializes in this run: its own, or for a multi-asset's step
    those of its assets whose steps run (the job's selection, then the run's)."""
    if node.asset_key is not None:
        return AssetSubset(frozenset({AssetKey(node.asset_key)}), frozenset({RESULT}))
    if multi is None:
        return NOTHING_SELECTED
    keys = {other.asset_key for other in running
            if other.asset_key is not None and other.inputs.get(PICK_INPUT) == node.name}
    return AssetSubset(frozenset(AssetKey(key) for key in keys),
                       frozenset(out for key, out in multi.out_names.items() if key in keys))


def _picker(out: str, position: int, count: int) -> Callable[..., Any]:
    """The function of the step that takes one asset's value out of the multi-asset's."""
    def pick(multi_asset_value: Any) -> Any:
        value = multi_asset_value
        if isinstance(value, Mapping):
            if out not in value:
                raise KeyError(f"the multi-asset returned a dict without {out!r} "
                               f"(keys: {', '.join(map(str, value))})")
            return value[out]
        if isinstance(value, tuple | list) and len(value) == count:
            return value[position]
        raise TypeError(f"a multi-asset of {count} assets returns a tuple of {count} values "
                        f"or a dict keyed by out name; got {type(value).__name__}")

    assert pick.__code__.co_varnames[0] == PICK_INPUT
    return pick


def multi_asset(*, outs: Mapping[str, AssetOut] | None = None,
                specs: Sequence[AssetSpec] = (), name: str | None = None,
                ins: Mapping[str, CoercibleKey] | None = None,
                deps: Sequence[CoercibleKey] = (), can_subset: bool = False,
                group_name: str | None = None, description: str | None = None,
                check_specs: Sequence[AssetCheckSpec] = (),
                partitions_def: PartitionsDefinition | None = None,
                partition_mappings: Mapping[CoercibleKey, PartitionMapping] | None = None,
                backfill_policy: BackfillPolicy | None = None,
                ) -> Callable[[Callable[..., Any]], MultiAssetDefinition]:
    """Declare one op producing several assets: ``outs={"name": AssetOut(...)}`` or
    ``specs=[AssetSpec(...)]``. Its parameters read upstream assets as ``@asset``'s do. With
    ``can_subset=True`` a job (or a run's selection) may select some of its assets: the body
    reads them from ``context.selected_asset_keys`` / ``context.selected_output_names`` and
    may return only their values; only those are stored and materialized. Without, a
    selection takes all of them or none. ``check_specs`` (each naming one of its
    assets) are checks its step reports on, as ``@asset``'s are. ``partitions_def`` splits
    every one of its assets alike: a run of one partition materializes that partition of each
    (``context.partition_key``), and ``partition_mappings`` says which partitions of an
    upstream asset its step reads, as ``@asset``'s does; ``backfill_policy`` applies to each
    of its assets, as ``@asset``'s does."""
    def decorate(fn: Callable[..., Any]) -> MultiAssetDefinition:
        return MultiAssetDefinition(fn, name=name, outs=dict(outs or {}), specs=list(specs),
                                    ins=ins, deps=deps, can_subset=can_subset,
                                    group_name=group_name, description=description,
                                    check_specs=check_specs, partitions_def=partitions_def,
                                    partition_mappings=partition_mappings,
                                    backfill_policy=backfill_policy)

    return decorate
