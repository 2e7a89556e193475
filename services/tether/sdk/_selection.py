"""``AssetSelection``: which assets a job, schedule or sensor materializes, written before
the assets are known and resolved against a ``Definitions``' assets when it loads.

``AssetSelection.keys("raw") | AssetSelection.groups("warehouse").downstream()`` and the like
compose; a plain string is one key, a list is those keys.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import DefinitionError
from ._asset_key import close_matches, coerce_key

if TYPE_CHECKING:
    from ._asset import AssetDefinition

Assets = Mapping[str, "AssetDefinition"]


class AssetSelection:
    """A set of assets, described by keys, groups and graph walks, combined with ``|``
    (either), ``&`` (both) and ``-`` (the first without the second)."""

    __slots__ = ()

    @staticmethod
    def all() -> AssetSelection:
        return _All()

    @staticmethod
    def keys(*keys: Any) -> AssetSelection:
        """These keys (``AssetKey``, string form such as ``"warehouse/orders"``, list of
        parts, or the asset definitions themselves; a multi-asset stands for all its
        assets)."""
        return _Keys(_keys_of(keys, "AssetSelection.keys"))

    @staticmethod
    def assets(*definitions: AssetDefinition) -> AssetSelection:
        return AssetSelection.keys(*definitions)

    @staticmethod
    def groups(*group_names: str) -> AssetSelection:
        return _Groups(tuple(group_names))

    def upstream(self, depth: int | None = None, *, include_self: bool = True
                 ) -> AssetSelection:
        """This selection and the assets it depends on, ``depth`` levels up (all when None)."""
        return _Walk(self, "up", depth, include_self)

    def downstream(self, depth: int | None = None, *, include_self: bool = True
                   ) -> AssetSelection:
        """This selection and the assets that depend on it, ``depth`` levels down."""
        return _Walk(self, "down", depth, include_self)

    def __or__(self, other: AssetSelection) -> AssetSelection:
        return _Combined("|", self, as_selection(other))

    def __and__(self, other: AssetSelection) -> AssetSelection:
        return _Combined("&", self, as_selection(other))

    def __sub__(self, other: AssetSelection) -> AssetSelection:
        return _Combined("-", self, as_selection(other))

    def resolve(self, assets: Assets, where: str = "asset selection") -> list[str]:
        """The selected keys, in the order the assets were given; an unknown key or group
        raises :class:`DefinitionError` naming it and what it may have meant."""
        chosen = self._keys(assets, where)
        return [key for key in assets if key in chosen]

    def _keys(self, assets: Assets, where: str) -> set[str]:
        raise NotImplementedError


class _All(AssetSelection):
    __slots__ = ()

    def __repr__(self) -> str:
        return "AssetSelection.all()"

    def _keys(self, assets: Assets, where: str) -> set[str]:
        return set(assets)


class _Keys(AssetSelection):
    __slots__ = ("selected",)

    def __init__(self, selected: tuple[str, ...]) -> None:
        self.selected = selected

    def __repr__(self) -> str:
        return f"AssetSelection.keys({', '.join(map(repr, self.selected))})"

    def _keys(self, assets: Assets, where: str) -> set[str]:
        for key in self.selected:
            if key not in assets:
                raise DefinitionError(
                    f"{where}: selection names unknown asset {key!r}"
                    f"{close_matches(key, assets)}; known assets: {_listing(assets)}")
        return set(self.selected)


class _Groups(AssetSelection):
    __slots__ = ("names",)

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    def __repr__(self) -> str:
        return f"AssetSelection.groups({', '.join(map(repr, self.names))})"

    def _keys(self, assets: Assets, where: str) -> set[str]:
        known = {definition.group_name for definition in assets.values()}
        for name in self.names:
            if name not in known:
                raise DefinitionError(
                    f"{where}: selection names unknown asset group {name!r}"
                    f"{close_matches(name, known)}; groups: {', '.join(sorted(known))}")
        wanted = set(self.names)
        return {key for key, definition in assets.items() if definition.group_name in wanted}


class _Walk(AssetSelection):
    __slots__ = ("depth", "direction", "include_self", "start")

    def __init__(self, start: AssetSelection, direction: str, depth: int | None,
                 include_self: bool) -> None:
        self.start, self.direction, self.depth = start, direction, depth
        self.include_self = include_self

    def __repr__(self) -> str:
        return f"{self.start!r}.{self.direction}stream(depth={self.depth})"

    def _keys(self, assets: Assets, where: str) -> set[str]:
        start = self.start._keys(assets, where)
        if self.direction == "up":
            edges: Mapping[str, Iterable[str]] = {k: d.deps for k, d in assets.items()}
        else:
            down: dict[str, list[str]] = {key: [] for key in assets}
            for key, definition in assets.items():
                for dep in definition.deps:
                    down.setdefault(dep, []).append(key)
            edges = down
        seen: set[str] = set()
        frontier, level = set(start), 0
        while frontier and (self.depth is None or level < self.depth):
            frontier = {n for key in frontier for n in edges.get(key, ())} - seen - start
            seen |= frontier
            level += 1
        return seen | start if self.include_self else seen


class _Combined(AssetSelection):
    __slots__ = ("left", "operator", "right")

    def __init__(self, operator: str, left: AssetSelection, right: AssetSelection) -> None:
        self.operator, self.left, self.right = operator, left, right

    def __repr__(self) -> str:
        return f"({self.left!r} {self.operator} {self.right!r})"

    def _keys(self, assets: Assets, where: str) -> set[str]:
        left, right = self.left._keys(assets, where), self.right._keys(assets, where)
        if self.operator == "|":
            return left | right
        if self.operator == "&":
            return left & right
        return left - right


def _keys_of(keys: Iterable[Any], where: str) -> tuple[str, ...]:
    selected: list[str] = []
    for key in keys:
        produced = getattr(key, "keys", None)  # a @multi_asset's keys, as strings
        if isinstance(produced, tuple):
            selected.extend(produced)
        else:
            selected.append(coerce_key(key, where).to_string())
    return tuple(selected)


def _listing(assets: Assets, limit: int = 20) -> str:
    keys = list(assets)
    shown = ", ".join(keys[:limit]) or "none"
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def as_selection(value: Any, where: str = "asset selection") -> AssetSelection:
    """A selection from what users pass as one: a selection, None (every asset), a key (a
    string is one key, never its characters), an asset, or a list of keys and assets."""
    if isinstance(value, AssetSelection):
        return value
    if value is None:
        return _All()
    if (isinstance(value, str) or getattr(value, "asset_key", None) is not None
            or isinstance(getattr(value, "keys", None), tuple)):
        value = [value]
    # a list of key parts is one key only when wrapped in an AssetKey: a list of strings
    # is a list of keys, as in define_asset_job("j", selection=["raw", "clean"])
    listed = list(value) if isinstance(value, Iterable) else [value]
    return _Keys(_keys_of(listed, where))
