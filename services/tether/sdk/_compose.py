"""Recording a job body: op calls inside ``@job`` return handles instead of running.

The job function runs once, at definition time, while a composition is active; every op call
adds a node and returns an :class:`OutputHandle` that other op calls take as inputs. The active
composition lives in a context variable because the op call site has no other way to find it.

A ``@graph`` called in a body is not a node: its body runs inline, in a scope that qualifies
the names of the nodes it adds with the graph's (``outer.inner.op``). Dots are safe wherever a
step key travels (URL query strings, Redis stream fields, file names, HTML attributes), and
an op name cannot contain one, so a qualified key never collides with a plain one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, NoReturn

from ..errors import DefinitionError
from ._graph import Node
from ._io_manager import RESULT

if TYPE_CHECKING:
    from ._op import OpDefinition


class OutputHandle:
    """One output of a node, as seen inside a job body. Only useful as another op's input."""

    __slots__ = ("_composition", "node_name", "output_name")

    def __init__(self, node_name: str, composition: Composition,
                 output_name: str = RESULT) -> None:
        self.node_name = node_name
        self.output_name = output_name
        self._composition = composition

    def __repr__(self) -> str:
        if self.output_name == RESULT:
            return f"<output of {self.node_name}>"
        return f"<output {self.output_name!r} of {self.node_name}>"

    def _misuse(self) -> NoReturn:
        raise DefinitionError(
            f"job {self._composition.job_name!r}: the output of {self.node_name!r} is only known "
            f"when the job runs; inside a job body it can only be passed to another op (an op "
            f"returns one handle per output only when it declares several: out={{...}})"
        )

    def __iter__(self) -> Iterator[Any]:
        self._misuse()

    def __bool__(self) -> bool:
        self._misuse()


class DynamicHandle(OutputHandle):
    """An output with one value per mapping key, known at run time: a ``DynamicOut``, or an
    output of an op inside ``.map(...)``. ``map(fn)`` records ``fn``'s ops once, to run once
    per value; ``collect()`` is the list of all the values, for an op outside the map."""

    __slots__ = ("collected", "source")

    def __init__(self, node_name: str, composition: Composition, output_name: str, *,
                 source: str, collected: bool = False) -> None:
        super().__init__(node_name, composition, output_name)
        # the step whose DynamicOut decides the mapping keys
        self.source = source
        self.collected = collected

    def __repr__(self) -> str:
        return f"<dynamic output {self.output_name!r} of {self.node_name}>"

    def map(self, fn: Callable[[DynamicHandle], Any]) -> Any:
        """Record ``fn(value)``'s ops as steps run once per value; returns what ``fn``
        returns (a dynamic handle, to collect or map further)."""
        return self._composition.record_map(self, fn)

    def collect(self) -> DynamicHandle:
        return DynamicHandle(self.node_name, self._composition, self.output_name,
                             source=self.source, collected=True)


class OutputHandles(tuple[OutputHandle, ...]):
    """The outputs of an op or graph with several, in declared order: ``a, b = op()`` or
    ``op().a``."""

    names: tuple[str, ...]
    owner: str

    def __new__(cls, owner: str, named: Iterable[tuple[str, OutputHandle]]) -> OutputHandles:
        pairs = list(named)
        handles = super().__new__(cls, (handle for _, handle in pairs))
        handles.names = tuple(name for name, _ in pairs)
        handles.owner = owner
        return handles

    def __getattribute__(self, name: str) -> Any:
        # an output named like a tuple method ("count", "index") is still reached by name
        if not name.startswith("_") and name not in ("names", "owner"):
            names = object.__getattribute__(self, "names")
            if name in names:
                return self[names.index(name)]
        return super().__getattribute__(name)

    def __getattr__(self, name: str) -> OutputHandle:
        if name in ("names", "owner") or name.startswith("__"):
            raise AttributeError(name)
        for output, handle in zip(self.names, self, strict=True):
            if output == name:
                return handle
        raise DefinitionError(
            f"job {self[0]._composition.job_name!r}: {self.owner!r} has no output "
            f"{name!r}; its outputs: {', '.join(self.names)}")


class Composition:
    """The nodes recorded so far for one job body."""

    def __init__(self, job_name: str) -> None:
        self.job_name = job_name
        self.nodes: list[Node] = []
        self._by_name: dict[str, Node] = {}
        self._names: set[str] = set()
        self._suffixes: dict[str, int] = {}
        # the qualified name of the graph whose body is being recorded ("" at the top)
        self._scope = ""
        # handles standing for a graph_asset's inputs, by the node name they carry
        self.placeholders: set[str] = set()
        # the dynamic step whose map body is being recorded
        self._mapping: str | None = None

    def record_map(self, handle: DynamicHandle, fn: Callable[[DynamicHandle], Any]) -> Any:
        if handle.collected or self._mapping is not None:
            raise DefinitionError(
                f"job {self.job_name!r}: .map() is called on the output of {handle.node_name!r} "
                "inside another map or after collect(); Tether maps one level deep")
        self._mapping = handle.source
        try:
            return fn(handle)
        finally:
            self._mapping = None

    def handle(self, node_name: str, output_name: str = RESULT) -> OutputHandle:
        return OutputHandle(node_name, self, output_name)

    def enter_graph(self, name: str, *, aliased: bool, qualified: bool = False) -> str:
        """Start recording the body of graph ``name`` (one scope deeper; ``qualified``: the
        scope's full name, such as a graph asset's step); returns the previous scope, to give
        back to :meth:`leave_graph`."""
        previous = self._scope
        self._scope = name if qualified else self._qualified(name, aliased=aliased)
        self._names.add(self._scope)
        return previous

    def leave_graph(self, previous: str) -> None:
        self._scope = previous

    def add_node(
        self,
        op: OpDefinition,
        name: str,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any],
        *,
        aliased: bool,
    ) -> OutputHandle | OutputHandles:
        name = self._qualified(name, aliased=aliased)
        where = f"job {self.job_name!r}, op {name!r}"
        wired = op.wired_inputs
        if len(args) > len(wired):
            raise DefinitionError(
                f"{where}: takes {len(wired)} input(s) "
                f"({', '.join(wired) or 'none'}) but got {len(args)} positional arguments"
            )
        bound: dict[str, Any] = dict(zip(wired, args, strict=False))
        for key, value in kwargs.items():
            if key not in wired:
                raise DefinitionError(
                    f"{where}: unknown input {key!r}; its inputs are "
                    f"{', '.join(wired) or 'none'}"
                )
            if key in bound:
                raise DefinitionError(f"{where}: input {key!r} is given twice")
            bound[key] = value
        inputs: dict[str, str] = {}
        from_outputs: dict[str, str] = {}
        collects: set[str] = set()
        after: list[str] = []
        for input_name in wired:
            if input_name not in bound:
                # an ordering-only input with nothing to wait for is simply unwired
                if input_name in op.optional_inputs or input_name in op.nothing_inputs:
                    continue
                raise DefinitionError(f"{where}: missing input {input_name!r}")
            value = bound[input_name]
            if input_name in op.nothing_inputs and isinstance(value, list | OutputHandles):
                # several steps to wait for: ordering-only edges, like an asset's deps
                after.extend(self._waited_for(where, input_name, value))
                continue
            if isinstance(value, OutputHandles):
                raise DefinitionError(
                    f"{where}: input {input_name!r} got all {len(value)} outputs of "
                    f"{value.owner!r} ({', '.join(value.names)}); "
                    "pass one of them (a, b = op(), or op().a)")
            if not isinstance(value, OutputHandle) or value._composition is not self:
                raise DefinitionError(
                    f"{where}: input {input_name!r} got {type(value).__name__} {value!r:.60}, "
                    f"not the output of another op in this job (pass constants through "
                    f"run config instead)"
                )
            upstream = (None if value.node_name in self.placeholders
                        else self._by_name[value.node_name].op.outs[value.output_name])
            if upstream is not None and upstream.is_nothing and input_name not in op.nothing_inputs:
                raise DefinitionError(
                    f"{where}: input {input_name!r} takes output {value.output_name!r} of "
                    f"{value.node_name!r}, which is Out(Nothing) and carries no value; declare "
                    f"the input In(Nothing)")
            if isinstance(value, DynamicHandle):
                if value.collected and self._mapping is None:
                    collects.add(input_name)
                elif value.collected or value.source != self._mapping:
                    raise DefinitionError(
                        f"{where}: input {input_name!r} takes {value!r}, which has one value "
                        "per mapping key: take it inside .map(...), or all of them with "
                        ".collect() outside it")
            inputs[input_name] = value.node_name
            if value.output_name != RESULT:
                from_outputs[input_name] = value.output_name
        dynamic = [output for output, declared in op.outs.items() if declared.is_dynamic]
        if dynamic and self._mapping is not None:
            raise DefinitionError(f"{where}: an op with a DynamicOut inside .map(); Tether "
                                  "maps one level deep")
        self._names.add(name)
        node = Node(name=name, op=op, inputs=inputs, from_outputs=from_outputs,
                    after=tuple(dict.fromkeys(after)), mapped_over=self._mapping,
                    collects=frozenset(collects))
        self.nodes.append(node)
        self._by_name[name] = node
        handles = [(output, self._output_handle(name, output, dynamic=output in dynamic))
                   for output in op.outs]
        return handles[0][1] if len(handles) == 1 else OutputHandles(name, handles)

    def _waited_for(self, where: str, input_name: str, handles: Iterable[Any]) -> list[str]:
        steps = []
        for handle in handles:
            if not isinstance(handle, OutputHandle) or handle._composition is not self or \
                    isinstance(handle, DynamicHandle):
                raise DefinitionError(
                    f"{where}: In(Nothing) input {input_name!r} takes a list of op outputs of "
                    f"this job; got {type(handle).__name__} {handle!r:.60}")
            steps.append(handle.node_name)
        return steps

    def _output_handle(self, node_name: str, output: str, *, dynamic: bool) -> OutputHandle:
        if dynamic:
            return DynamicHandle(node_name, self, output, source=node_name)
        if self._mapping is not None:
            return DynamicHandle(node_name, self, output, source=self._mapping)
        return self.handle(node_name, output)

    def _qualified(self, name: str, *, aliased: bool) -> str:
        if "." in name:
            raise DefinitionError(f"job {self.job_name!r}: node name {name!r} contains '.', "
                                  "which separates the names of nested graphs")
        if self._scope:
            name = f"{self._scope}.{name}"
        if aliased:
            if name in self._names:
                raise DefinitionError(f"job {self.job_name!r}: two nodes are named {name!r}")
            return name
        # resume from the last suffix used for this name: a loop calling one op thousands of
        # times must not rescan every earlier suffix
        candidate, counter = name, self._suffixes.get(name, 1)
        while candidate in self._names:
            counter += 1
            candidate = f"{name}_{counter}"
        self._suffixes[name] = counter
        return candidate


_active: ContextVar[Composition | None] = ContextVar("tether_composition", default=None)


def current_composition() -> Composition | None:
    return _active.get()


def compose(job_name: str, body: Callable[[], object]) -> list[Node]:
    """Run a job body under a fresh composition and return the nodes it recorded."""
    return record(Composition(job_name), body)[0]


def record(composition: Composition, body: Callable[[], object]) -> tuple[list[Node], object]:
    """Run ``body`` under ``composition``; the nodes it recorded and what it returned."""
    token = _active.set(composition)
    try:
        returned = body()
    finally:
        _active.reset(token)
    if not composition.nodes:
        raise DefinitionError(f"job {composition.job_name!r}: the job body calls no op")
    return composition.nodes, returned
