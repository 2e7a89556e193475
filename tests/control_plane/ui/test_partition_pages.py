"""Partitions in the web UI, against a real SQLite store: the launch form's partition picker,
the runs list's partition filter, and an asset page's partition bar and counts, which follow
the status projection as a run plans, fails and materializes partitions."""

from __future__ import annotations

import time

import pytest

from tether import DailyPartitionsDefinition, Definitions, asset, define_asset_job
from tether.control_plane.storage import PartitionState
from tether.control_plane.ui._svg import partition_bar_svg
from tether.sdk import snapshot_definitions
from tether.wire import (
    AssetMaterialization,
    AssetMaterializationPlanned,
    RunFailure,
    RunStart,
    RunSuccess,
)

from ..conftest import load_location
from .conftest import Ui, csrf_of

pytestmark = pytest.mark.anyio


def load_partitioned(ui: Ui) -> None:
    @asset(partitions_def=DailyPartitionsDefinition("2026-11-01"))
    def events() -> int:
        return 1

    defs = Definitions(assets=[events], jobs=[define_asset_job("daily", [events])])
    load_location(ui.store, "parts", defines=snapshot_definitions(defs, "parts"))


def run_events(run_id: str, partition: str, *, fail: bool) -> list[object]:
    now = time.time()
    head = [RunStart(run_id=run_id, attempt=1, seq=1, timestamp=now, job_name="daily"),
            AssetMaterializationPlanned(run_id=run_id, attempt=1, seq=2, timestamp=now,
                                        asset_key="events", partition=partition)]
    if fail:
        return [*head, RunFailure(run_id=run_id, attempt=1, seq=3, timestamp=now,
                                  message="boom")]
    return [*head, AssetMaterialization(run_id=run_id, attempt=1, seq=3, timestamp=now,
                                        asset_key="events", partition=partition),
            RunSuccess(run_id=run_id, attempt=1, seq=4, timestamp=now)]


async def test_the_launch_form_picks_a_partition_and_the_runs_list_filters_by_it(
        ui: Ui) -> None:
    load_partitioned(ui)
    browser = await ui.signed_in(role="launcher", name="ada")
    page = (await browser.get("/jobs/parts/daily")).text
    assert '<select id="partition" name="partition" required>' in page
    # newest first
    assert page.index('<option value="2026-11-02">') > page.index('<option value="2026-11-03">')
    response = await browser.post("/jobs/parts/daily/launch", data={
        "csrf": csrf_of(page), "config": "{}", "tags": "", "partition": "2026-11-02"})
    assert response.status_code == 303
    run = ui.store.get_run(response.headers["location"].removeprefix("/runs/"))
    assert run is not None and run.partition == "2026-11-02"

    refused = await browser.post("/jobs/parts/daily/launch", data={
        "csrf": csrf_of(page), "config": "{}", "tags": "", "partition": "1999-01-01"})
    assert refused.status_code == 400
    assert "job &#39;daily&#39; has no partition &#39;1999-01-01&#39;" in refused.text

    other = ui.store.launch_run("daily", partition="2026-11-03")
    listed = (await browser.get("/runs?partition=2026-11-02")).text
    assert run.run_id[:8] in listed and other[:8] not in listed
    assert '<span class="partition mono" title="partition">2026-11-02</span>' in listed


async def test_the_asset_page_shows_each_partitions_status(ui: Ui) -> None:
    load_partitioned(ui)
    good = ui.store.launch_run("daily", partition="2026-11-01")
    bad = ui.store.launch_run("daily", partition="2026-11-02")
    ui.store.store_events(run_events(good, "2026-11-01", fail=False))  # type: ignore[arg-type]
    ui.store.store_events(run_events(bad, "2026-11-02", fail=True)[:2])  # type: ignore[arg-type]
    browser = await ui.signed_in()
    page = (await browser.get("/assets/parts/events")).text
    assert "1 materialized</span>" in page and "1 in progress</span>" in page
    ui.store.store_events(run_events(bad, "2026-11-02", fail=True)[2:])  # type: ignore[arg-type]
    page = (await browser.get("/assets/parts/events")).text
    assert "1 failed</span>" in page and "0 in progress</span>" in page
    bar = page[page.index('<svg xmlns="http://www.w3.org/2000/svg" class="partition-bar"'):]
    bar = bar[:bar.index("</svg>")]
    assert '<title>2026-11-01: materialized</title>' in bar
    assert '<title>2026-11-02: failed</title>' in bar
    assert '<a class="mono" href="/runs?partition=2026-11-02">2026-11-02</a>' in page

    # a re-run that succeeds turns it materialized
    rerun = ui.store.launch_run("daily", partition="2026-11-02")
    ui.store.store_events(run_events(rerun, "2026-11-02", fail=False))  # type: ignore[arg-type]
    definition = DailyPartitionsDefinition("2026-11-01").snapshot
    status = ui.store.asset_partition_status("events", definition)
    assert status.states == {"2026-11-01": PartitionState.MATERIALIZED,
                             "2026-11-02": PartitionState.MATERIALIZED}
    assert status.counts[PartitionState.MISSING] == len(status.keys) - 2
    assert ui.store.rebuild_partition_status() == 2
    assert ui.store.asset_partition_status("events", definition).states == status.states


def test_the_bar_of_100_000_partitions_keeps_every_failure_visible() -> None:
    keys = [f"k{n:06d}" for n in range(100_000)]
    positions = {"MATERIALIZED": [n for n in range(60_000) if n != 12_345],
                 "FAILED": [12_345], "IN_PROGRESS": [70_000]}
    svg = str(partition_bar_svg(keys, positions, width=960))
    # one rectangle per stretch: materialized, the failed column, materialized, missing, the
    # in-progress column, missing
    assert [part.split('"')[0] for part in svg.split('data-state="')[1:]] == [
        "MATERIALIZED", "FAILED", "MATERIALIZED", "MISSING", "IN_PROGRESS", "MISSING"]
    # the failed key's pixel column stands for the 104 keys around it, and names them
    assert "<title>k012292 to k012395: failed</title>" in svg
