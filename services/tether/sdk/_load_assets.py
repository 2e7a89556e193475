"""Collecting the assets a project's modules define, instead of listing each one."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any

from ..errors import DefinitionError
from ._asset import DEFAULT_GROUP, AssetDefinition
from ._multi_asset import AssetSpec, MultiAssetDefinition


def load_assets_from_modules(
    modules: Iterable[ModuleType], *, group_name: str | None = None,
    key_prefix: str | Sequence[str] | None = None,
) -> list[AssetDefinition | MultiAssetDefinition | AssetSpec]:
    """The assets (``@asset``, ``@multi_asset``, ``AssetSpec``) defined at the top level of
    ``modules``, each once, in the order found.

    ``group_name`` puts those without a group of their own in that group; ``key_prefix``
    moves every loaded asset under it, and with it the upstream keys that name one of the
    loaded assets (those naming assets loaded elsewhere are left as they are).
    """
    found: dict[int, Any] = {}
    for module in modules:
        if not isinstance(module, ModuleType):
            raise DefinitionError(f"load_assets_from_modules takes modules, got {module!r}")
        for value in vars(module).values():
            if isinstance(value, AssetDefinition | MultiAssetDefinition | AssetSpec):
                found.setdefault(id(value), value)
    others = [v for v in found.values() if not isinstance(v, AssetDefinition)]
    if others and (key_prefix is not None or group_name is not None):
        # moving a multi-asset or a spec would need copies of their produced assets too
        raise DefinitionError(
            f"load_assets_from_modules: key_prefix= and group_name= apply to @asset "
            f"definitions only; these modules also define {others[0]!r}")
    loaded = {value.key for value in found.values() if isinstance(value, AssetDefinition)}
    return [
        value.with_attributes(
            key_prefix=key_prefix, prefix_upstream=loaded,
            group_name=group_name if value.group_name == DEFAULT_GROUP else None)
        if isinstance(value, AssetDefinition) else value
        for value in found.values()
    ]


def load_assets_from_package_module(
    package: ModuleType, *, group_name: str | None = None,
    key_prefix: str | Sequence[str] | None = None,
) -> list[AssetDefinition | MultiAssetDefinition | AssetSpec]:
    """:func:`load_assets_from_modules` over a package and every module under it."""
    import pkgutil  # here: only locations that walk a package pay for it

    modules = [package]
    for info in pkgutil.walk_packages(getattr(package, "__path__", []),
                                      prefix=f"{package.__name__}."):
        modules.append(importlib.import_module(info.name))
    return load_assets_from_modules(modules, group_name=group_name, key_prefix=key_prefix)
