"""Backfills in the web UI, against a real SQLite store: launched from a partitioned job's
page, the backfill's page shows its progress, counts, failed partitions and runs; Cancel and
Re-run failed go through the API (CSRF checked, viewers refused)."""

from __future__ import annotations

import time

import pytest

from tether import DailyPartitionsDefinition, Definitions, asset, define_asset_job
from tether.control_plane.storage import BACKFILL_TAG
from tether.sdk import snapshot_definitions
from tether.wire import RunFailure, RunStart, RunSuccess

from ..conftest import load_location
from .conftest import Ui, csrf_of

pytestmark = pytest.mark.anyio


def load_partitioned(ui: Ui) -> None:
    @asset(partitions_def=DailyPartitionsDefinition("2026-11-01"))
    def events() -> int:
        return 1

    defs = Definitions(assets=[events], jobs=[define_asset_job("daily", [events])])
    load_location(ui.store, "parts", defines=snapshot_definitions(defs, "parts"))


def end_runs(ui: Ui, backfill_id: str, failing: set[str]) -> None:
    now = time.time()
    for run in ui.store.list_runs(100, tag=(BACKFILL_TAG, backfill_id)):
        ending = (RunFailure(run_id=run.run_id, attempt=1, seq=2, timestamp=now,
                             message="boom") if run.partition in failing
                  else RunSuccess(run_id=run.run_id, attempt=1, seq=2, timestamp=now))
        ui.store.store_events([RunStart(run_id=run.run_id, attempt=1, seq=1, timestamp=now,
                                        job_name="daily"), ending])


async def test_a_backfill_from_the_job_page_to_its_re_run(ui: Ui) -> None:
    load_partitioned(ui)
    browser = await ui.signed_in(role="launcher", name="ada")
    page = (await browser.get("/jobs/parts/daily")).text
    assert 'id="backfill-form"' in page and 'name="from" value="2026-11-01"' in page
    response = await browser.post("/backfills", data={
        "csrf": csrf_of(page), "location": "parts", "job": "daily", "from": "2026-11-01",
        "to": "2026-11-04", "partitions": ""})
    assert response.status_code == 303
    backfill_id = response.headers["location"].removeprefix("/backfills/")
    shown = (await browser.get(f"/backfills/{backfill_id}")).text
    assert "4 not created" in shown and "No runs created yet" in shown
    assert "Cancel backfill" in shown

    ui.store.create_backfill_runs()
    end_runs(ui, backfill_id, failing={"2026-11-03"})
    ui.store.settle_backfills()
    shown = (await browser.get(f"/backfills/{backfill_id}")).text
    assert 'data-status="FAILED"' in shown
    assert "100% done" in shown and "3 success" in shown and "1 failure" in shown
    assert '<a class="mono" href="/runs?partition=2026-11-03">2026-11-03</a>' in shown
    assert shown.count('<td class="mono">2026-11-0') == 4
    assert 'width="750.00" height="14"><title>SUCCESS: 3</title>' in shown
    listed = (await browser.get("/backfills")).text
    assert f'href="/backfills/{backfill_id}"' in listed and "job daily" in listed

    rerun = await browser.post(f"/backfills/{backfill_id}/rerun",
                               data={"csrf": csrf_of(shown)})
    assert rerun.status_code == 303
    rerun_id = rerun.headers["location"].removeprefix("/backfills/")
    record = ui.store.get_backfill(rerun_id)
    assert record is not None and (record.parent_id, record.partition_list) == (
        backfill_id, ["2026-11-03"])
    # refused without the form's CSRF token
    forged = await browser.post(f"/backfills/{rerun_id}/cancel", data={"csrf": "forged"})
    assert forged.status_code == 403
    page = (await browser.get(f"/backfills/{rerun_id}")).text
    canceled = await browser.post(f"/backfills/{rerun_id}/cancel",
                                  data={"csrf": csrf_of(page)})
    assert canceled.status_code == 303
    assert ui.store.get_backfill(rerun_id).status == "CANCELED"  # type: ignore[union-attr]


async def test_bad_input_and_viewers_are_refused_with_the_api_message(ui: Ui) -> None:
    load_partitioned(ui)
    browser = await ui.signed_in(role="launcher")
    page = (await browser.get("/assets/parts/events")).text
    assert 'name="asset" value="events"' in page
    refused = await browser.post("/backfills", data={
        "csrf": csrf_of(page), "location": "parts", "asset": "events", "from": "2026-11-05",
        "to": "2026-11-02"})
    assert refused.status_code == 400
    assert "the range &#39;2026-11-05&#39; to &#39;2026-11-02&#39; is empty" in refused.text
    viewer = await ui.signed_in(role="viewer", name="vic")
    page = (await viewer.get("/jobs/parts/daily")).text
    assert 'id="backfill-form"' not in page
    forbidden = await viewer.post("/backfills", data={
        "csrf": csrf_of(page), "location": "parts", "job": "daily"})
    assert forbidden.status_code == 403
    assert "a viewer token cannot launch runs" in forbidden.text
    assert ui.store.list_backfills() == []
