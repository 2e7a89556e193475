"""Collecting the assets and asset checks a project's modules define, instead of listing
each one."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any

from ..errors import DefinitionError
from ._asset import DEFAULT_GROUP, AssetDefinition
from ._checks import AssetCheckDefinition
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


def load_asset_checks_from_modules(
    modules: Iterable[ModuleType], *, asset_key_prefix: str | Sequence[str] | None = None,
) -> list[AssetCheckDefinition]:
    """The asset checks (``@asset_check``) defined at the top level of ``modules``, each once,
    in the order found. Checks an asset declares in its ``check_specs`` come with the asset
    and are not listed here.

    ``asset_key_prefix`` moves the asset each check targets under it: give the
    ``key_prefix`` that :func:`load_assets_from_modules` gave the checked assets.
    """
    found: dict[int, AssetCheckDefinition] = {}
    for module in modules:
        if not isinstance(module, ModuleType):
            raise DefinitionError(
                f"load_asset_checks_from_modules takes modules, got {module!r}")
        for value in vars(module).values():
            if isinstance(value, AssetCheckDefinition):
                found.setdefault(id(value), value)
    if asset_key_prefix is None:
        return list(found.values())
    return [check.with_asset_key_prefix(asset_key_prefix) for check in found.values()]


def load_assets_from_package_module(
    package: ModuleType, *, group_name: str | None = None,
    key_prefix: str | Sequence[str] | None = None,
) -> list[AssetDefinition | MultiAssetDefinition | AssetSpec]:
    """:func:`load_assets_from_modules` over a package and every module under it."""
    return load_assets_from_modules(_package_modules(package), group_name=group_name,
                                    key_prefix=key_prefix)


def load_asset_checks_from_package_module(
    package: ModuleType, *, asset_key_prefix: str | Sequence[str] | None = None,
) -> list[AssetCheckDefinition]:
    """:func:`load_asset_checks_from_modules` over a package and every module under it."""
    return load_asset_checks_from_modules(_package_modules(package),
                                          asset_key_prefix=asset_key_prefix)


def _package_modules(package: ModuleType) -> list[ModuleType]:
    import pkgutil  # here: only locations that walk a package pay for it

    if not isinstance(package, ModuleType):
        raise DefinitionError(f"expected a package module, got {package!r}")
    modules = [package]
    for info in pkgutil.walk_packages(getattr(package, "__path__", []),
                                      prefix=f"{package.__name__}."):
        modules.append(importlib.import_module(info.name))
    return modules
