"""The run page's server side: failure first, the run's phases on the timeline, the log
searched by text on the server and paged, compute output in the same view, and the launch
form's check as you type."""

from __future__ import annotations

import html
import re

import pytest

from tether.sdk import load_definitions, snapshot_definitions
from tether.wire import (
    ErrorInfo,
    LocationSpec,
    LogChunk,
    LogMessage,
    RunEvent,
    RunFailure,
    RunStart,
    StepFailure,
    StepStart,
    StepSuccess,
)

from ...conftest import EXAMPLE_WORKSPACE
from ..conftest import load_location
from .conftest import Ui, csrf_of

pytestmark = pytest.mark.anyio

TRACEBACK = ('Traceback (most recent call last):\n  File "defs.py", line 9, in load\n'
             "ValueError: bad row 7")


def _failed_run(ui: Ui) -> str:
    run_id = ui.store.launch_run("hello_job")
    # claimed, so the run has a STARTING phase
    assert len(ui.store.claim_work("agent", ["default"], 1, 60)) == 1
    t = ui.store.get_run(run_id).created_at  # type: ignore[union-attr]
    events: list[RunEvent] = [
        RunStart(run_id=run_id, attempt=1, seq=1, timestamp=t + 1, job_name="hello_job"),
        StepStart(run_id=run_id, attempt=1, seq=2, timestamp=t + 2, step_key="extract"),
        StepSuccess(run_id=run_id, attempt=1, seq=3, timestamp=t + 4, step_key="extract",
                    duration=2.0),
        StepStart(run_id=run_id, attempt=1, seq=4, timestamp=t + 4, step_key="load"),
        LogMessage(run_id=run_id, attempt=1, seq=5, timestamp=t + 4.5, step_key="load",
                   level="INFO", message="Loading 100% of the rows_now"),
        LogMessage(run_id=run_id, attempt=1, seq=8, timestamp=t + 4.6, step_key="load",
                   level="INFO", message="<script>alert(1)</script> in a row"),
        StepFailure(run_id=run_id, attempt=1, seq=6, timestamp=t + 5, step_key="load",
                    duration=1.0, error=ErrorInfo(class_name="ValueError", message="bad row 7",
                                                  stack=TRACEBACK)),
        RunFailure(run_id=run_id, attempt=1, seq=7, timestamp=t + 5,
                   message="Step load failed"),
    ]
    ui.store.store_events(events)
    ui.store.store_logs([LogChunk(run_id=run_id, attempt=1, stream="stdout", seq=1,
                                  step_key="load", data="reading rows\nrow 7 is bad\n")])
    return run_id


async def test_a_failed_run_opens_with_its_failing_step_and_traceback(ui: Ui) -> None:
    run_id = _failed_run(ui)
    browser = await ui.signed_in()
    page = html.unescape((await browser.get(f"/runs/{run_id}")).text)
    failure = page.index('class="failure"')
    # above the buttons, the summary and the timeline: nobody scrolls to learn why
    assert failure < page.index('id="run-actions"') < page.index('id="steps-h"')
    assert "Failed in step" in page and TRACEBACK in page[failure:page.index('id="run-actions"')]
    assert 'data-phase="QUEUED"' in page and 'data-phase="STARTING"' in page
    assert 'data-phase="STARTED"' in page
    # the first error is one click away, and lands on its row
    jump = re.search(r'id="first-error" href="([^"]+)"', page)
    assert jump is not None
    target = jump.group(1)
    landed = (await browser.get(target.split("#")[0])).text
    first_row = re.search(r'<tr id="e(\d+)"', landed)
    assert first_row is not None and target.endswith(f"#e{first_row.group(1)}")
    assert "STEP_FAILURE" in landed.split(f'id="e{first_row.group(1)}"')[1][:600]
    # the step's compute output is in the same view
    assert "row 7 is bad" in page


async def test_the_log_is_searched_on_the_server_with_wildcards_taken_literally(ui: Ui) -> None:
    run_id = _failed_run(ui)
    browser = await ui.signed_in()
    found = (await browser.get(f"/runs/{run_id}/events", params={"q": "100% OF"})).json()
    assert found["count"] == 1 and "Loading <mark>100% of</mark> the rows_now" in found["rows"]
    # % and _ are not wildcards: "1%0" and "rows_" match nothing else
    assert (await browser.get(f"/runs/{run_id}/events", params={"q": "1%0"})).json()[
        "count"] == 0
    assert (await browser.get(f"/runs/{run_id}/events", params={"q": "rowsXnow"})).json()[
        "count"] == 0
    page = (await browser.get(f"/runs/{run_id}", params={"q": "row", "step": "load"})).text
    assert "Loading 100%" in page and "RUN_START" not in page
    # the compute output is filtered by the same text
    assert "row 7 is bad" in page and "reading rows" in page
    page = (await browser.get(f"/runs/{run_id}", params={"q": "bad"})).text
    assert "row 7 is bad" in page and "reading rows" not in page
    # a match is marked, and what is around it stays escaped
    marked = (await browser.get(f"/runs/{run_id}/events", params={"q": "SCRIPT"})).json()
    assert "&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt; in a row" in \
        marked["rows"] and "<script>" not in marked["rows"]
    long = await browser.get(f"/runs/{run_id}/events", params={"q": "x" * 201})
    assert long.status_code == 400 and "at most 200" in long.text


async def test_the_log_pages_through_matches_by_cursor(ui: Ui) -> None:
    run_id = ui.store.launch_run("hello_job")
    t = ui.store.get_run(run_id).created_at  # type: ignore[union-attr]
    ui.store.store_events([
        LogMessage(run_id=run_id, attempt=1, seq=i, timestamp=t + i, step_key="extract",
                   level="INFO", message=f"{'needle' if i % 2 else 'hay'} {i}")
        for i in range(1, 1202)])
    browser = await ui.signed_in()
    seen: list[str] = []
    query = {"q": "NEEDLE"}
    while True:
        page = (await browser.get(f"/runs/{run_id}/events", params=query)).json()
        seen += re.findall(r"needle \d+", re.sub(r"</?mark>", "", page["rows"]))
        if not page["more"]:
            break
        query = {"q": "NEEDLE", "after": page["cursor"]}
    assert seen == [f"needle {i}" for i in range(1, 1202, 2)]


async def test_the_launch_form_checks_the_config_with_the_launchs_own_words(ui: Ui) -> None:
    example = load_definitions(LocationSpec(name="example", module="hello.defs",
                                            working_directory=str(EXAMPLE_WORKSPACE.parent)))
    load_location(ui.store, "example", defines=snapshot_definitions(example, "example"))
    browser = await ui.signed_in(role="launcher")
    page = (await browser.get("/jobs/example/export_job")).text
    scaffold = re.search(r'data-scaffold="([^"]*)"', page)
    assert scaffold is not None
    assert html.unescape(scaffold.group(1)) == \
        '{"ops":{"export":{"config":{"table":null,"limit":100}}}}'
    check = "/jobs/example/export_job/check"
    csrf = csrf_of(page)
    bad = (await browser.post(check, data={
        "csrf": csrf, "config": '{"ops": {"export": {"config": {"limit": "ten"}}}}'})).json()
    assert bad["problems"] == ["$.ops.export.config.limit: expected int, got str",
                               "$.ops.export.config.table: missing required field"]
    refused = await browser.post("/jobs/example/export_job/launch", data={
        "csrf": csrf, "config": '{"ops": {"export": {"config": {"limit": "ten"}}}}', "tags": ""})
    for problem in bad["problems"]:
        assert problem in html.unescape(refused.text)
    syntax = (await browser.post(check, data={"csrf": csrf, "config": "{ops"})).json()
    assert syntax["problems"][0].startswith("the run config is not a JSON object")
    good = (await browser.post(check, data={
        "csrf": csrf, "config": '{"ops": {"export": {"config": {"table": "t"}}}}'})).json()
    assert good["problems"] == []
    # a check without the form's CSRF token is refused like any other form
    forged = await browser.post(check, data={"config": "{}"})
    assert forged.status_code == 403


async def test_a_long_output_shows_its_end_on_the_run_page_and_all_of_it_on_its_own(
        ui: Ui) -> None:
    run_id = ui.store.launch_run("hello_job")
    ui.store.store_logs([LogChunk(run_id=run_id, attempt=1, stream="stdout", seq=i,
                                  step_key="load", data=f"chunk-{i:05d}\n")
                         for i in range(1, 1201)])
    browser = await ui.signed_in()
    page = (await browser.get(f"/runs/{run_id}")).text
    assert "chunk-01200" in page and "chunk-00201" in page and "chunk-00200" not in page
    assert "the page linked above has all of it" in page
    full = (await browser.get(f"/runs/{run_id}/logs", params={"stream": "stdout"})).text
    assert "chunk-00001" in full and "chunk-01200" in full
