"""The graph of a job: nodes, their upstream edges, and the order they run in."""

from __future__ import annotations

import heapq
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import DefinitionError, StepSelectionError
from ._io_manager import RESULT

if TYPE_CHECKING:
    from ._checks import AssetCheckSpec
    from ._hooks import HookDefinition
    from ._op import OpDefinition
    from ._parallel import Executor
    from ._partitions import PartitionsDefinition
    from ._testing import ExecuteInProcessResult


# a NamedTuple rather than a dataclass: importing dataclasses costs `import tether` ~7 ms
class Node(NamedTuple):
    """One invocation of an op inside a job.

    ``inputs`` maps each wired input to the node whose output feeds it; ``after`` lists nodes
    that must finish first without passing a value (an asset's ``deps=[...]``);
    ``asset_inputs`` maps each input fed by an asset outside the job to its key (the value
    is loaded from storage); ``from_outputs`` names the upstream output an input reads when
    it is not ``result`` (an op with several outputs).
    """

    name: str
    op: OpDefinition
    inputs: Mapping[str, str]
    after: tuple[str, ...] = ()
    asset_key: str | None = None
    asset_inputs: Mapping[str, str] = {}
    from_outputs: Mapping[str, str] = {}
    # the step with a DynamicOut this node is mapped over: it runs once per value, as copies
    # keyed node[mapping key] (see _dynamic)
    mapped_over: str | None = None
    # inputs that gather the values of every copy of the mapped node they are wired to
    collects: frozenset[str] = frozenset()
    # made at run time for a gathering input: the (step, output) of each value, in key order
    fan_in: Mapping[str, tuple[tuple[str, str], ...]] = {}
    # the step of an @asset_check: the check it evaluates (its function returns the result)
    check: AssetCheckSpec | None = None
    # the checks an asset's own step reports results for (its check_specs)
    check_specs: tuple[AssetCheckSpec, ...] = ()

    def source(self, input_name: str) -> tuple[str, str]:
        """The node and the output of it that feed ``input_name``."""
        return self.inputs[input_name], self.from_outputs.get(input_name, RESULT)

    @property
    def value_inputs(self) -> dict[str, tuple[str, str]]:
        """The wired inputs that pass a value (not ``In(Nothing)``): name → (node, output)."""
        nothing = self.op.nothing_inputs
        return {name: self.source(name) for name in self.inputs
                if name not in nothing and name not in self.fan_in}

    @property
    def upstream(self) -> tuple[str, ...]:
        gathered = (step for pairs in self.fan_in.values() for step, _ in pairs)
        return (*dict.fromkeys((*self.inputs.values(), *gathered)), *self.after)


class JobDefinition:
    """A named graph of nodes, kept in an order where every node follows its upstream."""

    __slots__ = ("_by_name", "description", "executor", "hooks", "name", "nodes",
                 "partitions_def", "tags")

    def __init__(self, name: str, nodes: Iterable[Node], *, description: str = "",
                 hooks: Iterable[HookDefinition] = (),
                 tags: Mapping[str, str] | None = None,
                 executor: Executor | None = None,
                 partitions_def: PartitionsDefinition | None = None) -> None:
        self.name = name
        # each run is of one of its partitions (None: not partitioned)
        self.partitions_def = partitions_def
        self.description = description
        # called after each step's outcome, after the op's own hooks
        self.hooks: tuple[HookDefinition, ...] = tuple(hooks)
        # the default tags of the job's runs (the control plane adds them at launch)
        self.tags: dict[str, str] = dict(tags or {})
        # how its steps run unless the run config says otherwise (None: the default)
        self.executor = executor
        self.nodes: tuple[Node, ...] = topological_order(f"job {name!r}", nodes)
        self._by_name = {node.name: node for node in self.nodes}

    def __repr__(self) -> str:
        return f"<JobDefinition {self.name} ({len(self.nodes)} nodes)>"

    def node(self, name: str) -> Node:
        return self._by_name[name]

    def execute_in_process(self, *, run_config: Mapping[str, Any] | None = None,
                           resources: Mapping[str, Any] | None = None,
                           raise_on_error: bool = True,
                           run_id: str | None = None,
                           partition_key: str | None = None) -> ExecuteInProcessResult:
        """Run this job in this process (in a unit test): see ``tether.sdk._testing``."""
        # imported here: the executor is a run's business, not `import tether`'s
        from ._testing import execute_in_process

        return execute_in_process(self, run_config=run_config, resources=resources,
                                  raise_on_error=raise_on_error, run_id=run_id,
                                  partition_key=partition_key)

    def select(self, step_keys: Collection[str]) -> tuple[Node, ...]:
        """The nodes named by ``step_keys``, in run order.

        Raises :class:`StepSelectionError` for a name the job does not have, and for a node
        whose input comes from a node left out whose output is not stored
        (``io_manager_key=None``): the input would have no value. A stored output is loaded
        from storage; a value-less ``after`` edge needs nothing."""
        chosen = set(step_keys)
        unknown = sorted(chosen - self._by_name.keys())
        if unknown:
            raise StepSelectionError(
                f"job {self.name!r} has no step {', '.join(unknown)} (its steps: "
                f"{', '.join(self._by_name)})")
        for node in self.nodes:
            if node.name in chosen and node.mapped_over and node.mapped_over not in chosen:
                raise StepSelectionError(
                    f"step {node.name} of job {self.name!r} is mapped over the values of step "
                    f"{node.mapped_over}, which are known only to the run that makes them; "
                    f"select {node.mapped_over} too")
            missing = list(dict.fromkeys(
                up for up, output in node.value_inputs.values()
                if up not in chosen and self._by_name[up].op.output_manager(output) is None))
            if node.name in chosen and missing:
                raise StepSelectionError(
                    f"step {node.name} of job {self.name!r} takes the output of "
                    f"{', '.join(missing)}, which is kept in the memory of the run that made "
                    "it (io_manager_key=None) and which the step selection leaves out")
        return tuple(node for node in self.nodes if node.name in chosen)


def topological_order(owner: str, nodes: Iterable[Node]) -> tuple[Node, ...]:
    """The nodes sorted so that upstream comes first, keeping the given order where free.

    Raises :class:`DefinitionError` naming ``owner`` for duplicate names, edges to unknown
    nodes, and cycles (only asset graphs can have one: op wiring is acyclic by construction).
    """
    listed = list(nodes)
    position: dict[str, int] = {}
    for index, node in enumerate(listed):
        if node.name in position:
            raise DefinitionError(f"{owner}: two nodes are named {node.name!r}")
        position[node.name] = index
    waiting_on: dict[str, int] = {}
    downstream: dict[str, list[str]] = {node.name: [] for node in listed}
    for node in listed:
        for upstream in node.upstream:
            if upstream not in position:
                raise DefinitionError(
                    f"{owner}: node {node.name!r} depends on {upstream!r}, which is not in the job"
                )
            downstream[upstream].append(node.name)
        waiting_on[node.name] = len(node.upstream)
    ready = [position[name] for name, count in waiting_on.items() if count == 0]
    heapq.heapify(ready)
    ordered: list[Node] = []
    while ready:
        node = listed[heapq.heappop(ready)]
        ordered.append(node)
        for name in downstream[node.name]:
            waiting_on[name] -= 1
            if waiting_on[name] == 0:
                heapq.heappush(ready, position[name])
    if len(ordered) != len(listed):
        stuck = sorted(name for name, count in waiting_on.items() if count > 0)
        raise DefinitionError(f"{owner}: dependency cycle among {', '.join(stuck)}")
    return tuple(ordered)
