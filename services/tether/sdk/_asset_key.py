"""``AssetKey``: an asset's name, a path of one or more parts (``warehouse/orders``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import DefinitionError


class AssetKey:
    """The key of an asset: a path such as ``AssetKey(["warehouse", "orders"])``.

    Its string form joins the parts with ``/`` (``"warehouse/orders"``); a string is read back
    the same way, so ``AssetKey("warehouse/orders")`` is that key and the plain string
    ``"raw"`` is ``AssetKey(["raw"])`` wherever a key is expected. A key compares and hashes
    equal to its string form, so old string keys keep working as dict keys.
    """

    __slots__ = ("_string", "path")

    def __init__(self, path: str | Sequence[str]) -> None:
        parts = tuple(path.split("/")) if isinstance(path, str) else tuple(path)
        if not parts or any(not isinstance(p, str) or not p or "/" in p for p in parts):
            raise DefinitionError(
                f"an asset key is one or more non-empty strings without '/', got {path!r}"
            )
        self.path: tuple[str, ...] = parts
        self._string = "/".join(parts)

    def to_string(self) -> str:
        return self._string

    @property
    def node_name(self) -> str:
        """The name of the step that materializes it: the parts joined by ``__`` (step keys
        travel in URLs and stream names, where ``/`` would need escaping)."""
        return "__".join(self.path)

    def with_prefix(self, prefix: str | Sequence[str]) -> AssetKey:
        return AssetKey([*_prefix_parts(prefix), *self.path])

    def __str__(self) -> str:
        return self._string

    def __repr__(self) -> str:
        return f"AssetKey({list(self.path)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AssetKey):
            return self.path == other.path
        if isinstance(other, str):
            return self._string == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._string)

    def __lt__(self, other: AssetKey) -> bool:
        return self.path < other.path


def _prefix_parts(prefix: str | Sequence[str]) -> tuple[str, ...]:
    # a prefix string may itself be a path: "warehouse/raw"
    return tuple(prefix.split("/")) if isinstance(prefix, str) else tuple(prefix)


def coerce_key(value: Any, where: str) -> AssetKey:
    """An :class:`AssetKey` from a key, its string form, a list of parts, or anything with an
    ``asset_key`` (an asset definition or spec)."""
    if isinstance(value, AssetKey):
        return value
    key = getattr(value, "asset_key", None)
    if isinstance(key, AssetKey):
        return key
    if isinstance(value, str) or (
        isinstance(value, list | tuple) and all(isinstance(part, str) for part in value)
    ):
        try:
            return AssetKey(value)
        except DefinitionError as exc:
            raise DefinitionError(f"{where}: {exc}") from None
    raise DefinitionError(
        f"{where}: takes asset keys (a string, a list of strings, an AssetKey) or assets, "
        f"got {value!r}"
    )


def close_matches(key: str, known: Iterable[str]) -> str:
    """``"; did you mean ...?"`` naming the known keys close to ``key``, or nothing."""
    import difflib  # here: only a failing load pays for it

    matches = difflib.get_close_matches(key, list(known), n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(map(repr, matches))}?" if matches else ""
