"""``@asset`` and ``define_asset_job``: data assets whose parameters name their upstream.

An asset's parameters are the keys of the assets whose values it receives (under the asset's
own ``key_prefix``, or as ``ins={"param": key}`` says); ``deps=[...]`` adds upstream assets
that must be materialized first but pass no value. Keys may have several parts
(``AssetKey(["warehouse", "orders"])``, string form ``"warehouse/orders"``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

from ..errors import DefinitionError, MetadataError
from ..wire import MetadataValue
from ._asset_key import AssetKey, _prefix_parts, coerce_key
from ._backfill_policy import BackfillPolicy, check_backfill_policy
from ._checks import AssetCheckSpec, own_check_specs
from ._graph import JobDefinition, Node
from ._io_manager import DEFAULT_IO_MANAGER_KEY
from ._metadata import coerce_metadata
from ._op import OpDefinition
from ._partitions import PartitionMapping, PartitionsDefinition, check_partitions_def
from ._retries import RetryPolicy
from ._selection import AssetSelection, as_selection

if TYPE_CHECKING:
    from ._checks import AssetCheckDefinition
    from ._graph_def import GraphDefinition
    from ._multi_asset import MultiAssetDefinition as MultiAssetLike

DEFAULT_GROUP = "default"
# the input of the node that takes one asset's value out of a multi-asset's return value
PICK_INPUT = "multi_asset_value"
# what names an upstream asset: a key, its string form, its parts, or the asset itself
CoercibleKey = Any


class AssetDefinition:
    """An asset: its key, its upstream asset keys, the op that computes it, and what the
    catalog shows about it (group, owners, tags, kinds, code version, metadata)."""

    __slots__ = (
        "asset_key",
        "backfill_policy",
        "check_specs",
        "code_version",
        "computed_by",
        "deps",
        "description",
        "external",
        "graph",
        "group_name",
        "inputs",
        "key",
        "kinds",
        "metadata",
        "op",
        "owners",
        "partition_mappings",
        "partitions_def",
        "tags",
        "value_deps",
    )

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        key: CoercibleKey | None = None,
        key_prefix: str | Sequence[str] | None = None,
        ins: Mapping[str, CoercibleKey] | None = None,
        deps: Iterable[CoercibleKey] = (),
        description: str | None = None,
        group_name: str | None = None,
        owners: Sequence[str] = (),
        tags: Mapping[str, str] | None = None,
        kinds: Iterable[str] = (),
        code_version: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        io_manager_key: str | None = DEFAULT_IO_MANAGER_KEY,
        pool: str | None = None,
        retry_policy: RetryPolicy | None = None,
        check_specs: Iterable[AssetCheckSpec] = (),
        partitions_def: PartitionsDefinition | None = None,
        partition_mappings: Mapping[CoercibleKey, PartitionMapping] | None = None,
        backfill_policy: BackfillPolicy | None = None,
    ) -> None:
        label = name or getattr(fn, "__name__", "asset")
        if key is not None and (name is not None or key_prefix is not None):
            raise DefinitionError(f"asset {label!r}: give key=, or name= and key_prefix=, "
                                  f"not both")
        prefix = _prefix_parts(key_prefix) if key_prefix is not None else ()
        where = f"asset {label!r}"
        self.asset_key: AssetKey = (coerce_key(key, where) if key is not None
                                    else coerce_key([*prefix, label], where))
        self.key: str = self.asset_key.to_string()
        where = f"asset {self.key!r}"
        self.op = OpDefinition(fn, name=self.asset_key.node_name, description=description,
                               kind="asset", io_manager_key=io_manager_key, pool=pool,
                               retry_policy=retry_policy)
        self.description: str = self.op.description
        explicit = dict(ins or {})
        unknown = sorted(set(explicit) - set(self.op.input_names))
        if unknown:
            raise DefinitionError(f"{where}: ins= names {', '.join(map(repr, unknown))}, which "
                                  f"is not a parameter; its inputs: "
                                  f"{', '.join(self.op.input_names) or 'none'}")
        # each value parameter → the key of the asset feeding it; by default the parameter's
        # name under this asset's key_prefix, as Dagster reads it
        self.inputs: dict[str, str] = {
            param: coerce_key(explicit[param], where).to_string() if param in explicit
            else AssetKey([*prefix, param]).to_string()
            for param in self.op.input_names
        }
        self.value_deps: tuple[str, ...] = tuple(dict.fromkeys(self.inputs.values()))
        extra = [coerce_key(dep, f"{where}: deps").to_string() for dep in deps]
        # every upstream key once, value deps first
        self.deps: tuple[str, ...] = tuple(dict.fromkeys((*self.value_deps, *extra)))
        if self.key in self.deps:
            raise DefinitionError(f"{where} depends on itself")
        self.group_name: str = _check_group(group_name, where)
        self.owners: tuple[str, ...] = _strings(owners, "owners", where)
        self.kinds: tuple[str, ...] = tuple(sorted(set(_strings(kinds, "kinds", where))))
        self.tags: dict[str, str] = _tags(tags, where)
        self.code_version: str | None = code_version
        self.metadata: dict[str, MetadataValue] = _metadata(metadata, where)
        # the step of a @multi_asset that computes it (its own op only picks its value out);
        # None for an asset computed by its own op
        self.computed_by: str | None = None
        # produced outside Tether (an AssetSpec given to Definitions): never materialized
        self.external: bool = False
        # the graph that computes it (a graph_asset): its op only takes the graph's output
        self.graph: GraphDefinition | None = None
        # the checks its own step reports results for
        self.check_specs: tuple[AssetCheckSpec, ...] = own_check_specs(
            check_specs, [self.key], where)
        self.partitions_def = check_partitions_def(partitions_def, where)
        self.partition_mappings = check_partition_mappings(partition_mappings, self.deps, where)
        self.backfill_policy = check_backfill_policy(
            backfill_policy, self.partitions_def is not None, where)

    def __repr__(self) -> str:
        return f"<AssetDefinition {self.key}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Compute the asset directly, outside any run (for unit tests)."""
        return self.op.fn(*args, **kwargs)

    def with_attributes(self, *, key_prefix: str | Sequence[str] | None = None,
                        group_name: str | None = None,
                        prefix_upstream: Iterable[str] = ()) -> AssetDefinition:
        """A copy under ``key_prefix`` (its upstream in ``prefix_upstream`` prefixed too: the
        assets loaded alongside it) and in ``group_name``; the function is shared."""
        copy = object.__new__(AssetDefinition)
        for slot in AssetDefinition.__slots__:
            setattr(copy, slot, getattr(self, slot))
        if key_prefix is not None:
            moved = set(prefix_upstream) | {self.key}

            def prefixed(key: str) -> str:
                return AssetKey(key).with_prefix(key_prefix).to_string() if key in moved else key

            copy.asset_key = self.asset_key.with_prefix(key_prefix)
            copy.key = copy.asset_key.to_string()
            copy.op = self.op.renamed(copy.asset_key.node_name)
            copy.inputs = {param: prefixed(key) for param, key in self.inputs.items()}
            copy.value_deps = tuple(prefixed(key) for key in self.value_deps)
            copy.deps = tuple(prefixed(key) for key in self.deps)
            copy.check_specs = tuple(spec.moved_to(copy.key) for spec in self.check_specs)
            copy.partition_mappings = {prefixed(key): mapping
                                       for key, mapping in self.partition_mappings.items()}
        if group_name is not None:
            copy.group_name = _check_group(group_name, f"asset {copy.key!r}")
        return copy


def check_partition_mappings(mappings: Mapping[CoercibleKey, PartitionMapping] | None,
                             deps: Sequence[str], where: str) -> dict[str, PartitionMapping]:
    """``partition_mappings`` by upstream key, each of an asset in ``deps``."""
    checked: dict[str, PartitionMapping] = {}
    for upstream, mapping in (mappings or {}).items():
        upstream_key = coerce_key(upstream, f"{where}: partition_mappings").to_string()
        if upstream_key not in deps:
            raise DefinitionError(f"{where}: partition_mappings names {upstream_key!r}, "
                                  f"which is not upstream of it; its upstream: "
                                  f"{', '.join(deps) or 'none'}")
        if not isinstance(mapping, PartitionMapping):
            raise DefinitionError(f"{where}: the partition mapping of {upstream_key!r} "
                                  f"must be a PartitionMapping (e.g. "
                                  f"TimeWindowPartitionMapping(start_offset=-1)), got "
                                  f"{mapping!r}")
        checked[upstream_key] = mapping
    return checked


def _check_group(group_name: str | None, where: str) -> str:
    if group_name is None:
        return DEFAULT_GROUP
    if not isinstance(group_name, str) or not group_name.strip():
        raise DefinitionError(f"{where}: group_name must be a non-empty string, "
                              f"got {group_name!r}")
    return group_name


def _strings(values: Iterable[str], what: str, where: str) -> tuple[str, ...]:
    if isinstance(values, str):
        raise DefinitionError(f"{where}: {what} takes a list of strings, got the string "
                              f"{values!r}")
    listed = tuple(values)
    for value in listed:
        if not isinstance(value, str) or not value:
            raise DefinitionError(f"{where}: {what} must be non-empty strings, got {value!r}")
    return listed


def _tags(tags: Mapping[str, str] | None, where: str) -> dict[str, str]:
    checked: dict[str, str] = {}
    for name, value in (tags or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise DefinitionError(f"{where}: tags map strings to strings, got "
                                  f"{name!r}: {value!r}")
        checked[name] = value
    return checked


def _metadata(metadata: Mapping[str, Any] | None, where: str) -> dict[str, MetadataValue]:
    try:
        return coerce_metadata(metadata or {})
    except MetadataError as exc:
        raise DefinitionError(f"{where}: {exc}") from None


@overload
def asset(fn: Callable[..., Any], /) -> AssetDefinition: ...


@overload
def asset(
    *,
    name: str | None = None,
    key: CoercibleKey | None = None,
    key_prefix: str | Sequence[str] | None = None,
    ins: Mapping[str, CoercibleKey] | None = None,
    deps: Sequence[CoercibleKey] = (),
    description: str | None = None,
    group_name: str | None = None,
    owners: Sequence[str] = (),
    tags: Mapping[str, str] | None = None,
    kinds: Iterable[str] = (),
    code_version: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    io_manager_key: str | None = DEFAULT_IO_MANAGER_KEY,
    pool: str | None = None,
    retry_policy: RetryPolicy | None = None,
    check_specs: Sequence[AssetCheckSpec] = (),
    partitions_def: PartitionsDefinition | None = None,
    partition_mappings: Mapping[CoercibleKey, PartitionMapping] | None = None,
    backfill_policy: BackfillPolicy | None = None,
) -> Callable[[Callable[..., Any]], AssetDefinition]: ...


def asset(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    key: CoercibleKey | None = None,
    key_prefix: str | Sequence[str] | None = None,
    ins: Mapping[str, CoercibleKey] | None = None,
    deps: Sequence[CoercibleKey] = (),
    description: str | None = None,
    group_name: str | None = None,
    owners: Sequence[str] = (),
    tags: Mapping[str, str] | None = None,
    kinds: Iterable[str] = (),
    code_version: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    io_manager_key: str | None = DEFAULT_IO_MANAGER_KEY,
    pool: str | None = None,
    retry_policy: RetryPolicy | None = None,
    check_specs: Sequence[AssetCheckSpec] = (),
    partitions_def: PartitionsDefinition | None = None,
    partition_mappings: Mapping[CoercibleKey, PartitionMapping] | None = None,
    backfill_policy: BackfillPolicy | None = None,
) -> AssetDefinition | Callable[[Callable[..., Any]], AssetDefinition]:
    """Declare an asset: ``@asset``, or ``@asset(...)`` with its key (``name=``,
    ``key_prefix=`` or a whole ``key=``), upstream (``ins=``, ``deps=``) and catalog
    attributes (``group_name``, ``owners``, ``tags``, ``kinds``, ``code_version``,
    ``description``, and ``metadata``: labels to values, typed as a materialization's
    metadata is, e.g. ``{"owner_team": "sales", "docs": Metadata.url(...)}``).

    Its value is stored by the IO manager ``io_manager_key`` names (see :func:`~tether.op`),
    by asset key, so a later run that leaves the asset out of its selection loads the latest
    materialization. ``pool`` names the concurrency pool its step takes a slot of;
    ``retry_policy`` runs a failed materialization again. ``check_specs`` declares checks
    its own step reports on (``MaterializeResult(check_results=[...])``, or
    ``AssetCheckResult`` s yielded beside its ``Output``). ``partitions_def`` splits it into
    partitions, each materialized by its own run (``context.partition_key``);
    ``partition_mappings`` says which partitions of an upstream asset (by its key) each of
    its partitions reads (default: the same key, or the overlapping time windows).
    ``backfill_policy`` (``BackfillPolicy.single_run()`` or ``.multi_run(N)``) has a backfill
    materialize several partitions in one run: its body reads ``context.partition_key_range``
    and returns the value of the whole range."""
    if fn is not None:
        return AssetDefinition(fn)

    def decorate(function: Callable[..., Any]) -> AssetDefinition:
        return AssetDefinition(
            function, name=name, key=key, key_prefix=key_prefix, ins=ins, deps=deps,
            description=description, group_name=group_name, owners=owners, tags=tags,
            kinds=kinds, code_version=code_version, metadata=metadata,
            io_manager_key=io_manager_key, pool=pool, retry_policy=retry_policy,
            check_specs=check_specs, partitions_def=partitions_def,
            partition_mappings=partition_mappings, backfill_policy=backfill_policy)

    return decorate


class AssetJobDefinition:
    """A job over assets, resolved into a :class:`JobDefinition` by ``Definitions``."""

    __slots__ = ("description", "name", "partitions_def", "selection")

    def __init__(self, name: str, selection: Any, description: str,
                 partitions_def: PartitionsDefinition | None = None) -> None:
        self.name = name
        self.description = description
        self.selection: AssetSelection = as_selection(selection, f"asset job {name!r}")
        self.partitions_def = check_partitions_def(partitions_def, f"asset job {name!r}")

    def __repr__(self) -> str:
        return f"<AssetJobDefinition {self.name}>"

    def resolve(self, assets: Mapping[str, AssetDefinition],
                multi_assets: Mapping[str, MultiAssetLike] | None = None,
                checks: Mapping[str, Sequence[AssetCheckDefinition]] | None = None,
                ) -> JobDefinition:
        keys = self.selection.resolve(assets, f"asset job {self.name!r}")
        return asset_job(self.name, [assets[key] for key in keys], assets,
                         description=self.description, multi_assets=multi_assets,
                         checks=checks, partitions_def=self.partitions_def)


def asset_job(name: str, selected: Sequence[AssetDefinition],
              assets: Mapping[str, AssetDefinition], *, description: str,
              multi_assets: Mapping[str, MultiAssetLike] | None = None,
              checks: Mapping[str, Sequence[AssetCheckDefinition]] | None = None,
              partitions_def: PartitionsDefinition | None = None) -> JobDefinition:
    """The job materializing ``selected`` (of ``assets``), one node per asset named by its
    key's node name; an unselected upstream orders nothing, and its value is loaded from its
    latest materialization. External assets are not materialized (nothing here produces
    them), but their checks run; an asset of a ``@multi_asset`` is a node that takes its
    value out of the multi-asset's node, which runs once for all of them. Each selected
    asset's ``@asset_check`` s (``checks``, by asset key) are a node each after it."""
    materializable = [definition for definition in selected if not definition.external]
    # an external asset's checks load it through its IO manager, in steps of their own
    checked_outside = [definition for definition in selected
                       if definition.external and (checks or {}).get(definition.key)]
    if selected and not materializable and not checked_outside:
        raise DefinitionError(
            f"asset job {name!r}: the selection has only assets produced outside Tether "
            f"({', '.join(repr(d.key) for d in selected)}), which no job materializes "
            f"(and none of them has an @asset_check to run)")
    selected = materializable
    chosen = {definition.key for definition in selected}
    nodes: list[Node] = []
    emitted: set[str] = set()
    for definition in selected:
        step = definition.computed_by
        if step is not None and step not in emitted:
            emitted.add(step)
            # the multi-asset's own step, once, before the first of its assets
            multi = (multi_assets or {})[step]
            left_out = [key for key in multi.keys if key not in chosen]
            if left_out and not multi.can_subset:
                raise DefinitionError(
                    f"asset job {name!r}: the multi-asset {step!r} materializes "
                    f"{', '.join(map(repr, multi.keys))} together (can_subset=False); the "
                    f"selection leaves out {', '.join(map(repr, left_out))}: select all of "
                    f"them, or none")
            nodes.append(_node(name, step, multi.op, multi.inputs, multi.value_deps,
                               multi.deps, chosen, assets, asset_key=None)._replace(
                check_specs=tuple(s for s in multi.check_specs if s.key in chosen)))
        if step is not None:
            nodes.append(Node(name=definition.asset_key.node_name, op=definition.op,
                              inputs={PICK_INPUT: step}, asset_key=definition.key))
        elif definition.graph is not None:
            # imported here: _graph_asset builds on this module
            from ._graph_asset import graph_asset_nodes

            nodes.extend(graph_asset_nodes(name, definition, definition.graph, chosen, assets))
        else:
            nodes.append(_node(name, definition.asset_key.node_name, definition.op,
                               definition.inputs, definition.value_deps, definition.deps,
                               chosen, assets, asset_key=definition.key)._replace(
                check_specs=definition.check_specs))
    nodes += _check_nodes([*selected, *checked_outside], assets, chosen, checks or {})
    partitioned = job_partitions(name, selected, partitions_def)
    try:
        return JobDefinition(name, _blocked_by_checks(nodes), description=description,
                             partitions_def=partitioned)
    except DefinitionError as exc:
        if not any(node.check is not None and node.check.blocking for node in nodes):
            raise
        raise DefinitionError(
            f"{exc} (a blocking check runs before its asset's downstream steps, so it cannot "
            f"also read one of them with additional_deps: make it non-blocking, or drop that "
            f"dependency)") from None


def _check_nodes(selected: Sequence[AssetDefinition], assets: Mapping[str, AssetDefinition],
                 chosen: set[str], checks: Mapping[str, Sequence[AssetCheckDefinition]],
                 ) -> list[Node]:
    """A node per ``@asset_check`` of each selected asset, after the asset's (taking its
    value when the check has a parameter for it) and after the assets it also reads."""
    nodes: list[Node] = []
    for definition in selected:
        step = definition.asset_key.node_name
        for check in checks.get(definition.key, ()):
            also = [assets[dep].asset_key.node_name for dep in check.spec.additional_deps
                    if dep in chosen and not assets[dep].external]
            param = check.asset_param
            if definition.external:
                # no step makes it: its value is loaded through its IO manager, as an asset
                # outside the job's is
                node = Node(name=check.node_name, op=check.op, inputs={},
                            asset_inputs={param: definition.key} if param else {},
                            after=tuple(dict.fromkeys(also)), check=check.spec)
            else:
                node = Node(name=check.node_name, op=check.op,
                            inputs={param: step} if param else {},
                            after=tuple(dict.fromkeys([*([] if param else [step]), *also])),
                            check=check.spec)
            nodes.append(node)
    return nodes


def _blocked_by_checks(nodes: list[Node]) -> list[Node]:
    """The nodes, each downstream of an asset also after that asset's blocking checks: a
    failed one fails its step, and so they are skipped."""
    blocking: dict[str, list[str]] = {}
    for node in nodes:
        if node.check is not None and node.check.blocking:
            blocking.setdefault(AssetKey(node.check.key).node_name, []).append(node.name)
    if not blocking:
        return nodes
    ordered: list[Node] = []
    for node in nodes:
        own = None if node.check is None else AssetKey(node.check.key).node_name
        extra = [check for upstream in (*node.inputs.values(), *node.after)
                 if upstream != own for check in blocking.get(upstream, ())]
        ordered.append(node._replace(after=tuple(dict.fromkeys((*node.after, *extra))))
                       if extra else node)
    return ordered


def job_partitions(name: str, selected: Sequence[AssetDefinition],
                   partitions_def: PartitionsDefinition | None) -> PartitionsDefinition | None:
    """The partitions of the asset job ``name``: ``partitions_def``, or else the one the
    selected partitioned assets share; each partitioned asset's must be the job's."""
    found = {definition.partitions_def: definition.key for definition in selected
             if definition.partitions_def is not None}
    if partitions_def is None and len(found) > 1:
        raise DefinitionError(
            f"asset job {name!r}: its assets have different partitions "
            f"({'; '.join(f'{key}: {d!r}' for d, key in found.items())}); select assets "
            f"partitioned alike, or give the job partitions_def=")
    chosen = partitions_def or next(iter(found), None)
    odd = [key for definition, key in found.items() if definition != chosen]
    if odd:
        raise DefinitionError(f"asset job {name!r}: partitions_def={chosen!r}, but "
                              f"{', '.join(map(repr, odd))} have other partitions")
    return chosen


def _node(job: str, node_name: str, op: OpDefinition, inputs: Mapping[str, str],
          value_deps: Sequence[str], deps: Sequence[str], chosen: set[str],
          assets: Mapping[str, AssetDefinition], *, asset_key: str | None) -> Node:
    what = f"asset {asset_key!r}" if asset_key else f"multi-asset {node_name!r}"
    external = [dep for dep in value_deps if assets[dep].external]
    if external:
        raise DefinitionError(
            f"asset job {job!r}: {what} takes the value of {', '.join(map(repr, external))}, "
            f"produced outside Tether, which it cannot load; depend on it with deps= instead")
    unstored = [dep for dep in value_deps
                if dep not in chosen and assets[dep].op.io_manager_key is None]
    if unstored:
        # a value kept in the memory of the run that made it cannot be loaded here
        raise DefinitionError(
            f"asset job {job!r}: {what} takes the value of {', '.join(map(repr, unstored))}, "
            f"which is not stored (io_manager_key=None) and which the selection leaves out; "
            f"add it to the selection or give it an IO manager"
        )
    return Node(
        name=node_name, op=op,
        inputs={param: assets[key].asset_key.node_name for param, key in inputs.items()
                if key in chosen},
        after=tuple(dict.fromkeys(
            assets[dep].asset_key.node_name for dep in deps
            if dep in chosen and dep not in value_deps)),
        asset_key=asset_key,
        # upstream assets outside the job: their latest stored values
        asset_inputs={param: key for param, key in inputs.items() if key not in chosen},
    )


def define_asset_job(
    name: str,
    selection: AssetSelection | CoercibleKey | Iterable[CoercibleKey] | None = None,
    *,
    description: str = "",
    partitions_def: PartitionsDefinition | None = None,
) -> AssetJobDefinition:
    """A job that materializes the selected assets in dependency order: an
    :class:`AssetSelection`, one key (a string is one key), a list of keys or assets, or every
    asset when ``selection`` is None. It is resolved when the ``Definitions`` load, and an
    unknown key or group is an error there. The job's partitions are ``partitions_def``, or
    those its partitioned assets share."""
    return AssetJobDefinition(name, selection, description, partitions_def)
