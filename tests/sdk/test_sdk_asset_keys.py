"""Asset keys of several parts, key prefixes, and the catalog attributes of an asset (group,
owners, tags, kinds, code version), as a Dagster user writes them."""

from __future__ import annotations

import msgspec
import pytest

from tether import AssetKey, Definitions, asset, define_asset_job
from tether.errors import DefinitionError
from tether.sdk import snapshot_definitions
from tether.wire import AssetSnapshot, LocationSnapshot


@asset
def raw() -> list[int]:
    return [1, 2, 3]


@asset(key=AssetKey(["warehouse", "orders"]), group_name="warehouse", owners=["team:data"],
       tags={"tier": "gold"}, kinds={"python", "duckdb"}, code_version="v2",
       description="orders, cleaned")
def orders(raw: list[int]) -> list[int]:
    return [n * 10 for n in raw]


@asset(key_prefix=["warehouse"], group_name="warehouse", ins={"rows": "warehouse/orders"})
def totals(rows: list[int]) -> int:
    return sum(rows)


@asset(key_prefix="reports", deps=[AssetKey(["warehouse", "totals"]), "raw"])
def daily() -> None:
    return None


def test_a_key_is_a_path_and_its_string_form_is_the_same_key() -> None:
    key = AssetKey(["warehouse", "orders"])
    assert key.path == ("warehouse", "orders") and str(key) == "warehouse/orders"
    assert key == AssetKey("warehouse/orders") == "warehouse/orders"
    assert AssetKey(["raw"]) == "raw" and {"raw": 1}[AssetKey(["raw"])] == 1  # type: ignore[index]
    assert AssetKey("raw").with_prefix(["a", "b"]) == AssetKey(["a", "b", "raw"])
    with pytest.raises(DefinitionError, match="non-empty strings without '/'"):
        AssetKey(["warehouse", "a/b"])


def test_prefixes_ins_and_deps_name_upstream_by_key() -> None:
    assert orders.key == "warehouse/orders" and orders.deps == ("raw",)
    assert totals.key == "warehouse/totals" and totals.inputs == {"rows": "warehouse/orders"}
    assert daily.asset_key == AssetKey(["reports", "daily"])
    assert daily.deps == ("warehouse/totals", "raw")
    defs = Definitions(assets=[raw, orders, totals, daily], jobs=[define_asset_job("all")])
    job = defs.get_job("all")
    # steps are named by the key's parts joined with "__"; they feed one another by key
    assert [node.name for node in job.nodes] == [
        "raw", "warehouse__orders", "warehouse__totals", "reports__daily"]
    assert dict(job.node("warehouse__totals").inputs) == {"rows": "warehouse__orders"}
    assert job.node("reports__daily").after == ("warehouse__totals", "raw")
    assert job.node("warehouse__orders").asset_key == "warehouse/orders"


def test_a_parameter_reads_the_asset_under_the_assets_own_prefix() -> None:
    @asset(key_prefix="warehouse")
    def customers(raw: list[int]) -> int:
        return len(raw)

    assert customers.deps == ("warehouse/raw",)
    with pytest.raises(DefinitionError,
                       match=r"depends on 'warehouse/raw'.*parameter 'raw'.*ins=.*'raw'"):
        Definitions(assets=[raw, customers])


def test_snapshot_carries_keys_groups_and_catalog_attributes() -> None:
    defs = Definitions(assets=[raw, orders, totals, daily])
    by_key = {a.key: a for a in snapshot_definitions(defs, "loc").assets}
    assert by_key["warehouse/orders"] == AssetSnapshot(
        key="warehouse/orders", key_path=["warehouse", "orders"], deps=["raw"],
        description="orders, cleaned", group_name="warehouse", owners=["team:data"],
        tags={"tier": "gold"}, kinds=["duckdb", "python"], code_version="v2")
    assert by_key["raw"].group_name == "default" and by_key["raw"].key_path == ["raw"]
    assert by_key["reports/daily"].deps == ["warehouse/totals", "raw"]


class OldAsset(msgspec.Struct, kw_only=True):
    """An asset as snapshots carried it before keys had parts and groups."""

    key: str
    deps: list[str] = []
    description: str = ""


class OldLocation(msgspec.Struct, kw_only=True):
    location: str
    assets: list[OldAsset] = []


def test_snapshots_evolve_both_ways() -> None:
    """A control plane reads snapshots of older code servers, and an older one newer's."""

    old = msgspec.json.encode(OldLocation(location="l", assets=[OldAsset(key="raw")]))
    [read] = msgspec.json.decode(old, type=LocationSnapshot).assets
    assert (read.path, read.group_name, read.owners, read.code_version) == (
        ["raw"], "default", [], None)
    new = msgspec.json.encode(snapshot_definitions(Definitions(assets=[raw, orders]), "l"))
    assert [a.key for a in msgspec.json.decode(new, type=OldLocation).assets] == [
        "raw", "warehouse/orders"]


def test_bad_attributes_are_named_at_definition_time() -> None:
    with pytest.raises(DefinitionError, match="asset 'x': owners takes a list of strings"):
        asset(name="x", owners="me")(lambda: None)  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match="asset 'x': tags map strings to strings"):
        asset(name="x", tags={"n": 1})(lambda: None)  # type: ignore[dict-item]
    with pytest.raises(DefinitionError, match="ins= names 'nope'"):
        asset(name="x", ins={"nope": "raw"})(lambda: None)
    with pytest.raises(DefinitionError, match=r"depends on 'rwa'.*did you mean 'raw'"):
        Definitions(assets=[raw, asset(name="x", deps=["rwa"])(lambda: None)])
    with pytest.raises(DefinitionError, match="both run as the step 'a__b'"):
        Definitions(assets=[asset(name="a__b")(lambda: None),
                            asset(key=["a", "b"])(lambda: None)])
