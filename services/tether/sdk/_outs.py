"""What an op declares about its outputs and inputs: ``out={"name": Out(type)}``,
``ins={"name": In(type)}``, and ``Nothing``, the type of a dependency that passes no value.

An op without ``out=`` has one output, ``result``. With several, its function returns a tuple
in the order of ``out`` or yields ``Output(value, output_name=...)``; an output declared with
``is_required=False`` may be left out (only when yielding), and the steps that take it are
then skipped. An ``In(Nothing)`` input is not a parameter of the function: it only orders the
op after the op wired to it.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Mapping
from typing import Any, NamedTuple

from ..errors import DefinitionError, OutputMismatch
from ._io_manager import RESULT
from ._outputs import DynamicOutput, Output, unwrap


class Nothing:
    """The type of an input or output that carries no value: ``In(Nothing)`` makes an op
    wait for another without taking its output."""

    def __init__(self) -> None:
        raise TypeError("Nothing is a marker type; use it as In(Nothing) or Out(Nothing)")


# an Out whose io_manager_key was not given stores through its op's
OP_MANAGER = "<op's io_manager_key>"


class Out:
    """One declared output of an op: the type its value must have (a class, checked with
    ``isinstance``; other annotations are only shown), whether it must be produced, and the
    resource that stores it (default: the op's ``io_manager_key``)."""

    __slots__ = ("description", "io_manager_key", "is_required", "type")

    def __init__(self, type: Any = None, *, description: str = "", is_required: bool = True,
                 io_manager_key: str | None = OP_MANAGER) -> None:
        self.type = type
        self.description = description
        self.is_required = is_required
        self.io_manager_key = io_manager_key

    def __repr__(self) -> str:
        required = "" if self.is_required else ", is_required=False"
        return f"Out({type_name(self.type)}{required})"

    @property
    def is_nothing(self) -> bool:
        return self.type is Nothing

    @property
    def is_dynamic(self) -> bool:
        return False


class DynamicOut(Out):
    """An output whose values are decided at run time: the op yields
    ``DynamicOutput(value, mapping_key=...)`` any number of times, and in a job body
    ``op().map(fn)`` runs the ops ``fn`` calls once per value, ``.collect()`` gathers them."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"DynamicOut({type_name(self.type)})"

    @property
    def is_dynamic(self) -> bool:
        return True


# a mapping key goes into step keys and file names: keep it to plain characters
_MAPPING_KEY = re.compile(r"[A-Za-z0-9_]{1,64}")


def keyed(output: str, mapping_key: str) -> str:
    """The name one value of a dynamic output is stored under: ``items[a]``."""
    return f"{output}[{mapping_key}]"


def base_name(name: str) -> str:
    """The declared name of a stored output or a step: ``items[a]`` → ``items``."""
    return name.partition("[")[0]


class In:
    """One declared input of an op: its type (shown in the job's graph) and description.
    ``In(Nothing)`` declares an ordering-only dependency that is not a function parameter."""

    __slots__ = ("description", "type")

    def __init__(self, type: Any = None, *, description: str = "") -> None:
        self.type = type
        self.description = description

    def __repr__(self) -> str:
        return f"In({type_name(self.type)})"

    @property
    def is_nothing(self) -> bool:
        return self.type is Nothing


DEFAULT_OUTS: Mapping[str, Out] = {RESULT: Out()}


def type_name(hint: Any) -> str:
    """How a declared type reads in the job's snapshot and in error messages."""
    if hint is None:
        return "Any"
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def check_value(hint: Any, value: Any) -> bool:
    """Whether ``value`` fits ``hint``: only a plain class is checked (generics such as
    ``list[int]`` would need to walk the value, which a large output cannot afford)."""
    return not isinstance(hint, type) or hint is Nothing or isinstance(value, hint)


def read_outs(out: Mapping[str, Out] | Out | None, where: str) -> dict[str, Out]:
    if out is None:
        return dict(DEFAULT_OUTS)
    if isinstance(out, Out):
        return {RESULT: out}
    if not isinstance(out, Mapping) or not out:
        raise DefinitionError(f"{where}: out= takes an Out or a dict of output name → Out")
    outs: dict[str, Out] = {}
    for name, declared in out.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise DefinitionError(f"{where}: output name {name!r} is not a Python identifier")
        if not isinstance(declared, Out):
            raise DefinitionError(f"{where}: output {name!r} is a {type(declared).__name__}, "
                                  "not an Out")
        outs[name] = declared
    return outs


def read_ins(ins: Mapping[str, In] | None, parameters: tuple[str, ...],
             where: str) -> tuple[dict[str, In], tuple[str, ...]]:
    """The declared inputs, and the names of the ``In(Nothing)`` ones (which are not
    parameters of the function)."""
    declared = dict(ins or {})
    nothing: list[str] = []
    for name, spec in declared.items():
        if not isinstance(spec, In):
            raise DefinitionError(f"{where}: input {name!r} is a {type(spec).__name__}, "
                                  "not an In")
        if spec.is_nothing:
            if name in parameters:
                raise DefinitionError(
                    f"{where}: input {name!r} is In(Nothing), which passes no value; remove "
                    "the parameter from the function, or give the input a type")
            nothing.append(name)
        elif name not in parameters:
            raise DefinitionError(
                f"{where}: ins= names {name!r}, which is not a parameter of the function; its "
                f"inputs: {', '.join(parameters) or 'none'} (ordering-only inputs are "
                "In(Nothing))")
    return declared, tuple(nothing)


def check_return_annotation(hints: Mapping[str, Any], outs: Mapping[str, Out],
                            where: str) -> None:
    """Refuse a ``-> tuple[...]`` annotation whose length differs from the declared outputs:
    the mismatch would otherwise only show when the op runs."""
    hint = hints.get("return")
    if len(outs) < 2 or typing.get_origin(hint) is not tuple:
        return
    args = typing.get_args(hint)
    if args and Ellipsis not in args and len(args) != len(outs):
        raise DefinitionError(
            f"{where}: the function is annotated to return {len(args)} value(s) but declares "
            f"{len(outs)} outputs ({', '.join(outs)}); return one value per output, in order")


class Produced(NamedTuple):
    """One output a step made."""

    name: str
    value: Any
    # False for a MaterializeResult (the asset stored its data itself) and Nothing outputs
    store: bool
    metadata: Mapping[str, Any]
    # the value's key, for a DynamicOut
    mapping_key: str | None = None

    @property
    def stored_name(self) -> str:
        return self.name if self.mapping_key is None else keyed(self.name, self.mapping_key)


def produced_outputs(outs: Mapping[str, Out], step_key: str, returned: Any) -> list[Produced]:
    """The outputs a step made, from what its function returned: a value (or ``Output``)
    for a single output, a tuple in the order of ``outs`` for several, or a generator of
    ``Output(value, output_name=...)``. Raises :class:`OutputMismatch` naming the step when
    that does not fit ``outs``: a wrong tuple length, an unknown or repeated name, a missing
    required output, a value whose type is not the declared one."""
    where = f"step {step_key}"
    names = list(outs)
    made: list[Produced] = []
    if inspect.isgenerator(returned):
        for item in returned:
            if not isinstance(item, Output):
                raise OutputMismatch(f"{where} yielded a {type(item).__name__}; an op yields "
                                     "Output(value, output_name=...) for each output it makes")
            made.append(_produced(item, names, where))
    elif len(names) == 1:
        made.append(_produced(returned, names, where))
    else:
        if not isinstance(returned, tuple) or len(returned) != len(names):
            got = (f"a tuple of {len(returned)}" if isinstance(returned, tuple)
                   else f"a {type(returned).__name__}")
            raise OutputMismatch(
                f"{where} returned {got}, but its op declares {len(names)} outputs "
                f"({', '.join(names)}): return a tuple with one value per output in that "
                "order, or yield Output(value, output_name=...) to leave out optional ones")
        for name, value in zip(names, returned, strict=True):
            if isinstance(value, Output) and value.output_name not in (None, name):
                raise OutputMismatch(f"{where}: position of output {name!r} holds "
                                     f"Output(output_name={value.output_name!r})")
            made.append(_produced(value, [name], where))
    seen: set[str] = set()
    for output in made:
        declared = outs[output.name]
        if declared.is_dynamic != (output.mapping_key is not None):
            raise OutputMismatch(
                f"{where}: output {output.name!r} " + (
                    "is a DynamicOut: yield DynamicOutput(value, mapping_key=...)"
                    if declared.is_dynamic else "is not a DynamicOut; yield Output(...)"))
        if output.stored_name in seen:
            raise OutputMismatch(f"{where} produced output {output.stored_name!r} twice")
        seen.add(output.stored_name)
        seen.add(output.name)
        if output.store and not check_value(declared.type, output.value):
            raise OutputMismatch(
                f"{where}: output {output.name!r} is a {type(output.value).__name__}, not the "
                f"declared {type_name(declared.type)}")
    # a dynamic output may have no value at all: the steps mapped over it are skipped
    missing = [name for name, declared in outs.items()
               if declared.is_required and not declared.is_dynamic and name not in seen]
    if missing:
        raise OutputMismatch(
            f"{where} did not produce required output{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))}; produce it, or declare it "
            "Out(..., is_required=False) so the steps that take it are skipped instead")
    return made


def _produced(returned: Any, names: list[str], where: str) -> Produced:
    """One output; ``names`` is the op's outputs (a yielded Output) or the one it must be."""
    name = names[0]
    if isinstance(returned, Output) and returned.output_name is not None:
        name = returned.output_name
        if name not in names:
            raise OutputMismatch(f"{where} produced output {name!r}, which its op does not "
                                 f"declare (its outputs: {', '.join(names)})")
    elif isinstance(returned, Output) and len(names) > 1:
        raise OutputMismatch(f"{where} yielded an Output without output_name; its op has "
                             f"several outputs ({', '.join(names)}): name the one it is")
    value, store, metadata = unwrap(returned)
    if isinstance(returned, DynamicOutput):
        if not isinstance(returned.mapping_key, str) or \
                not _MAPPING_KEY.fullmatch(returned.mapping_key):
            raise OutputMismatch(f"{where}: mapping key {returned.mapping_key!r} must be 1 to "
                                 "64 letters, digits or underscores")
        return Produced(name, value, store, metadata, returned.mapping_key)
    return Produced(name, value, store, metadata)
