from __future__ import annotations

import msgspec


class LocationSpec(msgspec.Struct, kw_only=True, frozen=True):
    """Where a code location's definitions live and how to run its code.

    Exactly one of ``module`` and ``python_file`` is set. ``python`` is the interpreter of the
    location's own virtualenv (empty: the agent's own interpreter).
    """

    name: str
    module: str | None = None
    python_file: str | None = None
    working_directory: str | None = None
    python: str | None = None
    attribute: str = "defs"
    env: dict[str, str] = {}
    queue: str = "default"

    def __post_init__(self) -> None:
        if (self.module is None) == (self.python_file is None):
            raise ValueError(
                f"code location {self.name!r}: set exactly one of `module` and `python_file`"
            )
