"""Package names imported from their modules on first use (PEP 562), for packages whose
light users (run workers, code servers) must not pay for the heavy modules beside them."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping


def import_lazily(package: str, modules: Mapping[str, str], name: str) -> object:
    """``package``'s attribute ``name``, imported from ``modules[name]`` (a module relative
    to the package) and kept in the package, so this runs once per name."""
    module_name = modules.get(name)
    if module_name is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name, package), name)
    setattr(sys.modules[package], name, value)
    return value
