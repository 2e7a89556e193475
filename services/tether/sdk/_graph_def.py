"""``@graph``: ops composed into a reusable piece of a job, nested as deep as needed.

A graph is not a step: where a job (or another graph) calls it, its body runs inline and its
ops become steps keyed by their qualified name (``outer.inner.op``). The graph's parameters
are its inputs (the handles the caller passes), and what its body returns are its outputs: a
handle (one output), a dict of name → handle, or a tuple in the order of ``out=``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, overload

from ..errors import DefinitionError
from ._compose import Composition, OutputHandle, OutputHandles, compose, current_composition
from ._graph import JobDefinition
from ._io_manager import RESULT


class GraphDefinition:
    """A composition of ops (and graphs) with named inputs and outputs."""

    __slots__ = ("description", "fn", "input_names", "name", "out")

    def __init__(self, fn: Callable[..., Any], *, name: str | None = None,
                 description: str | None = None, out: Sequence[str] | None = None) -> None:
        self.fn = fn
        self.name: str = name or fn.__name__
        self.description: str = description or inspect.getdoc(fn) or ""
        where = f"graph {self.name!r}"
        parameters = inspect.signature(fn).parameters.values()
        if any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY)
               for p in parameters):
            raise DefinitionError(f"{where}: its inputs must be plain or keyword-only "
                                  "parameters")
        self.input_names: tuple[str, ...] = tuple(p.name for p in parameters)
        # the output names a tuple return maps to, in order; None: one output or a dict
        self.out: tuple[str, ...] | None = tuple(out) if out is not None else None

    def __repr__(self) -> str:
        return f"<GraphDefinition {self.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._invoke(self.name, args, kwargs, aliased=False)

    def alias(self, name: str) -> Callable[..., Any]:
        """This graph under another name inside a job body: ``etl.alias("etl_eu")(...)``."""
        def invoke(*args: Any, **kwargs: Any) -> Any:
            return self._invoke(name, args, kwargs, aliased=True)

        return invoke

    def _invoke(self, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], *,
                aliased: bool) -> Any:
        composition = current_composition()
        if composition is None:
            raise DefinitionError(f"graph {self.name!r} can only be called inside a @job or "
                                  "@graph body; to run it on its own, use .to_job()")
        try:
            bound = inspect.signature(self.fn).bind(*args, **kwargs)
        except TypeError as exc:
            raise DefinitionError(f"job {composition.job_name!r}, graph {name!r}: {exc}") \
                from None
        previous = composition.enter_graph(name, aliased=aliased)
        try:
            returned = self.fn(*bound.args, **bound.kwargs)
        finally:
            composition.leave_graph(previous)
        return self.outputs(composition, returned)

    def outputs(self, composition: Composition, returned: Any) -> Any:
        """The graph's outputs, from what its body returned, as its caller sees them."""
        where = f"job {composition.job_name!r}, graph {self.name!r}"
        if returned is None or isinstance(returned, OutputHandle):
            return returned
        if isinstance(returned, Mapping):
            named = list(returned.items())
        elif isinstance(returned, tuple):
            if self.out is None or len(self.out) != len(returned):
                raise DefinitionError(
                    f"{where}: its body returns {len(returned)} handles; name them with "
                    f"@graph(out=[...]) (one name each), or return a dict of name → handle")
            named = list(zip(self.out, returned, strict=True))
        else:
            raise DefinitionError(f"{where}: its body returns a {type(returned).__name__}; "
                                  "a graph returns an op's output, a tuple or a dict of them")
        for output, handle in named:
            if not isinstance(handle, OutputHandle):
                raise DefinitionError(f"{where}: output {output!r} is a "
                                      f"{type(handle).__name__}, not an op's output")
        return OutputHandles(self.name, named)

    def to_job(self, name: str | None = None, *, description: str | None = None) -> JobDefinition:
        """A job whose steps are this graph's (not prefixed with its name)."""
        if self.input_names:
            raise DefinitionError(f"graph {self.name!r}: a graph with inputs "
                                  f"({', '.join(self.input_names)}) is not a job on its own")
        job_name = name or self.name
        return JobDefinition(job_name, compose(job_name, self.fn),
                             description=description or self.description)


def single_output(graph: GraphDefinition, composition: Composition,
                  returned: Any) -> OutputHandle:
    """The one output of a graph whose body must return one (a graph asset's)."""
    outputs = graph.outputs(composition, returned)
    if isinstance(outputs, OutputHandle):
        return outputs
    if isinstance(outputs, OutputHandles) and RESULT in outputs.names:
        return outputs[outputs.names.index(RESULT)]
    raise DefinitionError(f"graph {graph.name!r}: its body must return the output of an op "
                          "(the asset's value)")


@overload
def graph(fn: Callable[..., Any], /) -> GraphDefinition: ...


@overload
def graph(*, name: str | None = None, description: str | None = None,
          out: Sequence[str] | None = None) -> Callable[[Callable[..., Any]], GraphDefinition]: ...


def graph(fn: Callable[..., Any] | None = None, /, *, name: str | None = None,
          description: str | None = None, out: Sequence[str] | None = None,
          ) -> GraphDefinition | Callable[[Callable[..., Any]], GraphDefinition]:
    """Declare a graph: a function whose body calls ops (and graphs) like a job's, whose
    parameters are its inputs and whose return value its outputs. ``out`` names the outputs
    of a body that returns a tuple."""
    if fn is not None:
        return GraphDefinition(fn)

    def decorate(function: Callable[..., Any]) -> GraphDefinition:
        return GraphDefinition(function, name=name, description=description, out=out)

    return decorate
