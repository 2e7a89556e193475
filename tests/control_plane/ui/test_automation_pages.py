"""The Schedules & sensors page: each one's state and next tick, a start/stop toggle that only
launchers and admins get, and the tick history with runs, skip reasons and tracebacks."""

from __future__ import annotations

import time

from tether.control_plane.storage import Store
from tether.wire import (
    ErrorInfo,
    EvaluateTick,
    JobSnapshot,
    LoadLocation,
    LocationLoaded,
    LocationSnapshot,
    LocationSpec,
    RequestedRun,
    ScheduleSnapshot,
    SensorSnapshot,
    TickEvaluated,
    TickOutcome,
)

from .conftest import Ui, csrf_of

SNAPSHOT = LocationSnapshot(
    location="auto", jobs=[JobSnapshot(name="nightly_job")],
    schedules=[ScheduleSnapshot(name="nightly", job_name="nightly_job", cron="0 2 * * *",
                                timezone="Europe/Paris")],
    sensors=[SensorSnapshot(name="new_files", job_name="nightly_job",
                            minimum_interval_seconds=30)])


def _load_auto(store: Store) -> None:
    store.deploy_location(LocationSpec(name="auto", module="auto.defs"))
    [load] = [item for item in store.claim_work("agent", ["default"], 10, 60)
              if isinstance(item.payload, LoadLocation)]
    assert isinstance(load.payload, LoadLocation)
    store.store_results([LocationLoaded(work_id=load.work_id, epoch=load.epoch,
                                        location="auto", snapshot=SNAPSHOT,
                                        generation=load.payload.generation)])


async def test_schedules_and_sensors_are_shown_toggled_and_their_ticks_listed(ui: Ui) -> None:
    _load_auto(ui.store)
    browser = await ui.signed_in()
    page = await browser.get("/automation")
    assert page.status_code == 200
    assert 'data-automation="nightly"' in page.text and 'data-automation="new_files"' in page.text
    assert "0 2 * * * (Europe/Paris)" in page.text and page.text.count("STOPPED") >= 2
    assert "No tick yet." in page.text

    started = await browser.post("/automation/sensor/auto/new_files",
                                 data={"csrf": csrf_of(page.text), "running": "true"})
    assert started.status_code == 303
    page = await browser.get("/automation")
    assert "Stop new_files" in page.text and "Start nightly" in page.text

    # a tick, 31 s later, whose user code raised: seen with its traceback
    later = Store.from_url(str(ui.store.engine.url), clock=lambda: time.time() + 31)
    try:
        [tick_id] = later.start_due_ticks()
        [item] = [item for item in later.claim_work("agent", ["default"], 10, 60)
                  if isinstance(item.payload, EvaluateTick)]
        later.store_results([TickEvaluated(
            work_id=item.work_id, epoch=item.epoch, tick_id=tick_id,
            outcome=TickOutcome(error=ErrorInfo(
                class_name="OSError", message="inbox unreachable",
                stack="Traceback ...\nOSError: inbox unreachable\n")))])
    finally:
        later.close()
    page = await browser.get("/automation")
    assert f'data-tick="{tick_id}"' in page.text
    assert "OSError: inbox unreachable" in page.text and 'data-status="FAILURE"' in page.text

    stopped = await browser.post("/automation/sensor/auto/new_files",
                                 data={"csrf": csrf_of(page.text), "running": "false"})
    assert stopped.status_code == 303
    assert "Start new_files" in (await browser.get("/automation")).text


async def test_a_viewer_sees_no_toggle_and_cannot_post_one(ui: Ui) -> None:
    _load_auto(ui.store)
    browser = await ui.signed_in(role="viewer", name="vic")
    page = await browser.get("/automation")
    assert page.status_code == 200 and "Start nightly" not in page.text
    refused = await browser.post("/automation/schedule/auto/nightly",
                                 data={"csrf": csrf_of(page.text), "running": "true"})
    assert refused.status_code == 403
    assert "viewer token cannot start or stop a schedule" in refused.text
    assert not next(a for a in ui.store.list_automations() if a.name == "nightly").running


async def test_a_tick_whose_run_key_had_a_run_says_so_and_links_that_run(ui: Ui) -> None:
    _load_auto(ui.store)
    ui.store.set_automation_running("sensor", "new_files", running=True)
    for seconds in (31, 62):
        later = Store.from_url(str(ui.store.engine.url), clock=lambda s=seconds: time.time() + s)
        try:
            [tick_id] = later.start_due_ticks()
            [item] = [item for item in later.claim_work("agent", ["default"], 10, 60)
                      if isinstance(item.payload, EvaluateTick)]
            later.store_results([TickEvaluated(
                work_id=item.work_id, epoch=item.epoch, tick_id=tick_id,
                outcome=TickOutcome(run_requests=[
                    RequestedRun(job_name="nightly_job", run_key="inbox/a.csv")]))])
        finally:
            later.close()
    [run] = ui.store.list_runs()
    browser = await ui.signed_in(role="viewer")
    page = (await browser.get("/automation")).text
    link = f'<a class="mono" href="/runs/{run.run_id}">{run.run_id[:8]}</a>'
    assert page.count(f"Created {link}") == 1
    assert page.count(f"Run key <code>inbox/a.csv</code> has run {link} already: not created "
                      "again") == 1
    assert 'data-status="SKIPPED"' in page
