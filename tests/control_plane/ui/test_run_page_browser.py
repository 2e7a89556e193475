"""The run page and the launch form in a real browser (Debian's chromium via Playwright),
against the control plane's app served by uvicorn on a SQLite file whose runs the tests write
as an agent would report them, so their timings are exact. Screenshots go to
docs/screenshots/."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import msgspec
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect

from tether.control_plane import create_app
from tether.control_plane.storage import Store
from tether.sdk import load_definitions, snapshot_definitions
from tether.settings import Settings
from tether.wire import (
    ErrorInfo,
    LocationSpec,
    LogChunk,
    LogMessage,
    RunEvent,
    RunFailure,
    RunStart,
    RunSuccess,
    StepFailure,
    StepStart,
    StepSuccess,
)

from ...conftest import EXAMPLE_WORKSPACE, free_port
from ...waiting import eventually
from ..conftest import load_location
from .test_browser import SCREENSHOTS, browser, sign_in

__all__ = ["browser"]  # the module's chromium, shared with the deployment's browser tests


def shoot(page: Page, name: str) -> None:
    """What the browser window shows (a page of 500 log rows is not worth a picture)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


@dataclass
class Served:
    url: str
    store: Store
    token: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("run-page")
    settings = Settings(data_dir=str(tmp))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    eventually(lambda: server.started, timeout=30, every=0.05,
               what="the control plane to start")
    store = Store.from_url(settings.resolved_database_url)
    load_location(store)
    example = load_definitions(LocationSpec(name="example", module="hello.defs",
                                            working_directory=str(EXAMPLE_WORKSPACE.parent)))
    load_location(store, "example", defines=snapshot_definitions(example, "example"))
    try:
        yield Served(url=f"http://127.0.0.1:{port}", store=store,
                     token=store.create_token("user", role="admin", name="ada"))
    finally:
        server.should_exit = True
        thread.join(15)
        store.close()


@pytest.fixture
def page(browser: Browser, served: Served) -> Iterator[Page]:
    context = browser.new_context(base_url=served.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    # a script error or a blocked script (CSP script-src 'self') is a failure of the page
    errors: list[str] = []
    page.on("console", lambda message: errors.append(f"{message.text} {message.location}")
            if message.type == "error" and "favicon" not in str(message.location) else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, served.token)
    yield page
    context.close()
    assert errors == []


def started_run(store: Store) -> tuple[str, float]:
    """A hello_job run claimed by an agent, its worker started: (run id, its creation)."""
    run_id = store.launch_run("hello_job", location="hello")
    assert store.claim_work("agent", ["default"], 10, 600)
    created = store.get_run(run_id).created_at  # type: ignore[union-attr]
    store.store_events([RunStart(run_id=run_id, attempt=1, seq=1, timestamp=created + 0.5,
                                 job_name="hello_job")])
    return run_id, created


def bar(page: Page, step: str) -> dict[str, float]:
    box = page.locator(f"svg.timeline g.step[data-step='{step}'] rect.bar").bounding_box()
    assert box is not None
    return box


def test_timeline_bars_are_proportional_hover_shows_details_and_a_click_filters_the_log(
        page: Page, served: Served) -> None:
    store = served.store
    run_id, t = started_run(store)
    t0 = t + 1
    # extract 0-2 s, then load 2-8 s; audit 1-4 s alongside both
    spans = [("extract", 0, 2), ("audit", 1, 4), ("load", 2, 8)]
    events: list[RunEvent] = []
    for key, start, end in spans:
        events += [StepStart(run_id=run_id, attempt=1, seq=0, timestamp=t0 + start, step_key=key),
                   LogMessage(run_id=run_id, attempt=1, seq=0, timestamp=t0 + start + 0.5,
                              step_key=key, level="INFO", message=f"working in {key}"),
                   StepSuccess(run_id=run_id, attempt=1, seq=0, timestamp=t0 + end,
                               step_key=key, duration=end - start)]
    events.sort(key=lambda e: e.timestamp)
    events = [msgspec.structs.replace(e, seq=i + 2) for i, e in enumerate(events)]
    store.store_events([*events, RunSuccess(run_id=run_id, attempt=1, seq=len(events) + 2,
                                            timestamp=t0 + 8.2)])
    page.goto(f"/runs/{run_id}")
    extract, audit, load = bar(page, "extract"), bar(page, "audit"), bar(page, "load")
    # widths in proportion to the durations (2 s, 3 s, 6 s), starts on the same scale
    assert load["width"] / extract["width"] == pytest.approx(3.0, rel=0.02)
    assert audit["width"] / extract["width"] == pytest.approx(1.5, rel=0.02)
    scale = extract["width"] / 2.0
    assert load["x"] - extract["x"] == pytest.approx(2 * scale, abs=1.0)
    assert audit["x"] - extract["x"] == pytest.approx(1 * scale, abs=1.0)
    # the run's phases come first on the same axis: queued from creation, then starting
    phases = page.locator("svg.timeline rect[data-phase]")
    expect(phases).to_have_count(3)
    started = phases.nth(2).bounding_box()
    assert started is not None and started["x"] + started["width"] == pytest.approx(
        extract["x"], abs=1.0)

    page.locator("svg.timeline g.step[data-step='load'] rect.bar").hover()
    tip = page.locator("#timeline-tip")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("Duration: 6.0 s")
    expect(tip).to_contain_text("Attempt: 1")
    expect(tip).to_contain_text("Started: ")
    shoot(page, "run-timeline")
    page.evaluate("window.tetherMarker = 'same page'")
    # the bar is a link a screen reader reaches too (the timeline is not a flat image)
    page.get_by_role("link", name="Show the log of load").click()
    expect(page.locator("#event-rows tr")).to_have_count(3)
    for row in page.locator("#event-rows tr td:nth-child(3)").all_inner_texts():
        assert row == "load"
    assert "step=load" in page.url and page.evaluate("window.tetherMarker") == "same page"


def test_search_finds_one_line_among_50000_events(page: Page, served: Served) -> None:
    store = served.store
    run_id, t = started_run(store)
    needle = 31_337
    lines: list[RunEvent] = [
        LogMessage(run_id=run_id, attempt=1, seq=i, timestamp=t + 1 + i * 1e-3,
                   step_key=f"step_{i % 10}", level="INFO",
                   message="checksum mismatch in part 7" if i == needle else f"row {i} done")
        for i in range(2, 50_002)]
    for start in range(0, len(lines), 5000):
        store.store_events(lines[start:start + 5000])
    page.goto(f"/runs/{run_id}")
    # with RUN_QUEUED, RUN_STARTING and RUN_START
    expect(page.locator("#event-total")).to_have_text("50003")
    page.get_by_label("Find in the log").fill("MISMATCH in part")
    rows = page.locator("#event-rows tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("checksum mismatch in part 7")
    expect(page.locator("#log-state")).to_have_text("1 matching event")
    assert "q=MISMATCH+in+part" in page.url
    shoot(page, "run-search")


def test_the_live_tail_shows_new_lines_and_output_without_a_reload(
        page: Page, served: Served) -> None:
    store = served.store
    run_id, t = started_run(store)
    store.store_events([StepStart(run_id=run_id, attempt=1, seq=2, timestamp=t + 1,
                                  step_key="extract")])
    page.goto(f"/runs/{run_id}")
    expect(page.locator("svg.timeline line.now")).to_have_count(1)
    page.evaluate("window.tetherMarker = 'same page'")
    store.store_events([LogMessage(run_id=run_id, attempt=1, seq=3, timestamp=time.time(),
                                   step_key="extract", level="INFO", message="fresh line 1")])
    store.store_logs([LogChunk(run_id=run_id, attempt=1, stream="stdout", seq=1,
                               step_key="extract", data="fresh output\n")])
    expect(page.locator("#event-rows")).to_contain_text("fresh line 1")
    expect(page.locator("#compute-log")).to_contain_text("fresh output")
    store.store_events([
        StepSuccess(run_id=run_id, attempt=1, seq=4, timestamp=time.time(), step_key="extract",
                    duration=1.0),
        RunSuccess(run_id=run_id, attempt=1, seq=5, timestamp=time.time())])
    expect(page.locator("#run-status")).to_contain_text("SUCCESS")
    expect(page.locator("svg.timeline line.now")).to_have_count(0)
    expect(page.locator("#event-rows")).to_contain_text("RUN_SUCCESS")
    assert page.evaluate("window.tetherMarker") == "same page"


def test_a_failed_run_shows_its_error_first_and_jumps_to_it(page: Page, served: Served) -> None:
    store = served.store
    run_id, t = started_run(store)
    store.store_events([
        StepStart(run_id=run_id, attempt=1, seq=2, timestamp=t + 1, step_key="extract"),
        *[LogMessage(run_id=run_id, attempt=1, seq=3 + i, timestamp=t + 1 + i * 1e-3,
                     step_key="extract", level="INFO", message=f"row {i}") for i in range(800)],
        StepFailure(run_id=run_id, attempt=1, seq=900, timestamp=t + 3, step_key="extract",
                    duration=2.0, error=ErrorInfo(
                        class_name="KeyError", message="'customer_id'",
                        stack='Traceback (most recent call last):\n  File "defs.py", line 12, '
                              "in extract\n    row['customer_id']\nKeyError: 'customer_id'")),
        RunFailure(run_id=run_id, attempt=1, seq=901, timestamp=t + 3,
                   message="Step extract failed")])
    page.goto(f"/runs/{run_id}")
    failure = page.locator("section.failure")
    expect(failure).to_contain_text("Failed in step extract")
    expect(failure.locator("pre.traceback")).to_contain_text("row['customer_id']")
    box = failure.bounding_box()
    # above the fold, before the buttons
    assert box is not None and box["y"] + box["height"] < 900
    shoot(page, "failed-run")
    page.get_by_role("link", name="Jump to first error").click()
    target = page.locator("tr:target")
    expect(target).to_contain_text("STEP_FAILURE")
    expect(target).to_be_in_viewport()


def test_the_launch_form_scaffolds_a_config_the_server_accepts_and_flags_a_bad_field(
        page: Page, served: Served) -> None:
    page.goto("/jobs/example/export_job")
    config = page.get_by_label("Run config (JSON object)")
    problems = page.locator("#config-problems")
    # the scaffold's required field is flagged before anything is sent
    expect(problems).to_contain_text("$.ops.export.config.table: expected str, got null")
    config.fill('{"ops": {"export": {"config": {"table": "events", "limit": "ten"}}}}')
    expect(problems).to_have_text("$.ops.export.config.limit: expected int, got str")
    expect(config).to_have_attribute("aria-invalid", "true")
    shoot(page, "launchpad")
    page.get_by_role("button", name="Launch run").click()
    expect(page.locator("#config-status")).to_contain_text("Not launched")
    assert page.url.endswith("/jobs/example/export_job")
    config.fill('{"ops": {"export": {"config": {"table": "events"}}}}')
    page.get_by_role("button", name="Scaffold missing config").click()
    expect(page.locator("#config-status")).to_contain_text("fits the job's schema")
    assert json.loads(config.input_value()) == {
        "ops": {"export": {"config": {"table": "events", "limit": 100}}}}
    page.get_by_role("button", name="Launch run").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    run = served.store.get_run(page.url.rpartition("/")[2])
    assert run is not None and run.run_config == {
        "ops": {"export": {"config": {"table": "events", "limit": 100}}}}

