"""``@graph_asset``: an asset whose value is the output of a graph of ops.

Its parameters name upstream assets, as an ``@asset``'s do. In an asset job the graph's ops
become steps keyed under the asset's step name (``orders.clean``), fed by the upstream
assets' steps or, for an asset outside the job, by its latest materialization; a last step
named after the asset takes the graph's output and materializes the asset.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, overload

from ..errors import DefinitionError
from ._asset import PICK_INPUT, AssetDefinition, CoercibleKey
from ._compose import Composition, record
from ._graph import Node
from ._graph_def import GraphDefinition, single_output
from ._io_manager import DEFAULT_IO_MANAGER_KEY, RESULT
from ._op import OpDefinition
from ._partitions import PartitionMapping, PartitionsDefinition

# the node name a graph input's placeholder handle carries while the graph is composed
_PLACEHOLDER = "<asset input {}>"


@overload
def graph_asset(fn: Callable[..., Any], /) -> AssetDefinition: ...


@overload
def graph_asset(*, name: str | None = None, key: CoercibleKey | None = None,
                key_prefix: str | Sequence[str] | None = None,
                ins: Mapping[str, CoercibleKey] | None = None,
                deps: Iterable[CoercibleKey] = (), description: str | None = None,
                group_name: str | None = None, owners: Sequence[str] = (),
                tags: Mapping[str, str] | None = None, kinds: Iterable[str] = (),
                code_version: str | None = None, metadata: Mapping[str, Any] | None = None,
                io_manager_key: str | None = DEFAULT_IO_MANAGER_KEY,
                partitions_def: PartitionsDefinition | None = None,
                partition_mappings: Mapping[CoercibleKey, PartitionMapping] | None = None,
                ) -> Callable[[Callable[..., Any]], AssetDefinition]: ...


def graph_asset(fn: Callable[..., Any] | None = None, /, *, name: str | None = None,
                key: CoercibleKey | None = None,
                key_prefix: str | Sequence[str] | None = None,
                ins: Mapping[str, CoercibleKey] | None = None,
                deps: Iterable[CoercibleKey] = (), description: str | None = None,
                group_name: str | None = None, owners: Sequence[str] = (),
                tags: Mapping[str, str] | None = None, kinds: Iterable[str] = (),
                code_version: str | None = None, metadata: Mapping[str, Any] | None = None,
                io_manager_key: str | None = DEFAULT_IO_MANAGER_KEY,
                partitions_def: PartitionsDefinition | None = None,
                partition_mappings: Mapping[CoercibleKey, PartitionMapping] | None = None,
                ) -> AssetDefinition | Callable[[Callable[..., Any]], AssetDefinition]:
    """Declare an asset computed by a graph: the function's body calls ops as a ``@graph``'s
    does and returns the output that is the asset's value; its parameters are upstream
    assets. The keyword arguments are ``@asset``'s; with ``partitions_def`` every op of the
    graph runs for the run's partition (``context.partition_key``) and reads its upstream
    assets' partitions through ``partition_mappings``."""
    def decorate(function: Callable[..., Any]) -> AssetDefinition:
        # the graph's signature gives the asset its inputs, exactly as @asset reads them
        definition = AssetDefinition(
            function, name=name, key=key, key_prefix=key_prefix, ins=ins, deps=deps,
            description=description, group_name=group_name, owners=owners, tags=tags,
            kinds=kinds, code_version=code_version, metadata=metadata,
            io_manager_key=io_manager_key, partitions_def=partitions_def,
            partition_mappings=partition_mappings)
        definition.graph = GraphDefinition(function, name=definition.asset_key.node_name,
                                           description=description)
        definition.op = OpDefinition(_materialize, name=definition.asset_key.node_name,
                                     description=definition.description, kind="asset",
                                     io_manager_key=io_manager_key)
        return definition

    return decorate if fn is None else decorate(fn)


def _materialize(multi_asset_value: Any) -> Any:
    return multi_asset_value


assert _materialize.__code__.co_varnames[0] == PICK_INPUT


def graph_asset_nodes(job: str, definition: AssetDefinition, graph: GraphDefinition,
                      chosen: set[str], assets: Mapping[str, AssetDefinition]) -> list[Node]:
    """The steps of ``definition`` in asset job ``job``: the graph's, then the one that
    materializes the asset."""
    step = definition.asset_key.node_name
    where = f"asset job {job!r}: graph asset {definition.key!r}"
    external = [dep for dep in definition.value_deps if assets[dep].external]
    if external:
        raise DefinitionError(f"{where} takes the value of {', '.join(map(repr, external))}, "
                              "produced outside Tether, which it cannot load; depend on it "
                              "with deps= instead")
    composition = Composition(job)
    placeholders = {param: _PLACEHOLDER.format(param) for param in definition.inputs}
    composition.placeholders.update(placeholders.values())

    def body() -> Any:
        previous = composition.enter_graph(step, aliased=True, qualified=True)
        try:
            return graph.fn(**{param: composition.handle(placeholder)
                               for param, placeholder in placeholders.items()})
        finally:
            composition.leave_graph(previous)

    recorded, returned = record(composition, body)
    output = single_output(graph, composition, returned)
    by_placeholder = {placeholder: param for param, placeholder in placeholders.items()}
    # deps= without a value: the graph's steps wait for those in the job
    after = tuple(dict.fromkeys(assets[dep].asset_key.node_name for dep in definition.deps
                                if dep in chosen and dep not in definition.value_deps))
    nodes: list[Node] = []
    for node in recorded:
        inputs = dict(node.inputs)
        asset_inputs: dict[str, str] = {}
        for input_name, upstream in node.inputs.items():
            param = by_placeholder.get(upstream)
            if param is None:
                continue
            asset_key = definition.inputs[param]
            if asset_key in chosen:
                inputs[input_name] = assets[asset_key].asset_key.node_name
            else:
                del inputs[input_name]
                asset_inputs[input_name] = asset_key
        nodes.append(node._replace(inputs=inputs, asset_inputs=asset_inputs, after=after))
    from_outputs = {} if output.output_name == RESULT else {PICK_INPUT: output.output_name}
    if output.node_name in placeholders.values():
        raise DefinitionError(f"{where}: its body returns an input unchanged; an asset's "
                              "value must come from an op")
    nodes.append(Node(name=step, op=definition.op, inputs={PICK_INPUT: output.node_name},
                      from_outputs=from_outputs, asset_key=definition.key))
    return nodes
