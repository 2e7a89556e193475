"""``@asset`` and ``define_asset_job``: data assets whose parameters name their upstream.

An asset's parameters are the keys of the assets whose values it receives; ``deps=[...]``
adds upstream assets that must be materialized first but pass no value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, overload

from ..errors import DefinitionError
from ._graph import JobDefinition, Node
from ._op import OpDefinition


class AssetDefinition:
    """An asset: its key, its upstream asset keys, and the op that computes it."""

    __slots__ = ("deps", "description", "key", "op", "value_deps")

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        deps: Iterable[str | AssetDefinition] = (),
        description: str | None = None,
    ) -> None:
        self.op = OpDefinition(fn, name=name, description=description, kind="asset")
        self.key: str = self.op.name
        self.description: str = self.op.description
        self.value_deps: tuple[str, ...] = self.op.input_names
        extra = [dep.key if isinstance(dep, AssetDefinition) else dep for dep in deps]
        for dep in extra:
            if not isinstance(dep, str):
                raise DefinitionError(
                    f"asset {self.key!r}: deps must be asset keys or assets, got {dep!r}"
                )
        # every upstream key once, value deps first
        self.deps: tuple[str, ...] = tuple(dict.fromkeys((*self.value_deps, *extra)))
        if self.key in self.deps:
            raise DefinitionError(f"asset {self.key!r} depends on itself")

    def __repr__(self) -> str:
        return f"<AssetDefinition {self.key}>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Compute the asset directly, outside any run (for unit tests)."""
        return self.op.fn(*args, **kwargs)


@overload
def asset(fn: Callable[..., Any], /) -> AssetDefinition: ...


@overload
def asset(
    *,
    name: str | None = None,
    deps: Sequence[str | AssetDefinition] = (),
    description: str | None = None,
) -> Callable[[Callable[..., Any]], AssetDefinition]: ...


def asset(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    deps: Sequence[str | AssetDefinition] = (),
    description: str | None = None,
) -> AssetDefinition | Callable[[Callable[..., Any]], AssetDefinition]:
    """Declare an asset: ``@asset`` or ``@asset(name=..., deps=[...], description=...)``."""
    if fn is not None:
        return AssetDefinition(fn)

    def decorate(function: Callable[..., Any]) -> AssetDefinition:
        return AssetDefinition(function, name=name, deps=deps, description=description)

    return decorate


AssetSelection = str | AssetDefinition | Sequence[str | AssetDefinition]
"""One asset (its key or its definition) or several."""


def selection_keys(where: str, selection: AssetSelection) -> tuple[str, ...]:
    """The asset keys of a selection. A string is one key: iterating it would select its
    letters, each an unknown asset."""
    entries = (selection,) if isinstance(selection, str | AssetDefinition) else selection
    keys = []
    for entry in entries:
        if isinstance(entry, AssetDefinition):
            keys.append(entry.key)
        elif isinstance(entry, str):
            keys.append(entry)
        else:
            raise DefinitionError(
                f"{where}: a selection takes asset keys or @asset definitions, got {entry!r}"
            )
    return tuple(keys)


class AssetJobDefinition:
    """A job over assets, resolved into a :class:`JobDefinition` by ``Definitions``."""

    __slots__ = ("description", "name", "selection")

    def __init__(self, name: str, selection: AssetSelection | None, description: str) -> None:
        self.name = name
        self.description = description
        self.selection: tuple[str, ...] | None = (
            None if selection is None else selection_keys(f"asset job {name!r}", selection)
        )

    def __repr__(self) -> str:
        return f"<AssetJobDefinition {self.name}>"

    def resolve(self, assets: Mapping[str, AssetDefinition]) -> JobDefinition:
        where = f"asset job {self.name!r}"
        keys = list(assets) if self.selection is None else list(self.selection)
        unknown = [key for key in keys if key not in assets]
        if unknown:
            raise DefinitionError(
                f"{where}: selection names unknown asset(s) {', '.join(map(repr, unknown))}; "
                f"known assets: {', '.join(assets) or 'none'}"
            )
        selected = set(keys)
        nodes = []
        for key in dict.fromkeys(keys):
            definition = assets[key]
            missing = [dep for dep in definition.value_deps if dep not in selected]
            if missing:
                # there is no storage to load an unselected upstream value from
                raise DefinitionError(
                    f"{where}: asset {key!r} takes the value of {', '.join(map(repr, missing))}, "
                    f"which the selection leaves out; add it to the selection"
                )
            nodes.append(
                Node(
                    name=key,
                    op=definition.op,
                    inputs={dep: dep for dep in definition.value_deps},
                    after=tuple(
                        dep
                        for dep in definition.deps
                        if dep in selected and dep not in definition.value_deps
                    ),
                    asset_key=key,
                )
            )
        return JobDefinition(self.name, nodes, description=self.description)


def define_asset_job(
    name: str,
    selection: AssetSelection | None = None,
    *,
    description: str = "",
) -> AssetJobDefinition:
    """A job that materializes the selected assets (all of them when ``selection`` is None)
    in dependency order; ``selection`` is one asset key or definition, or a list of them."""
    return AssetJobDefinition(name, selection, description)
