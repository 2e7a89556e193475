"""``@op``: a Python function that is one step of a job.

A parameter named ``context`` in first position receives the :class:`OpContext`; every other
parameter is an input, fed by the output of another op. Parameters are read once, at definition
time, so that the executor only has to call the function.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, overload

from ..errors import DefinitionError
from ._compose import current_composition

_CONTEXT_PARAMETER = "context"
_KEYWORD_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


class OpDefinition:
    """An op: the user's function plus what was read from its signature.

    Outside a job body, calling an op calls the function directly (handy in unit tests);
    inside a ``@job`` body, it records a node and returns a handle to the node's output.
    """

    __slots__ = ("description", "fn", "input_names", "name", "optional_inputs", "takes_context")

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        kind: str = "op",
    ) -> None:
        self.fn = fn
        self.name: str = name or fn.__name__
        self.description: str = description or inspect.getdoc(fn) or ""
        self.takes_context, self.input_names, self.optional_inputs = _read_signature(
            fn, f"{kind} {self.name!r}"
        )

    def __repr__(self) -> str:
        return f"<OpDefinition {self.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        composition = current_composition()
        if composition is None:
            return self.fn(*args, **kwargs)
        return composition.add_node(self, self.name, args, kwargs, aliased=False)

    def alias(self, name: str) -> Callable[..., Any]:
        """This op under another node name, inside a job body: ``extract.alias("extract_eu")()``."""

        def invoke(*args: Any, **kwargs: Any) -> Any:
            composition = current_composition()
            if composition is None:
                raise DefinitionError(
                    f"op {self.name!r}: alias({name!r}) can only be called inside a @job body"
                )
            return composition.add_node(self, name, args, kwargs, aliased=True)

        return invoke


def _read_signature(
    fn: Callable[..., Any], what: str
) -> tuple[bool, tuple[str, ...], frozenset[str]]:
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError) as exc:
        raise DefinitionError(f"{what}: cannot read the function's signature: {exc}") from exc
    takes_context = bool(parameters) and parameters[0].name == _CONTEXT_PARAMETER
    if takes_context:
        parameters = parameters[1:]
    for parameter in parameters:
        # the executor passes inputs by keyword, so every input needs a keyword-able name
        if parameter.kind not in _KEYWORD_KINDS:
            raise DefinitionError(
                f"{what}: parameter {parameter.name!r} must be a plain or keyword-only "
                f"parameter (no *args, **kwargs or positional-only inputs)"
            )
        if parameter.name == _CONTEXT_PARAMETER:
            raise DefinitionError(f"{what}: `context` must be the first parameter")
    names = tuple(p.name for p in parameters)
    optional = frozenset(p.name for p in parameters if p.default is not inspect.Parameter.empty)
    return takes_context, names, optional


@overload
def op(fn: Callable[..., Any], /) -> OpDefinition: ...


@overload
def op(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], OpDefinition]: ...


def op(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> OpDefinition | Callable[[Callable[..., Any]], OpDefinition]:
    """Declare an op: ``@op`` or ``@op(name=..., description=...)``."""
    if fn is not None:
        return OpDefinition(fn)

    def decorate(function: Callable[..., Any]) -> OpDefinition:
        return OpDefinition(function, name=name, description=description)

    return decorate
