"""``@multi_asset`` (one function, several assets) and ``AssetSpec`` (assets produced
outside Tether): definitions, selection with ``can_subset``, snapshot and lineage, and a run
in process."""

from __future__ import annotations

import pytest

from tether import (
    AssetKey,
    AssetOut,
    AssetSelection,
    AssetSpec,
    Definitions,
    OpContext,
    asset,
    define_asset_job,
    materialize,
    multi_asset,
)
from tether.errors import DefinitionError
from tether.sdk import RunEmitter, execute_job, snapshot_definitions
from tether.wire import AssetMaterialization

# a table another system loads: Tether shows it, never materializes it
landing = AssetSpec(["s3", "landing"], group_name="external", owners=["team:platform"])


@asset(deps=[AssetKey(["s3", "landing"])])
def raw() -> list[int]:
    return [1, 2, 3, 4]


@multi_asset(outs={"evens": AssetOut(key_prefix="stats", group_name="stats"),
                   "odds": AssetOut(key_prefix="stats", description="odd ones")})
def split(raw: list[int]) -> tuple[list[int], list[int]]:
    return [n for n in raw if n % 2 == 0], [n for n in raw if n % 2]


@multi_asset(specs=[AssetSpec("small"), AssetSpec("large", deps=["stats/odds"])],
             can_subset=True, group_name="sizes")
def sizes(raw: list[int]) -> dict[str, int]:
    return {"small": min(raw), "large": max(raw)}


@asset
def report(evens: list[int], large: int) -> str:
    return f"{len(evens)} evens, largest {large}"


ASSETS = [landing, raw, split, sizes, report]


def test_a_multi_asset_defines_each_of_its_assets() -> None:
    # a parameter names a key; the multi-asset's outs are keyed under their prefix
    assert report.inputs == {"evens": "evens", "large": "large"}
    with pytest.raises(DefinitionError, match=r"depends on 'evens'.*did you mean 'stats/evens'"):
        Definitions(assets=ASSETS)
    fixed = asset(name="report", ins={"evens": "stats/evens"})(report.op.fn)
    defs = Definitions(assets=[landing, raw, split, sizes, fixed])
    assert list(defs.assets) == ["s3/landing", "raw", "stats/evens", "stats/odds", "small",
                                 "large", "report"]
    assert defs.assets["stats/odds"].group_name == "default"
    assert defs.assets["stats/evens"].group_name == "stats"
    assert defs.assets["large"].deps == ("raw", "stats/odds")
    assert split([1, 2]) == ([2], [1])


def defs_with(*jobs: object) -> Definitions:
    fixed = asset(name="report", ins={"evens": "stats/evens"})(report.op.fn)
    return Definitions(assets=[landing, raw, split, sizes, fixed], jobs=list(jobs))  # type: ignore[arg-type]


def test_a_job_runs_a_multi_asset_once_and_materializes_each_selected_asset() -> None:
    defs = defs_with(define_asset_job("all"))
    job = defs.get_job("all")
    # the external asset has no step; each multi-asset is one step, then one per asset
    assert [(n.name, n.asset_key) for n in job.nodes] == [
        ("raw", "raw"), ("split", None), ("stats__evens", "stats/evens"),
        ("stats__odds", "stats/odds"), ("sizes", None), ("small", "small"), ("large", "large"),
        ("report", "report")]
    assert dict(job.node("report").inputs) == {"evens": "stats__evens", "large": "large"}
    events: list[object] = []
    assert execute_job(defs, "all", emitter=RunEmitter(run_id="r", attempt=1,
                                                        sink=events.append))
    materialized = [e.asset_key for e in events if isinstance(e, AssetMaterialization)]
    assert materialized == ["raw", "stats/evens", "stats/odds", "small", "large", "report"]


def test_can_subset_decides_whether_a_selection_may_take_part_of_a_multi_asset() -> None:
    defs = defs_with(define_asset_job("small_only", AssetSelection.keys("small").upstream()))
    assert [n.name for n in defs.get_job("small_only").nodes] == ["raw", "sizes", "small"]
    # a multi-asset in a selection stands for all of its assets
    whole = defs_with(define_asset_job("split_job", [raw, split]))
    assert [n.name for n in whole.get_job("split_job").nodes] == [
        "raw", "split", "stats__evens", "stats__odds"]
    with pytest.raises(DefinitionError,
                       match=r"multi-asset 'split' materializes 'stats/evens', 'stats/odds' "
                             r"together \(can_subset=False\); the selection leaves out "
                             r"'stats/odds'"):
        defs_with(define_asset_job("evens", AssetSelection.keys("stats/evens").upstream()))


def test_external_assets_are_in_the_snapshot_and_lineage_but_no_job() -> None:
    defs = defs_with(define_asset_job("everything", AssetSelection.all()))
    snapshot = snapshot_definitions(defs, "loc")
    by_key = {a.key: a for a in snapshot.assets}
    assert by_key["s3/landing"].external and by_key["s3/landing"].owners == ["team:platform"]
    assert by_key["raw"].deps == ["s3/landing"] and not by_key["raw"].external
    assert by_key["stats/odds"].computed_by == "split" and by_key["raw"].computed_by is None
    job = snapshot.job("everything")
    assert job is not None and "s3/landing" not in {n.asset_key for n in job.nodes}
    with pytest.raises(DefinitionError, match=r"asset job 'j': the selection has only assets "
                                              r"produced outside Tether \('s3/landing'\)"):
        Definitions(assets=[landing], jobs=[define_asset_job("j", "s3/landing")])
    with pytest.raises(DefinitionError, match="takes the value of 's3/landing', produced "
                                              "outside Tether"):
        Definitions(assets=[landing, asset(name="copy", ins={"t": "s3/landing"})(
            lambda t: t)], jobs=[define_asset_job("j")])


def test_multi_assets_are_declared_with_outs_or_specs() -> None:
    with pytest.raises(DefinitionError, match="give outs= or specs="):
        multi_asset()(lambda: None)
    with pytest.raises(DefinitionError, match="two of its assets have the same key"):
        multi_asset(specs=[AssetSpec("a"), AssetSpec("a")])(lambda: None)


def test_a_subset_body_learns_its_selection_and_only_the_selected_values_go_on() -> None:
    seen: list[tuple[set[str], set[str]]] = []

    @multi_asset(outs={"a": AssetOut(), "b": AssetOut(), "c": AssetOut()}, can_subset=True)
    def abc(context: OpContext) -> dict[str, int]:
        seen.append(({str(k) for k in context.selected_asset_keys},
                     set(context.selected_output_names)))
        # computes only what was asked for, keyed by out name
        return {name: ord(name) for name in context.selected_output_names}

    result = materialize([abc], selection=AssetSelection.keys("a", "c"))
    assert seen == [({"a", "c"}, {"a", "c"})]
    assert (result.asset_value("a"), result.asset_value("c")) == (97, 99)
    assert [e.asset_key for e in result.events if isinstance(e, AssetMaterialization)] == [
        "a", "c"]
    # what the multi-asset's step handed on holds the selected values only
    assert result.output_for_node("abc") == {"a": 97, "c": 99}

    @multi_asset(specs=[AssetSpec("x"), AssetSpec("y")], can_subset=True)
    def xy() -> tuple[int, int]:
        return 1, 2

    # a tuple of every value: the selected one is taken out, the other dropped
    assert materialize([xy], selection="y").output_for_node("xy") == {"y": 2}

    @multi_asset(outs={"p": AssetOut(), "q": AssetOut()}, can_subset=True)
    def forgetful() -> dict[str, int]:
        return {"q": 1}

    failed = materialize([forgetful], selection="p", raise_on_error=False)
    assert not failed.success
    assert "multi-asset 'forgetful' returned no value for its selected 'p' (it returned " \
        "'q')" in str(failed.events)
