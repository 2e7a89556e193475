"""``@op``: a Python function that is one step of a job.

A parameter named ``context`` in first position receives the :class:`OpContext`; one
annotated with a :class:`~tether.sdk.Config` subclass receives the step's config; those
annotated with a :class:`~tether.sdk.Resource` subclass receive the resource of their name;
every other parameter is an input, fed by the output of another op. Parameters are read once,
at definition time, so that the executor only has to call the function. ``out=`` and ``ins=``
declare named outputs and typed or ordering-only inputs (see ``_outs``).
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, overload

from ..errors import DefinitionError
from ._compose import current_composition
from ._config import Config, Resource, check_tags
from ._hooks import HookDefinition, check_hooks
from ._io_manager import DEFAULT_IO_MANAGER_KEY
from ._outs import (
    OP_MANAGER,
    In,
    Out,
    base_name,
    check_return_annotation,
    read_ins,
    read_outs,
)
from ._retries import RetryPolicy

_CONTEXT_PARAMETER = "context"
_KEYWORD_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


class OpDefinition:
    """An op: the user's function plus what was read from its signature.

    Outside a job body, calling an op calls the function directly (handy in unit tests);
    inside a ``@job`` body, it records a node and returns a handle to the node's output.
    """

    __slots__ = ("config_param", "config_type", "description", "fn", "hooks", "input_names",
                 "ins", "io_manager_key", "name", "nothing_inputs", "optional_inputs", "outs",
                 "pool", "resource_params", "retry_policy", "tags", "takes_context")

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        kind: str = "op",
        io_manager_key: str | None = DEFAULT_IO_MANAGER_KEY,
        tags: Mapping[str, str] | None = None,
        pool: str | None = None,
        out: Mapping[str, Out] | Out | None = None,
        ins: Mapping[str, In] | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        self.fn = fn
        # the concurrency pool whose slot a run executing this op needs (the control plane's
        # TETHER_POOL_LIMITS); None: none
        self.pool = pool
        self.tags: dict[str, str] = check_tags(tags, f"{kind} {name or fn.__name__!r}")
        # how often a failed step of this op runs again (None: it fails at once)
        self.retry_policy = retry_policy
        # the resource that stores the output; None keeps it in the run's memory only
        self.io_manager_key = io_manager_key
        self.name: str = name or fn.__name__
        self.description: str = description or inspect.getdoc(fn) or ""
        signature = _read_signature(fn, f"{kind} {self.name!r}")
        self.takes_context: bool = signature.takes_context
        self.input_names: tuple[str, ...] = signature.input_names
        self.optional_inputs: frozenset[str] = signature.optional_inputs
        self.config_param: str | None = signature.config_param
        self.config_type: type[Config] | None = signature.config_type
        # parameter name → the resource of that name in the Definitions
        self.resource_params: tuple[str, ...] = signature.resource_params
        # called after the step's outcome (with_hooks)
        self.hooks: tuple[HookDefinition, ...] = ()
        what = f"{kind} {self.name!r}"
        self.outs: dict[str, Out] = read_outs(out, what)
        self.ins: dict[str, In]
        # In(Nothing) inputs: wired like inputs, never passed to the function
        self.nothing_inputs: tuple[str, ...]
        self.ins, self.nothing_inputs = read_ins(ins, self.input_names, what)
        if len(self.outs) > 1:
            check_return_annotation(_type_hints(fn, what), self.outs, what)
        if sum(declared.is_dynamic for declared in self.outs.values()) > 1:
            # a map body runs once per key of one output: two would leave it ambiguous
            raise DefinitionError(f"{what}: declares more than one DynamicOut")

    def output_manager(self, output: str) -> str | None:
        """The resource that stores ``output`` (None: kept in the run's memory)."""
        # one value of a DynamicOut ("items[a]") is stored as the output is
        declared = self.outs[base_name(output)].io_manager_key
        return self.io_manager_key if declared == OP_MANAGER else declared

    @property
    def wired_inputs(self) -> tuple[str, ...]:
        """Every input a job body may wire: the parameters, then the In(Nothing) ones."""
        return (*self.input_names, *self.nothing_inputs)

    def __repr__(self) -> str:
        return f"<OpDefinition {self.name}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        composition = current_composition()
        if composition is None:
            return self.fn(*args, **kwargs)
        return composition.add_node(self, self.name, args, kwargs, aliased=False)

    def renamed(self, name: str) -> OpDefinition:
        """A copy of this op under another name (an asset moved under a key prefix)."""
        copy = object.__new__(OpDefinition)
        for slot in OpDefinition.__slots__:
            setattr(copy, slot, getattr(self, slot))
        copy.name = name
        return copy

    def with_hooks(self, hooks: Iterable[HookDefinition]) -> OpDefinition:
        """This op with ``hooks`` called after its step succeeds or fails:
        ``load.with_hooks({notify})()`` inside a job body."""
        copy = self.renamed(self.name)
        copy.hooks = (*self.hooks, *check_hooks(hooks, f"op {self.name!r}"))
        return copy

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


class _Signature(NamedTuple):
    takes_context: bool
    input_names: tuple[str, ...]
    optional_inputs: frozenset[str]
    config_param: str | None
    config_type: type[Config] | None
    resource_params: tuple[str, ...]


class _Parameter(NamedTuple):
    name: str
    kind: Any
    default: Any


def _parameters(fn: Callable[..., Any], what: str) -> list[_Parameter]:
    code = getattr(fn, "__code__", None)
    # a plain function's parameters straight from its code object: inspect.signature costs
    # ~40 µs a call, which a location of 10,000 assets pays 10,000 times
    if (type(fn) is types.FunctionType and code is not None and not code.co_posonlyargcount
            and not code.co_flags & (inspect.CO_VARARGS | inspect.CO_VARKEYWORDS)
            and not hasattr(fn, "__wrapped__") and not hasattr(fn, "__signature__")):
        positional = code.co_varnames[:code.co_argcount]
        keyword_only = code.co_varnames[code.co_argcount:
                                        code.co_argcount + code.co_kwonlyargcount]
        with_default = set(positional[len(positional) - len(fn.__defaults__ or ()):])
        with_default |= set(fn.__kwdefaults__ or {})
        empty = inspect.Parameter.empty
        return [
            *(_Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                         None if name in with_default else empty) for name in positional),
            *(_Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                         None if name in with_default else empty) for name in keyword_only),
        ]
    try:
        return [_Parameter(p.name, p.kind, p.default)
                for p in inspect.signature(fn).parameters.values()]
    except (TypeError, ValueError) as exc:
        raise DefinitionError(f"{what}: cannot read the function's signature: {exc}") from exc


def _read_signature(fn: Callable[..., Any], what: str) -> _Signature:
    parameters = _parameters(fn, what)
    hints = _type_hints(fn, what)
    takes_context = bool(parameters) and parameters[0].name == _CONTEXT_PARAMETER
    if takes_context:
        parameters = parameters[1:]
    inputs = []
    config: tuple[str, type[Config]] | None = None
    resources = []
    for parameter in parameters:
        # the executor passes inputs by keyword, so every input needs a keyword-able name
        if parameter.kind not in _KEYWORD_KINDS:
            raise DefinitionError(
                f"{what}: parameter {parameter.name!r} must be a plain or keyword-only "
                f"parameter (no *args, **kwargs or positional-only inputs)"
            )
        if parameter.name == _CONTEXT_PARAMETER:
            raise DefinitionError(f"{what}: `context` must be the first parameter")
        hint = hints.get(parameter.name)
        if isinstance(hint, type) and issubclass(hint, Config):
            if config is not None:
                raise DefinitionError(
                    f"{what}: parameters {config[0]!r} and {parameter.name!r} both take a "
                    "Config; an op has one config (nest Config classes for more)"
                )
            config = (parameter.name, hint)
        elif isinstance(hint, type) and issubclass(hint, Resource):
            resources.append(parameter.name)
        else:
            inputs.append(parameter)
    return _Signature(
        takes_context=takes_context,
        input_names=tuple(p.name for p in inputs),
        optional_inputs=frozenset(p.name for p in inputs
                                  if p.default is not inspect.Parameter.empty),
        config_param=None if config is None else config[0],
        config_type=None if config is None else config[1],
        resource_params=tuple(resources),
    )


def _type_hints(fn: Callable[..., Any], what: str) -> dict[str, Any]:
    annotations = getattr(fn, "__annotations__", None)
    if isinstance(annotations, dict) and not any(isinstance(a, str)
                                                  for a in annotations.values()):
        # already evaluated (no `from __future__ import annotations`): nothing to resolve
        return annotations
    try:
        return typing.get_type_hints(fn)
    except NameError as exc:
        # e.g. a Config class defined after the op that uses it
        raise DefinitionError(
            f"{what}: cannot resolve a parameter's type annotation ({exc}); define Config "
            "and Resource classes before the ops that use them"
        ) from exc
    except TypeError:
        return {}


@overload
def op(fn: Callable[..., Any], /) -> OpDefinition: ...


@overload
def op(
    *, name: str | None = None, description: str | None = None,
    io_manager_key: str | None = DEFAULT_IO_MANAGER_KEY,
    tags: Mapping[str, str] | None = None, pool: str | None = None,
    out: Mapping[str, Out] | Out | None = None, ins: Mapping[str, In] | None = None,
    retry_policy: RetryPolicy | None = None,
) -> Callable[[Callable[..., Any]], OpDefinition]: ...


def op(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    io_manager_key: str | None = DEFAULT_IO_MANAGER_KEY,
    tags: Mapping[str, str] | None = None,
    pool: str | None = None,
    out: Mapping[str, Out] | Out | None = None,
    ins: Mapping[str, In] | None = None,
    retry_policy: RetryPolicy | None = None,
) -> OpDefinition | Callable[[Callable[..., Any]], OpDefinition]:
    """Declare an op: ``@op`` or ``@op(name=..., description=..., io_manager_key=...,
    out=..., ins=...)``.

    ``io_manager_key`` names the resource that stores the op's outputs (default: the
    ``io_manager`` resource, or pickle files under the agent's storage folder); None keeps
    them in the run's memory, so only steps of the same run can take them. ``out`` declares
    the outputs (``{"a": Out(int), "b": Out(str, is_required=False)}``; default one, named
    ``result``), ``ins`` types inputs and adds ordering-only ones (``In(Nothing)``). ``tags``
    (string keys and values) are shown with the op and kept in its snapshot. ``pool`` names
    the concurrency pool the op's steps take a slot of (limits set on the control plane).
    ``retry_policy`` runs a failed step again (see :class:`RetryPolicy`)."""
    if fn is not None:
        return OpDefinition(fn)

    def decorate(function: Callable[..., Any]) -> OpDefinition:
        return OpDefinition(function, name=name, description=description,
                            io_manager_key=io_manager_key, tags=tags, pool=pool,
                            out=out, ins=ins, retry_policy=retry_policy)

    return decorate
