"""An asset job whose assets have multi-part keys and groups, with a multi-asset and an
external asset upstream, selected with AssetSelection, launched through the whole path with
real processes (agent, code server, run worker)."""

from __future__ import annotations

from pathlib import Path

from tether.control_plane.storage import Store

from .deployment import deployed, ended, one_location, run_to_end, wait_loaded, worker_events

DEFS = '''
from tether import (AssetKey, AssetSelection, AssetSpec, Definitions, asset, define_asset_job,
                    multi_asset)

@asset(group_name="ingest", deps=["s3/landing"])
def raw() -> list[int]:
    print("raw computed")
    return [1, 2, 3]

@asset(group_name="ingest")
def events() -> list[int]:
    print("events computed")
    return [9]

@asset(key=AssetKey(["warehouse", "orders"]), group_name="warehouse")
def orders(raw: list[int]) -> list[int]:
    return [n * 10 for n in raw]

@asset(key_prefix="warehouse", group_name="warehouse", ins={"rows": "warehouse/orders"})
def totals(rows: list[int]) -> int:
    print(f"total is {sum(rows)}")
    return sum(rows)

@multi_asset(specs=[AssetSpec("warehouse/low"), AssetSpec("warehouse/high")],
             group_name="warehouse")
def bounds(raw: list[int]) -> tuple[int, int]:
    print("bounds computed once")
    return min(raw), max(raw)

defs = Definitions(
    assets=[AssetSpec("s3/landing"), raw, events, orders, totals, bounds],
    jobs=[define_asset_job("warehouse_job", AssetSelection.groups("warehouse").upstream())],
)
'''


def test_an_asset_job_selected_by_groups_materializes_its_keys(tmp_path: Path,
                                                                broker_url: str) -> None:
    workspace = one_location(tmp_path, "warehouse", DEFS, python_file="asset_defs.py")
    database_url = f"sqlite:///{tmp_path / 'tether.db'}"
    with deployed(database_url=database_url, redis_url=broker_url, workspace=workspace,
                  data_dir=tmp_path) as deployment:
        wait_loaded(deployment)
        run = run_to_end(deployment, "warehouse_job")
        assert run["status"] == "SUCCESS", deployment.output()
        steps = [e["stepKey"] for e in worker_events(run) if e["type"] == "STEP_SUCCESS"]
        # upstream of the warehouse group, and not the ingest asset nothing there reads; the
        # external asset upstream of raw has no step; the multi-asset runs once, then one
        # step per asset hands its value on
        assert steps[0] == "raw" and set(steps) == {
            "raw", "warehouse__orders", "warehouse__totals", "bounds", "warehouse__low",
            "warehouse__high"}
        stdout = "".join(c["data"] for c in run["logs"] if c["stream"] == "stdout")
        assert "total is 60" in stdout and "events computed" not in stdout
        assert stdout.count("bounds computed once") == 1
        store = Store.from_url(database_url)
        try:
            latest = store.latest_materializations(
                ["s3/landing", "raw", "warehouse/orders", "warehouse/totals", "events",
                 "warehouse/low", "warehouse/high"])
        finally:
            store.close()
        assert {key: m.run_id for key, m in latest.items()} == {
            key: run["id"] for key in ("raw", "warehouse/orders", "warehouse/totals",
                                       "warehouse/low", "warehouse/high")}
        # the statuses the lineage is coloured by; the external asset is in the catalog as
        # such, and no job has a step for it
        status = {a["key"]: (a["status"], a["external"]) for a in deployment.graphql(
            "{ assets { key status external } }")["assets"]}
        assert status == {"s3/landing": ("EXTERNAL", True), "events": ("NEVER", False),
                          **{key: ("MATERIALIZED", False) for key in (
                              "raw", "warehouse/orders", "warehouse/totals", "warehouse/low",
                              "warehouse/high")}}
        nodes = deployment.graphql("{ jobs { nodes { asset } } }")["jobs"]
        assert "s3/landing" not in {n["asset"] for job in nodes for n in job["nodes"]}


SUBSET_DEFS = '''
from tether import AssetOut, AssetSelection, Definitions, OpContext, asset, define_asset_job
from tether import multi_asset

@multi_asset(outs={"a": AssetOut(key_prefix="stats"), "b": AssetOut(key_prefix="stats"),
                   "c": AssetOut(key_prefix="stats")}, can_subset=True)
def stats(context: OpContext) -> dict[str, int]:
    picked = sorted(context.selected_output_names)
    print("selected " + ",".join(sorted(map(str, context.selected_asset_keys))) + " as "
          + ",".join(picked))
    return {name: len(name) * 10 for name in picked}

@asset(ins={"c": "stats/c"})
def report(c: int) -> str:
    print(f"report of {c}")
    return f"c={c}"

defs = Definitions(assets=[stats, report], jobs=[
    define_asset_job("everything"),
    define_asset_job("a_and_c", AssetSelection.keys("stats/a", "stats/c", "report"))])
'''

def test_a_subset_of_a_multi_asset_produces_and_stores_only_the_selected_assets(
        tmp_path: Path, broker_url: str) -> None:
    workspace = one_location(tmp_path, "shop", SUBSET_DEFS, python_file="subset_defs.py")
    database_url = f"sqlite:///{tmp_path / 'tether.db'}"
    stored = tmp_path / "storage" / "shop" / "assets" / "stats"
    with deployed(database_url=database_url, redis_url=broker_url, workspace=workspace,
                  data_dir=tmp_path) as deployment:
        wait_loaded(deployment)
        # a job that selects two of the three
        run = run_to_end(deployment, "a_and_c")
        assert run["status"] == "SUCCESS", deployment.output()
        stdout = "".join(c["data"] for c in run["logs"] if c["stream"] == "stdout")
        assert "selected stats/a,stats/c as a,c" in stdout and "report of 10" in stdout
        materialized = {e["stepKey"] for e in worker_events(run)
                        if e["type"] == "ASSET_MATERIALIZATION"}
        assert materialized == {"stats__a", "stats__c", "report"}
        assert sorted(p.name for p in stored.iterdir()) == ["a.pickle", "c.pickle"]
        # a run's own selection, through materializeAssets: the step selection of the
        # smallest job with them, and the body sees only b
        launched = deployment.graphql(
            'mutation { materializeAssets(location: "shop", assetKeys: ["stats/b"]) '
            "{ id jobName stepSelection } }")["materializeAssets"]
        assert (launched["jobName"], launched["stepSelection"]) == (
            "everything", ["stats", "stats__b"])
        run = ended(deployment, launched["id"])
        assert run["status"] == "SUCCESS", deployment.output()
        stdout = "".join(c["data"] for c in run["logs"] if c["stream"] == "stdout")
        assert "selected stats/b as b" in stdout and "report of" not in stdout
        assert sorted(p.name for p in stored.iterdir()) == ["a.pickle", "b.pickle", "c.pickle"]
        store = Store.from_url(database_url)
        try:
            latest = store.latest_materializations(["stats/a", "stats/b", "stats/c"])
        finally:
            store.close()
        assert latest["stats/b"].run_id == launched["id"] != latest["stats/a"].run_id
