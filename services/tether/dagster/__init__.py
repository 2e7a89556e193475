"""Dagster's public names for what Tether does, so that a Dagster project runs on Tether
with ``import tether.dagster as dg`` in place of ``import dagster as dg``.

Each supported name is Tether's own object where it means the same, or a thin adapter that
takes Dagster's signature and builds Tether's definition. Every other public Dagster name
raises :class:`NotInTether` when it is imported (``from tether.dagster import X``) or read
(``dg.X``), naming it and saying what to use instead: a project that imports it fails at
load with that message, never later with a silent difference. ``docs/dagster.md`` lists
them all.

Importing this package imports nothing more than ``tether`` does: each name is imported
from its module on first use.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from ._errors import NotInTether
from ._names import SUPPORTED, UNSUPPORTED

__all__ = sorted(SUPPORTED)


def __getattr__(name: str) -> Any:
    target = SUPPORTED.get(name)
    if target is None:
        instead = UNSUPPORTED.get(name)
        if instead is None:
            raise AttributeError(f"module 'tether.dagster' has no attribute {name!r}")
        raise NotInTether(f"dagster.{name}", instead)
    module_name, _, attribute = target[0].partition(":")
    value = getattr(importlib.import_module(module_name), attribute)
    # kept in the module: the next access does not come here
    setattr(sys.modules[__name__], name, value)
    return value


def __dir__() -> list[str]:
    return [*__all__, "NotInTether"]
