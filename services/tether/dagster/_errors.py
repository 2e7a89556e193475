"""The one error of ``tether.dagster``: a Dagster name, argument or value Tether does not
support, named, with what to use instead (never a silent difference)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import DefinitionError

DOCS = "docs/dagster.md"


class NotInTether(DefinitionError, ImportError):
    """A Dagster name or argument Tether does not support. Also an ImportError, so that
    ``from tether.dagster import X`` fails at the import of the user's module with this
    message rather than Python's generic "cannot import name"."""

    def __init__(self, what: str, instead: str) -> None:
        super().__init__(f"{what} is not supported by Tether; {instead} (see {DOCS})")
        self.what = what
        self.instead = instead


def refuse(owner: str, given: Mapping[str, Any], instead: Mapping[str, str]) -> None:
    """Raise :class:`NotInTether` for the first of ``given``'s Dagster keyword arguments that
    was set (not None, False or empty) and that Tether has no counterpart for; ``instead``
    says, per keyword, what to do."""
    for keyword, value in given.items():
        if value is None or value is False or (isinstance(value, Mapping | list | tuple | set
                                                          | frozenset) and not value):
            continue
        raise NotInTether(f"{owner}({keyword}=...)", instead[keyword])
