"""Fan-out decided at run time: the steps of a ``.map(...)`` body run once per value of a
``DynamicOut``, as copies keyed ``step[mapping key]``, and a ``.collect()`` input gathers
every copy's output.

The job's graph keeps one node per mapped op (a template, ``mapped_over`` its dynamic
step); :func:`expand_dynamic` turns a node into the steps to run once the steps it depends
on have run. It is the scheduler's only contact with dynamic outputs: a scheduler calls it
for each node it is about to start, in place of the node.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ._graph import JobDefinition, Node
from ._outs import keyed

# the mapping keys a step of this run produced for its DynamicOut, in order; None: no values
MappingKeys = Callable[[str], Sequence[str] | None]


def expand_dynamic(job: JobDefinition, node: Node, mapping_keys: MappingKeys) -> list[Node]:
    """The steps that run for ``node``: its copies, one per mapping key, for a node mapped
    over a dynamic step; for a node that collects, the node with each gathering input wired
    to every copy; otherwise the node itself. When the dynamic step produced no value (it
    failed, was skipped, or yielded none) the node is returned as it is, and the usual
    rules skip it."""
    if node.mapped_over is not None:
        keys = mapping_keys(node.mapped_over)
        if not keys:
            return [node]
        return [_copy(job, node, key) for key in keys]
    if not node.collects:
        return [node]
    fan_in: dict[str, tuple[tuple[str, str], ...]] = {}
    for name in sorted(node.collects):
        upstream, output = node.source(name)
        source = job.node(upstream).mapped_over or upstream
        keys = mapping_keys(source)
        if not keys:
            return [node]
        fan_in[name] = tuple((upstream, keyed(output, key)) if upstream == source
                             else (keyed(upstream, key), output) for key in keys)
    return [node._replace(inputs={n: up for n, up in node.inputs.items() if n not in fan_in},
                          fan_in=fan_in, collects=frozenset())]


def _copy(job: JobDefinition, node: Node, key: str) -> Node:
    inputs, from_outputs = dict(node.inputs), dict(node.from_outputs)
    for name, upstream_name in node.inputs.items():
        output = node.source(name)[1]
        upstream = job.node(upstream_name)
        if upstream_name == node.mapped_over and upstream.op.outs[output].is_dynamic:
            # the dynamic step itself: this copy reads its value for the key
            from_outputs[name] = keyed(output, key)
        elif upstream.mapped_over == node.mapped_over:
            # an earlier op of the same map body: its copy for the same key
            inputs[name] = keyed(upstream_name, key)
    return node._replace(name=keyed(node.name, key), inputs=inputs, from_outputs=from_outputs,
                         mapped_over=None)
