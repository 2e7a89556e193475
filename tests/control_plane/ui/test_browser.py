"""The web UI in a real browser (Debian's chromium, headless, driven by Playwright) against a
real deployment: the control plane and the agent's processes with the ``hello`` example, a
location whose job fails while a marker file exists, and a location whose code does not
import. Screenshots of the main pages go to docs/screenshots/,
which the README shows."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from ...conftest import EXAMPLE_WORKSPACE, REPO
from ...deployment import LAUNCH, LOCATIONS, Deployment, deployed
from ...flaky_location import FROM_FAILURE, marker_in, write_flaky_location

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "docs" / "screenshots"
AGENTS = "{ agents { codeServers { location } } }"



@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, valkey_url: str
               ) -> Iterator[Deployment]:
    """One deployment for the module's tests (starting one takes seconds)."""
    tmp = tmp_path_factory.mktemp("ui-deployment")
    client = redis.Redis.from_url(valkey_url)
    client.flushall()
    client.close()
    project = tmp / "project"
    project.mkdir()
    (project / "defs.py").write_text("from tether import Definitions\n\n"
                                     "def half_written(:\n    pass\n")
    flaky, _ = write_flaky_location(tmp)
    workspace = tmp / "workspace.toml"
    workspace.write_text(
        EXAMPLE_WORKSPACE.read_text().replace(
            'working_directory = "."', f'working_directory = "{EXAMPLE_WORKSPACE.parent}"')
        + flaky + '\n[[locations]]\nname = "broken"\npython_file = "defs.py"\n'
        'working_directory = "project"\n')
    with deployed(redis_url=valkey_url, workspace=workspace, data_dir=tmp) as deployment:
        def settled() -> bool:
            locations = deployment.graphql(LOCATIONS)["codeLocations"]
            return len(locations) == 3 and all(
                loc["status"] in ("LOADED", "ERROR") for loc in locations)

        deployment.wait_for(settled, what="both locations loaded or failed")
        yield deployment


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/setup installs Debian's chromium package")
    with sync_playwright() as playwright:
        # --no-sandbox: the tests run as root, where chromium's sandbox cannot start
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, deployment: Deployment) -> Iterator[Page]:
    context = browser.new_context(base_url=deployment.url,
                                  viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def sign_in(page: Page, token: str) -> None:
    page.goto("/runs")
    assert "/signin?next=/runs" in page.url
    page.get_by_label("User token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/runs$"))


def nav(page: Page, name: str) -> Locator:
    """The main navigation's link to ``name``."""
    menu = page.get_by_role("navigation", name="Main")
    return menu.get_by_role("link", name=name, exact=True)


UNLABELLED = """() => [...document.querySelectorAll("input, select, textarea, button")]
  .filter(el => el.type !== "hidden")
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
                && !(el.tagName === "BUTTON" && el.textContent.trim()))
  .map(el => el.outerHTML)"""


def assert_accessible_basics(page: Page) -> None:
    """Every control has a name a screen reader can say, and every status says itself in
    words (colour only repeats it)."""
    assert page.evaluate(UNLABELLED) == [], page.url
    for badge in page.locator(".status").all_inner_texts():
        assert re.search(r"[A-Z]{2,}", badge), (page.url, badge)


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_launch_a_job_watch_it_succeed_live_and_read_its_stdout(
        page: Page, deployment: Deployment) -> None:
    sign_in(page, deployment.user_token)
    nav(page, "Jobs").click()
    page.get_by_role("link", name="hello_job").click()
    graph = page.locator("svg.graph")
    expect(graph).to_be_visible()
    expect(graph.locator("[data-node]")).to_have_count(3)
    shoot(page, "job")
    page.get_by_role("button", name="Launch run").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    # a marker that a reload would wipe: the status must change in place
    page.evaluate("window.tetherMarker = 'same page'")
    expect(page.locator("#run-status")).to_contain_text("SUCCESS", timeout=60_000)
    assert page.evaluate("window.tetherMarker") == "same page"
    expect(page.locator("svg.timeline [data-step]")).to_have_count(3)
    expect(page.locator("#event-rows")).to_contain_text("RUN_SUCCESS")
    # the rows that arrived live are all there, once each, and the count says so
    expect(page.locator("#event-total")).to_have_text(
        str(page.locator("#event-rows tr").count()))
    messages = page.locator("#event-rows tr td:nth-child(5)").all_inner_texts()
    assert len(messages) == len(set(messages)), messages
    expect(page.locator("#run-status")).to_contain_text("✓")
    shoot(page, "run")
    page.locator("tr[data-step='load']").get_by_role("link", name="stdout").click()
    expect(page.locator("#log-text")).to_contain_text("total = 20")
    shoot(page, "stdout")
    nav(page, "Runs").click()
    expect(page.locator("table.runs tbody tr").first).to_contain_text("hello_job")
    expect(page.locator("table.runs tbody tr").first).to_contain_text("SUCCESS")
    # a run launched elsewhere (here through the API) shows up in the open list by itself
    page.evaluate("window.tetherMarker = 'runs list'")
    launched = deployment.graphql(LAUNCH, job="hello_job")["launchRun"]["id"]
    expect(page.locator(f"a[href='/runs/{launched}']")).to_be_visible()
    assert page.evaluate("window.tetherMarker") == "runs list"
    expect(page.locator("table.runs tbody tr").first).to_contain_text("SUCCESS", timeout=60_000)
    shoot(page, "runs")


def test_cancel_a_long_run_from_its_page(page: Page, deployment: Deployment) -> None:
    sign_in(page, deployment.user_token)
    page.goto("/jobs/hello/slow_job")
    page.get_by_role("button", name="Launch run").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    expect(page.locator("#event-rows")).to_contain_text("tick 1", timeout=60_000)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator("#run-status")).to_contain_text("CANCELED", timeout=60_000)
    expect(page.locator("#event-rows")).to_contain_text("RUN_CANCELING")
    # named as a cancel in the steps and the log, not as a failure
    expect(page.locator("tr[data-step='wait_a_while']")).to_contain_text("CANCELED")
    expect(page.locator("#event-rows")).to_contain_text("STEP_CANCELED")
    expect(page.locator("#event-rows")).to_contain_text(
        "Run of slow_job was canceled during step wait_a_while")
    expect(page.locator("#event-rows")).not_to_contain_text("KeyboardInterrupt")
    expect(page.get_by_role("button", name="Re-execute (all steps)")).to_be_visible()


def test_re_execute_a_failed_run_from_failure(page: Page, deployment: Deployment) -> None:
    marker = marker_in(deployment.data_dir)
    marker.touch()
    sign_in(page, deployment.user_token)
    page.goto("/jobs/flaky/flaky_job")
    page.get_by_role("button", name="Launch run").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    parent_id = page.url.rpartition("/")[2]
    expect(page.locator("#run-status")).to_contain_text("FAILURE", timeout=60_000)
    expect(page.locator("tr[data-step='load']")).to_contain_text("SKIPPED")
    again = page.get_by_role("button", name="Re-execute from failure")
    expect(again).to_be_visible()
    marker.unlink()
    again.click()
    page.wait_for_url(re.compile(r"/runs/(?!" + parent_id + r")[0-9a-f-]{36}$"))
    expect(page.locator("#run-status")).to_contain_text("SUCCESS", timeout=60_000)
    expect(page.locator("#run-step-selection")).to_have_text(", ".join(FROM_FAILURE))
    # only the selected steps ran: audit and extract, which succeeded the first time, are
    # not there (transform loaded the output extract stored)
    expect(page.locator("table.steps tbody tr")).to_have_count(len(FROM_FAILURE))
    expect(page.locator("svg.timeline [data-step]")).to_have_count(len(FROM_FAILURE))
    expect(page.locator("tr[data-step='audit']")).to_have_count(0)
    expect(page.locator("tr[data-step='extract']")).to_have_count(0)
    # a run that succeeded has no failure to start from
    expect(page.get_by_role("button", name="Re-execute (all steps)")).to_be_visible()
    expect(page.get_by_role("button", name="Re-execute from failure")).to_have_count(0)
    assert_accessible_basics(page)
    shoot(page, "reexecuted-run")
    page.get_by_role("link", name=f"run {parent_id[:8]}").click()
    page.wait_for_url(re.compile(f"/runs/{parent_id}$"))
    expect(page.locator("#run-status")).to_contain_text("FAILURE")


def test_a_locations_load_error_shows_its_traceback(page: Page, deployment: Deployment) -> None:
    sign_in(page, deployment.user_token)
    nav(page, "Code locations").click()
    broken = page.locator("section[data-location='broken']")
    expect(broken.locator(".status")).to_have_text("✗ ERROR")
    expect(broken.locator("pre.traceback")).to_contain_text("SyntaxError")
    expect(broken.locator("pre.traceback")).to_contain_text("defs.py")
    expect(page.locator("section[data-location='hello'] .status")).to_have_text("✓ LOADED")
    shoot(page, "locations")


def test_materialize_an_asset_and_see_its_latest_materialization(
        page: Page, deployment: Deployment) -> None:
    sign_in(page, deployment.user_token)
    nav(page, "Assets").click()
    page.get_by_role("button", name=re.compile(r"^Materialize report ")).click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    run_id = page.url.rpartition("/")[2]
    expect(page.locator("#run-status")).to_contain_text("SUCCESS", timeout=60_000)
    expect(page.locator("#event-rows")).to_contain_text("Materialized asset report")
    nav(page, "Assets").click()
    expect(page.locator("#asset-report")).to_contain_text(run_id[:8])
    expect(page.locator("#asset-raw_numbers")).to_contain_text(run_id[:8])
    shoot(page, "assets")


def test_start_and_stop_a_schedule(page: Page, deployment: Deployment) -> None:
    sign_in(page, deployment.user_token)
    nav(page, "Schedules & sensors").click()
    schedule = page.locator("section[data-automation='every_five_minutes']")
    expect(schedule.locator(".status").first).to_have_text("■ STOPPED")
    expect(schedule).to_contain_text("*/5 * * * * (UTC)")
    schedule.get_by_role("button", name="Start every_five_minutes").click()
    schedule = page.locator("section[data-automation='every_five_minutes']")
    expect(schedule.locator(".status").first).to_have_text("▶ RUNNING")
    expect(schedule.get_by_role("button", name="Stop every_five_minutes")).to_be_visible()
    started = [a for a in deployment.graphql(
        '{ automations(kind: "schedule") { name running nextTickTime } }')["automations"]
        if a["name"] == "every_five_minutes"]
    assert started[0]["running"] and started[0]["nextTickTime"]
    shoot(page, "schedules")
    schedule.get_by_role("button", name="Stop every_five_minutes").click()
    expect(page.locator("section[data-automation='every_five_minutes'] .status").first
           ).to_have_text("■ STOPPED")


def test_the_other_pages_by_keyboard(page: Page, deployment: Deployment) -> None:
    sign_in(page, deployment.user_token)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    # through the brand link, Runs and Backfills to Jobs in the main navigation
    for _ in range(4):
        page.keyboard.press("Tab")
    expect(nav(page, "Jobs")).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/assets$"))
    expect(nav(page, "Assets")).to_have_attribute("aria-current", "page")
    expect(page.locator("svg.graph [data-node]")).to_have_count(3)
    # the agent reports its code servers with its next heartbeat after they start
    deployment.wait_for(lambda: any(
        agent["codeServers"] for agent in deployment.graphql(AGENTS)["agents"]),
        what="an agent reporting its code servers")
    nav(page, "Agents").click()
    expect(page.locator("section.agent .status").first).to_have_text("● UP")
    expect(page.locator("section.agent")).to_contain_text("hello")
    shoot(page, "agents")
    nav(page, "Settings").click()
    for path in ("/runs", "/runs?status=SUCCESS", "/jobs", "/jobs/hello/hello_job", "/assets",
                 "/automation", "/locations", "/agents", "/settings/tokens",
                 "/settings/audit"):
        page.goto(path)
        assert_accessible_basics(page)
    run_id = deployment.graphql(LAUNCH, job="hello_job")["launchRun"]["id"]
    page.goto(f"/runs/{run_id}")
    assert_accessible_basics(page)
    # the check itself sees an unlabelled control
    page.evaluate("document.body.append(document.createElement('input'))")
    assert page.evaluate(UNLABELLED) == ["<input>"]
    nav(page, "Settings").click()
    page.get_by_label("Name").fill("ci-deploys")
    page.get_by_label("Expires in").fill("90d")
    page.get_by_role("button", name="Create token").click()
    token = page.get_by_label("New token").input_value()
    assert token.startswith("ttu_")
    expect(page.locator('tr[data-token="ci-deploys"] td.expires time')).to_have_count(1)
    shoot(page, "tokens")
    page.get_by_role("link", name="Audit log").click()
    expect(page.locator("tr[data-action]").first).to_have_attribute("data-action",
                                                                     "token.create")
    expect(page.locator('tr[data-action="run.launch"]')).not_to_have_count(0)
    assert_accessible_basics(page)
    shoot(page, "audit-log")
    assert os.environ.get("CI") or SCREENSHOTS.is_dir()
