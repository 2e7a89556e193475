"""Assets: parameters name upstream assets, ``deps`` adds value-less upstream, asset jobs
run them in dependency order."""

from __future__ import annotations

import pytest

from tether import Definitions, asset, define_asset_job
from tether.errors import DefinitionError
from tether.sdk import snapshot_definitions


@asset
def raw() -> list[int]:
    return [1, 2, 3]


@asset(description="cleaned")
def clean(raw: list[int]) -> list[int]:
    return [n for n in raw if n > 1]


@asset(name="audit_log", deps=["clean", raw])
def audit() -> None:
    return None


@asset
def summary(clean: list[int]) -> int:
    return sum(clean)


def test_asset_deps_are_parameters_plus_declared_deps() -> None:
    assert clean.deps == ("raw",)
    assert audit.key == "audit_log"
    assert audit.deps == ("clean", "raw")
    assert audit.value_deps == ()
    assert clean([1, 5]) == [5]


def test_asset_job_runs_in_dependency_order_whatever_the_listing_order() -> None:
    defs = Definitions(
        assets=[summary, audit, clean, raw],
        jobs=[define_asset_job("all_assets"), define_asset_job("part", selection=["raw", clean])],
    )
    nodes = defs.get_job("all_assets").nodes
    order = [node.name for node in nodes]
    assert order.index("raw") < order.index("clean") < order.index("summary")
    assert order.index("clean") < order.index("audit_log")
    audit_node = defs.get_job("all_assets").node("audit_log")
    assert dict(audit_node.inputs) == {}
    assert set(audit_node.after) == {"clean", "raw"}
    assert [node.name for node in defs.get_job("part").nodes] == ["raw", "clean"]
    assert all(node.asset_key == node.name for node in nodes)


def test_snapshot_lists_assets_and_asset_job_nodes() -> None:
    defs = Definitions(assets=[raw, clean, audit], jobs=[define_asset_job("refresh")])
    snapshot = snapshot_definitions(defs, "loc")
    assert {a.key: a.deps for a in snapshot.assets} == {
        "raw": [],
        "clean": ["raw"],
        "audit_log": ["clean", "raw"],
    }
    job = snapshot.job("refresh")
    assert job is not None
    audit_node = next(node for node in job.nodes if node.name == "audit_log")
    assert {(i.name, i.from_node) for i in audit_node.inputs} == {
        ("clean", "clean"),
        ("raw", "raw"),
    }
    assert audit_node.asset_key == "audit_log"


def test_missing_asset_dependency_is_named() -> None:
    with pytest.raises(DefinitionError, match="asset 'clean' depends on 'raw'"):
        Definitions(assets=[clean])


def test_selection_must_include_upstream_values() -> None:
    with pytest.raises(DefinitionError, match=r"asset job 'partial'.*'clean'.*'raw'"):
        Definitions(assets=[raw, clean], jobs=[define_asset_job("partial", selection=["clean"])])
    with pytest.raises(DefinitionError, match=r"unknown asset.*'ghost'"):
        Definitions(assets=[raw], jobs=[define_asset_job("ghosts", selection=["ghost"])])


def test_a_string_selection_is_one_asset_key() -> None:
    # iterating "raw" once selected its letters: "unknown asset(s) 'r', 'a', 'w'"
    defs = Definitions(
        assets=[raw, clean],
        jobs=[define_asset_job("j", selection="raw"), define_asset_job("k", selection=raw)],
    )
    assert [node.asset_key for node in defs.get_job("j").nodes] == ["raw"]
    assert [node.asset_key for node in defs.get_job("k").nodes] == ["raw"]
    with pytest.raises(DefinitionError, match=r"asset job 'bad'.*asset keys.*got 3"):
        define_asset_job("bad", selection=["raw", 3])  # type: ignore[list-item]


def test_asset_cycles_and_duplicate_keys_are_rejected() -> None:
    @asset(name="a", deps=["b"])
    def a() -> None: ...

    @asset(name="b", deps=["a"])
    def b() -> None: ...

    with pytest.raises(DefinitionError, match="cycle"):
        Definitions(assets=[a, b])
    with pytest.raises(DefinitionError, match="two assets have the key 'raw'"):
        Definitions(assets=[raw, raw])
