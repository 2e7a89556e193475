"""Asset checks: tests of an asset's data that run after it, in the runs that materialize it.

``@asset_check(asset=...)`` is a function of its own, one step after the asset's (it receives
the asset's stored value when it has a parameter named after the asset); an
``AssetCheckSpec`` given to ``@asset(check_specs=[...])`` is evaluated by the asset's own
step, which returns ``MaterializeResult(check_results=[...])`` or yields its
``AssetCheckResult`` s beside its ``Output``. Either way each result becomes an
ASSET_CHECK_EVALUATION event. A failed check with ``blocking=True`` and ERROR severity fails
its step, so the steps downstream of the asset do not run; any other failed check is only
recorded.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, overload

from ..errors import DefinitionError, OutputMismatch
from ._asset_key import AssetKey, coerce_key
from ._op import OpDefinition
from ._outs import Nothing, Out

# a check's name is part of its step key
_CHECK_NAME = re.compile(r"[A-Za-z0-9_]{1,128}")


class AssetCheckSeverity(enum.StrEnum):
    """How bad a failed check is: ERROR (with ``blocking=True``, the asset's downstream steps
    do not run) or WARN (only recorded)."""

    ERROR = "ERROR"
    WARN = "WARN"


class AssetCheckResult:
    """What a check reports: ``AssetCheckResult(passed=rows > 0, metadata={"rows": rows})``.

    ``asset_key`` and ``check_name`` say which check it is when the step evaluates several
    (an asset's ``check_specs``); a step with one check may leave them out."""

    __slots__ = ("asset_key", "check_name", "description", "metadata", "passed", "severity")

    def __init__(self, passed: bool, *,
                 severity: AssetCheckSeverity | str = AssetCheckSeverity.ERROR,
                 metadata: Mapping[str, Any] | None = None, description: str | None = None,
                 asset_key: Any = None, check_name: str | None = None) -> None:
        if not isinstance(passed, bool):
            raise TypeError(f"AssetCheckResult(passed=...) takes True or False, got {passed!r}")
        try:
            self.severity = AssetCheckSeverity(severity)
        except ValueError:
            raise TypeError(f"AssetCheckResult(severity=...) takes AssetCheckSeverity.ERROR or "
                            f"AssetCheckSeverity.WARN, got {severity!r}") from None
        self.passed = passed
        self.metadata: Mapping[str, Any] = metadata or {}
        self.description = description or ""
        self.asset_key: str | None = (None if asset_key is None
                                      else coerce_key(asset_key, "AssetCheckResult").to_string())
        self.check_name = check_name

    def __repr__(self) -> str:
        which = f", check_name={self.check_name!r}" if self.check_name else ""
        return (f"AssetCheckResult(passed={self.passed}, "
                f"severity={self.severity.value}{which})")


class AssetCheckSpec:
    """A check of ``asset`` named ``name``. In ``@asset(check_specs=[...])`` the asset may
    be left out (the asset itself); ``blocking=True`` keeps a failed ERROR check's asset
    from feeding its downstream steps."""

    __slots__ = ("additional_deps", "asset_key", "blocking", "description", "name")

    def __init__(self, name: str, *, asset: Any = None, description: str = "",
                 blocking: bool = False, additional_deps: Iterable[Any] = ()) -> None:
        if not isinstance(name, str) or not _CHECK_NAME.fullmatch(name):
            raise DefinitionError(f"asset check name {name!r} must be 1 to 128 letters, digits "
                                  "or underscores")
        self.name = name
        where = f"asset check {name!r}"
        # None: the asset whose check_specs list it
        self.asset_key: str | None = (None if asset is None
                                      else coerce_key(asset, where).to_string())
        self.description = description
        self.blocking = bool(blocking)
        self.additional_deps: tuple[str, ...] = tuple(
            coerce_key(dep, f"{where}: additional_deps").to_string() for dep in additional_deps)

    def __repr__(self) -> str:
        return f"AssetCheckSpec({self.name!r}, asset={self.asset_key!r})"

    @property
    def key(self) -> str:
        """The asset's key (set once the spec belongs to an asset)."""
        assert self.asset_key is not None, self
        return self.asset_key

    def of(self, asset_key: str) -> AssetCheckSpec:
        """This spec, of ``asset_key`` when it names no asset."""
        return self if self.asset_key is not None else self.moved_to(asset_key)

    def moved_to(self, asset_key: str) -> AssetCheckSpec:
        """A copy of this spec checking ``asset_key`` (its asset moved under a prefix)."""
        copy = object.__new__(AssetCheckSpec)
        for slot in AssetCheckSpec.__slots__:
            setattr(copy, slot, getattr(self, slot))
        copy.asset_key = asset_key
        return copy


def own_check_specs(specs: Iterable[AssetCheckSpec], keys: Sequence[str],
                    where: str) -> tuple[AssetCheckSpec, ...]:
    """The ``check_specs`` of an asset (or a multi-asset's ``keys``), each of one of them."""
    resolved: list[AssetCheckSpec] = []
    for spec in specs:
        if not isinstance(spec, AssetCheckSpec):
            raise DefinitionError(f"{where}: check_specs takes AssetCheckSpec s, got {spec!r}")
        if spec.asset_key is None and len(keys) > 1:
            raise DefinitionError(f"{where}: check {spec.name!r} must say which of its assets "
                                  f"it checks (asset=, one of {', '.join(map(repr, keys))})")
        spec = spec.of(keys[0])
        if spec.key not in keys:
            raise DefinitionError(
                f"{where}: check {spec.name!r} is of asset {spec.key!r}, which this step does "
                f"not materialize ({', '.join(map(repr, keys))}); use @asset_check for it")
        if any((s.key, s.name) == (spec.key, spec.name) for s in resolved):
            raise DefinitionError(f"{where}: two checks of asset {spec.key!r} are named "
                                  f"{spec.name!r}")
        resolved.append(spec)
    return tuple(resolved)


class AssetCheckDefinition:
    """An ``@asset_check``: its spec, the op of its step, and the parameter (if any) that
    receives the checked asset's value."""

    __slots__ = ("asset_param", "op", "spec")

    def __init__(self, fn: Callable[..., Any], *, asset: Any, name: str | None,
                 description: str | None, blocking: bool,
                 additional_deps: Iterable[Any]) -> None:
        label = str(name or getattr(fn, "__name__", "check"))
        if asset is None:
            raise DefinitionError(f"asset check {label!r}: @asset_check(asset=...) names the "
                                  "asset it checks")
        self.spec = AssetCheckSpec(label, asset=asset, description=description or "",
                                   blocking=blocking, additional_deps=additional_deps)
        # its value is the check's result, never stored
        self.op = OpDefinition(fn, name=self.node_name, description=description,
                               kind="asset check", out=Out(Nothing))
        self.spec.description = self.op.description
        asset_key = AssetKey(self.spec.key)
        # the asset's value goes to a parameter named after it (its key's last part, or
        # the whole key's step name)
        names = {asset_key.path[-1], asset_key.node_name}
        inputs = self.op.input_names
        self.asset_param: str | None = next((p for p in inputs if p in names), None)
        others = [p for p in inputs if p != self.asset_param]
        if others:
            raise DefinitionError(
                f"asset check {label!r} of asset {self.spec.key!r}: parameter "
                f"{others[0]!r} is not the asset; a check takes `context`, the asset's value "
                f"as a parameter named {asset_key.path[-1]!r}, Config and resources")

    @property
    def node_name(self) -> str:
        """Its step: the asset's step name and the check's, ``orders__has_rows``."""
        return f"{AssetKey(self.spec.key).node_name}__{self.spec.name}"

    @property
    def asset_key(self) -> str:
        return self.spec.key

    @property
    def name(self) -> str:
        return self.spec.name

    def __repr__(self) -> str:
        return f"<AssetCheckDefinition {self.spec.name} of {self.spec.key}>"

    def with_asset_key_prefix(self, prefix: str | Sequence[str]) -> AssetCheckDefinition:
        """A copy checking the asset moved under ``prefix`` (loaded with that ``key_prefix``);
        its step is renamed with it, the function is shared."""
        copy = object.__new__(AssetCheckDefinition)
        for slot in AssetCheckDefinition.__slots__:
            setattr(copy, slot, getattr(self, slot))
        copy.spec = self.spec.moved_to(AssetKey(self.spec.key).with_prefix(prefix).to_string())
        copy.op = self.op.renamed(copy.node_name)
        return copy

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Evaluate the check directly, outside any run (for unit tests)."""
        return self.op.fn(*args, **kwargs)


@overload
def asset_check(fn: Callable[..., Any], /) -> AssetCheckDefinition: ...


@overload
def asset_check(*, asset: Any, name: str | None = None, description: str | None = None,
                blocking: bool = False, additional_deps: Iterable[Any] = ()
                ) -> Callable[[Callable[..., Any]], AssetCheckDefinition]: ...


def asset_check(fn: Callable[..., Any] | None = None, /, *, asset: Any = None,
                name: str | None = None, description: str | None = None,
                blocking: bool = False, additional_deps: Iterable[Any] = (),
                ) -> AssetCheckDefinition | Callable[[Callable[..., Any]], AssetCheckDefinition]:
    """Declare a check of ``asset`` (a key or the asset): a function returning
    :class:`AssetCheckResult`, run as its own step after the asset's in every asset job that
    materializes the asset. A parameter named after the asset receives its stored value.
    ``blocking=True``: when the check fails with ERROR severity its step fails, and the
    asset's downstream steps do not run. ``additional_deps`` are other assets it reads (it
    runs after them when the job materializes them too)."""
    if fn is not None:
        return AssetCheckDefinition(fn, asset=asset, name=name, description=description,
                                    blocking=blocking, additional_deps=additional_deps)

    def decorate(function: Callable[..., Any]) -> AssetCheckDefinition:
        return AssetCheckDefinition(function, asset=asset, name=name, description=description,
                                    blocking=blocking, additional_deps=additional_deps)

    return decorate


class Evaluation:
    """One check result a step reported, matched to its spec."""

    __slots__ = ("result", "spec")

    def __init__(self, spec: AssetCheckSpec, result: AssetCheckResult) -> None:
        self.spec = spec
        self.result = result

    @property
    def blocks(self) -> bool:
        """Whether it fails its step: a blocking check failed with ERROR severity."""
        return (self.spec.blocking and not self.result.passed
                and self.result.severity is AssetCheckSeverity.ERROR)


def check_step_result(spec: AssetCheckSpec, step_key: str, returned: Any) -> Evaluation:
    """The result an ``@asset_check``'s step returned; :class:`OutputMismatch` naming the
    check when it is anything else."""
    if not isinstance(returned, AssetCheckResult):
        raise OutputMismatch(
            f"asset check {spec.name!r} of asset {spec.key!r} (step {step_key}) returned "
            f"{_a(returned)}; a check returns AssetCheckResult(passed=..., metadata=...)")
    return _match([spec], returned, f"asset check {spec.name!r} (step {step_key})")


def split_check_results(returned: Any) -> tuple[Any, list[AssetCheckResult]]:
    """What an asset's step returned, without its check results (in a MaterializeResult's
    ``check_results``, or yielded beside its outputs), and those results."""
    import inspect

    from ._outputs import MaterializeResult

    if isinstance(returned, MaterializeResult) and returned.check_results:
        return (MaterializeResult(metadata=returned.metadata), list(returned.check_results))
    if inspect.isgenerator(returned):
        items = list(returned)
        checks = [item for item in items if isinstance(item, AssetCheckResult)]
        if checks:
            rest = [item for item in items if not isinstance(item, AssetCheckResult)]
            # a generator again: the outputs are read as the yielded ones they are
            return (item for item in rest), checks
        return (item for item in items), []
    return returned, []


def step_evaluations(specs: Sequence[AssetCheckSpec], step_key: str,
                     results: Sequence[Any]) -> list[Evaluation]:
    """The results an asset's step reported, each matched to one of its ``check_specs``;
    :class:`OutputMismatch` for a result no spec declares, one reported twice, or a spec
    with no result."""
    where = f"step {step_key}"
    evaluations: list[Evaluation] = []
    for result in results:
        if not isinstance(result, AssetCheckResult):
            raise OutputMismatch(f"{where}: check_results holds {_a(result)}, not an "
                                 "AssetCheckResult")
        if not specs:
            raise OutputMismatch(f"{where} reported a check result, but its asset declares "
                                 "no check_specs; declare AssetCheckSpec(...) for it")
        evaluation = _match(specs, result, where)
        if any(e.spec is evaluation.spec for e in evaluations):
            raise OutputMismatch(f"{where} reported check {evaluation.spec.name!r} of asset "
                                 f"{evaluation.spec.key!r} twice")
        evaluations.append(evaluation)
    missing = [spec for spec in specs if not any(e.spec is spec for e in evaluations)]
    if missing:
        raise OutputMismatch(
            f"{where} reported no result for check "
            f"{', '.join(f'{s.name!r} of asset {s.key!r}' for s in missing)} (its check_specs); "
            "return MaterializeResult(check_results=[...]) or yield AssetCheckResult(...)")
    return evaluations


def _match(specs: Sequence[AssetCheckSpec], result: AssetCheckResult,
           where: str) -> Evaluation:
    found = [spec for spec in specs
             if result.check_name in (None, spec.name) and result.asset_key in (None, spec.key)]
    if len(found) != 1:
        declared = ", ".join(f"{s.name!r} of asset {s.key!r}" for s in specs)
        said = " and ".join(part for part in (
            f"check_name={result.check_name!r}" if result.check_name else "",
            f"asset_key={result.asset_key!r}" if result.asset_key else "") if part)
        if not found:
            raise OutputMismatch(f"{where} reported a result for "
                                 f"{said or 'a check'}, which it does not declare "
                                 f"(its checks: {declared})")
        raise OutputMismatch(f"{where} evaluates several checks ({declared}): give each "
                             "AssetCheckResult its check_name=")
    return Evaluation(found[0], result)


def _a(value: Any) -> str:
    return "None" if value is None else f"a {type(value).__name__} ({value!r:.60})"
