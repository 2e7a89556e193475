"""``AssetSelection``: keys, groups, graph walks and set operations, resolved when the
Definitions load, in asset jobs, schedules and sensors."""

from __future__ import annotations

import pytest

from tether import AssetKey, AssetSelection, Definitions, asset, define_asset_job, schedule, sensor
from tether.errors import DefinitionError


@asset(group_name="ingest")
def raw() -> list[int]:
    return [1, 2, 3]


@asset(group_name="ingest")
def events() -> list[int]:
    return [4]


@asset(key=["warehouse", "orders"], group_name="warehouse")
def orders(raw: list[int]) -> list[int]:
    return raw


@asset(key_prefix="warehouse", group_name="warehouse", ins={"rows": AssetKey("warehouse/orders")})
def totals(rows: list[int]) -> int:
    return sum(rows)


@asset(group_name="reports", deps=[totals, events])
def daily() -> None:
    return None


ASSETS = [raw, events, orders, totals, daily]


def selected(selection: object) -> list[str]:
    defs = Definitions(assets=ASSETS, jobs=[define_asset_job("j", selection)])
    return [node.asset_key or "" for node in defs.get_job("j").nodes]


def test_keys_groups_and_all() -> None:
    assert selected(AssetSelection.all()) == selected(None) == [
        "raw", "events", "warehouse/orders", "warehouse/totals", "daily"]
    assert selected(AssetSelection.keys("raw", AssetKey(["events"]))) == ["raw", "events"]
    assert selected(AssetSelection.groups("warehouse", "ingest")) == [
        "raw", "events", "warehouse/orders", "warehouse/totals"]
    assert selected(AssetSelection.assets(raw, orders)) == ["raw", "warehouse/orders"]


def test_a_string_is_one_key_not_its_characters() -> None:
    assert selected("raw") == ["raw"]
    assert selected("events") == ["events"]
    assert selected(["raw", orders]) == ["raw", "warehouse/orders"]
    # with its upstream, a multi-part key given as its string form
    assert selected(AssetSelection.keys("warehouse/totals").upstream()) == [
        "raw", "warehouse/orders", "warehouse/totals"]


def test_upstream_downstream_and_set_operations() -> None:
    assert selected(AssetSelection.keys("daily").upstream()) == [
        "raw", "events", "warehouse/orders", "warehouse/totals", "daily"]
    assert selected(AssetSelection.keys(raw).downstream(depth=2)) == [
        "raw", "warehouse/orders", "warehouse/totals"]
    assert selected(AssetSelection.keys(events).downstream(include_self=False)) == ["daily"]
    everything_but_reports = AssetSelection.all() - AssetSelection.groups("reports")
    assert selected(everything_but_reports) == [
        "raw", "events", "warehouse/orders", "warehouse/totals"]
    # `-` binds tighter than `|`, as for Python sets
    assert selected(AssetSelection.groups("ingest") | AssetSelection.keys("daily")
                    .upstream(depth=1) - AssetSelection.keys("warehouse/totals")) == [
        "raw", "events", "daily"]
    assert selected(AssetSelection.keys(raw).downstream()
                    & AssetSelection.groups("warehouse", "ingest")) == [
        "raw", "warehouse/orders", "warehouse/totals"]


def test_an_unknown_key_or_group_is_named_with_close_matches_at_load() -> None:
    with pytest.raises(DefinitionError,
                       match=r"asset job 'j': selection names unknown asset 'warehouse/order'"
                             r"; did you mean 'warehouse/orders'"):
        Definitions(assets=ASSETS, jobs=[define_asset_job("j", "warehouse/order")])
    with pytest.raises(DefinitionError, match=r"unknown asset group 'report'.*'reports'"):
        Definitions(assets=ASSETS, jobs=[define_asset_job("j", AssetSelection.groups("report"))])


def test_schedules_and_sensors_take_selections() -> None:
    @schedule(cron="0 6 * * *", assets=AssetSelection.groups("warehouse").upstream())
    def morning() -> None: ...

    @sensor(assets="raw")
    def on_file() -> None: ...

    defs = Definitions(assets=ASSETS, schedules=[morning], sensors=[on_file])
    assert [n.asset_key for n in defs.get_job("morning_assets").nodes] == [
        "raw", "warehouse/orders", "warehouse/totals"]
    assert [n.asset_key for n in defs.get_job("on_file_assets").nodes] == ["raw"]


def test_a_schedules_job_is_added_to_the_definitions_unless_listed() -> None:
    nightly = define_asset_job("nightly", AssetSelection.groups("ingest"))

    @schedule(cron="0 0 * * *", job=nightly)
    def midnight() -> None: ...

    # as in Dagster's quickstart: the schedule brings its job
    assert [n.asset_key for n in Definitions(assets=ASSETS, schedules=[midnight])
            .get_job("nightly").nodes] == ["raw", "events"]
    # listed as well, it is still one job
    assert list(Definitions(assets=ASSETS, jobs=[nightly], schedules=[midnight]).jobs) == [
        "nightly"]
    with pytest.raises(DefinitionError, match="two jobs are named 'nightly'"):
        Definitions(assets=ASSETS, jobs=[define_asset_job("nightly")], schedules=[midnight])
