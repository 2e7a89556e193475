"""How deeply a decoded JSON or msgpack value nests, measured without recursion.

Decoders and encoders recurse: a value a few thousand levels deep fails them with
RecursionError wherever it goes next (the JSON of a GraphQL answer, a web page, the run
worker). Every free-form input is measured where it enters, and refused past
``TETHER_MAX_INPUT_DEPTH`` with a 4xx that says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from .errors import InputTooDeep


def nesting_depth(value: Any, limit: int) -> int:
    """The levels of lists and objects in ``value`` (a scalar 0, ``[1]`` 1, ``{"a": [1]}``
    2), counted up to ``limit + 1``: past the limit it stops looking."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        container, depth = pending.pop()
        children: Iterable[Any]
        if isinstance(container, dict):
            children = container.values()
        elif isinstance(container, list | tuple):
            children = container
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        pending.extend((child, depth + 1) for child in children
                       if isinstance(child, dict | list | tuple))
    return deepest


def check_depth(value: Any, limit: int, what: str) -> None:
    """Raise :class:`InputTooDeep` when ``value`` nests more than ``limit`` levels."""
    if nesting_depth(value, limit) > limit:
        raise InputTooDeep(what, limit)


def decode_json(data: bytes | str, limit: int, what: str) -> Any:
    """``data`` decoded, no deeper than ``limit``. Too deep for the decoder itself is
    :class:`InputTooDeep` too; anything else undecodable is msgspec's DecodeError."""
    try:
        value = msgspec.json.decode(data)
    except RecursionError:
        raise InputTooDeep(what, limit) from None
    check_depth(value, limit, what)
    return value
