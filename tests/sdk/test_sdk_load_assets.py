"""``load_assets_from_modules`` / ``load_assets_from_package_module``,
``load_asset_checks_from_modules`` / ``load_asset_checks_from_package_module`` and
``Definitions.merge``: a project's assets and checks collected from its modules, and several
``Definitions`` made one."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tether import (
    AssetSelection,
    Definitions,
    Resource,
    asset,
    define_asset_job,
    job,
    load_asset_checks_from_modules,
    load_asset_checks_from_package_module,
    load_assets_from_modules,
    load_assets_from_package_module,
    materialize,
    op,
    schedule,
)
from tether.errors import DefinitionError

INGEST = '''
from tether import asset

@asset
def raw() -> list[int]:
    return [1, 2]

@asset(group_name="kept")
def events() -> list[int]:
    return [3]

alias = raw  # the same asset under a second name is loaded once
'''

MARTS = '''
from tether import asset

@asset
def summary(raw: list[int]) -> int:
    return sum(raw)

@asset(deps=["outside"])
def audit() -> None:
    return None
'''


CHECKS = '''
from tether import AssetCheckResult, AssetCheckSpec, asset_check

@asset_check(asset="raw")
def raw_has_rows(raw: list[int]) -> AssetCheckResult:
    return AssetCheckResult(passed=len(raw) > 0, metadata={"rows": len(raw)})

@asset_check(asset="summary", blocking=True)
def summary_is_positive(summary: int) -> AssetCheckResult:
    return AssetCheckResult(passed=summary > 0)

again = raw_has_rows  # loaded once

# a spec is what an asset's own step reports on: it comes with its asset, not from here
not_a_check = AssetCheckSpec("loose", asset="raw")
'''


@pytest.fixture
def project(tmp_path: Path) -> Iterator[ModuleType]:
    package = tmp_path / "shop"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "ingest.py").write_text(INGEST)
    (package / "marts.py").write_text(MARTS)
    (package / "checks.py").write_text(CHECKS)
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module("shop")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == "shop" or n.startswith("shop.")]:
            del sys.modules[name]


@asset
def outside() -> None:
    return None


def test_assets_are_loaded_from_modules_once_each(project: ModuleType) -> None:
    ingest = importlib.import_module("shop.ingest")
    marts = importlib.import_module("shop.marts")
    assets = load_assets_from_modules([ingest, marts, ingest], group_name="shop")
    assert [(a.key, a.group_name) for a in assets] == [
        ("raw", "shop"), ("events", "kept"), ("summary", "shop"), ("audit", "shop")]
    defs = Definitions(assets=[*assets, outside], jobs=[define_asset_job("all")])
    assert [n.name for n in defs.get_job("all").nodes][:3] == ["raw", "events", "summary"]


def test_a_key_prefix_moves_the_loaded_assets_and_their_upstream_among_them(
        project: ModuleType) -> None:
    assets = load_assets_from_package_module(project, key_prefix=["shop"])
    by_key = {a.key: a for a in assets}
    assert set(by_key) == {"shop/raw", "shop/events", "shop/summary", "shop/audit"}
    assert by_key["shop/summary"].inputs == {"raw": "shop/raw"}
    # an upstream that is not among the loaded assets keeps its key
    assert by_key["shop/audit"].deps == ("outside",)
    defs = Definitions(assets=[*assets, outside],
                       jobs=[define_asset_job("j", AssetSelection.keys("shop/summary").upstream())])
    job_nodes = defs.get_job("j").nodes
    assert [(n.name, dict(n.inputs)) for n in job_nodes] == [
        ("shop__raw", {}), ("shop__summary", {"raw": "shop__raw"})]
    assert job_nodes[1].op.fn([2, 3]) == 5


class Store(Resource, frozen=True):
    url: str


@op
def ping(store: Store) -> None:
    return None


@job
def pinger() -> None:
    ping()


def test_merge_checks_the_whole_and_resolves_asset_jobs_again(project: ModuleType) -> None:
    ingest = importlib.import_module("shop.ingest")
    marts = importlib.import_module("shop.marts")
    store = Store(url="x")

    @schedule(cron="0 6 * * *", assets=AssetSelection.all())
    def morning() -> None: ...

    @asset
    def late() -> None: ...

    first = Definitions(assets=[*load_assets_from_modules([ingest, marts]), outside],
                        jobs=[define_asset_job("everything")], schedules=[morning])
    second = Definitions(assets=[late], jobs=[pinger], resources={"store": store})
    merged = Definitions.merge(first, second)
    assert list(merged.assets) == ["raw", "events", "summary", "audit", "outside", "late"]
    assert set(merged.jobs) == {"everything", "pinger", "morning_assets"}
    # "every asset" now means the merged ones
    assert len(merged.get_job("everything").nodes) == 6
    assert len(merged.get_job("morning_assets").nodes) == 6
    assert merged.resources == {"store": store}
    with pytest.raises(DefinitionError, match="two assets have the key 'raw'"):
        Definitions.merge(first, first)
    with pytest.raises(DefinitionError, match="two different resources are named 'store'"):
        Definitions.merge(second, Definitions(resources={"store": Store(url="y")}))


def test_asset_checks_are_loaded_from_modules_once_each_and_run(project: ModuleType) -> None:
    ingest = importlib.import_module("shop.ingest")
    marts = importlib.import_module("shop.marts")
    checks_module = importlib.import_module("shop.checks")
    checks = load_asset_checks_from_modules([checks_module, marts, checks_module])
    assert [(c.asset_key, c.name) for c in checks] == [
        ("raw", "raw_has_rows"), ("summary", "summary_is_positive")]
    result = materialize([*load_assets_from_modules([ingest, marts]), outside, *checks])
    assert sorted((e.check_name, e.passed) for e in result.get_asset_check_evaluations()) == [
        ("raw_has_rows", True), ("summary_is_positive", True)]
    assert result.asset_check_evaluation("raw", "raw_has_rows").metadata["rows"].value == 2
    with pytest.raises(DefinitionError, match=r"takes modules, got 'shop\.checks'"):
        load_asset_checks_from_modules(["shop.checks"])  # type: ignore[list-item]


def test_an_asset_key_prefix_moves_the_checks_with_their_prefixed_assets(
        project: ModuleType) -> None:
    assets = load_assets_from_package_module(project, key_prefix="shop")
    checks = load_asset_checks_from_package_module(project, asset_key_prefix="shop")
    assert sorted((c.asset_key, c.node_name) for c in checks) == [
        ("shop/raw", "shop__raw__raw_has_rows"),
        ("shop/summary", "shop__summary__summary_is_positive")]
    # the module's own definitions are left as they were
    assert importlib.import_module("shop.checks").raw_has_rows.asset_key == "raw"
    defs = Definitions(assets=[*assets, outside], asset_checks=checks,
                       jobs=[define_asset_job("all")])
    assert {n.name for n in defs.get_job("all").nodes} >= {
        "shop__raw__raw_has_rows", "shop__summary__summary_is_positive"}
    # without the prefix, the checks name assets these Definitions do not have
    with pytest.raises(DefinitionError, match="checks asset 'raw', which no asset"):
        Definitions(assets=[*assets, outside],
                    asset_checks=load_asset_checks_from_package_module(project))
