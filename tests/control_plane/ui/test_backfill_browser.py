"""Backfills in a real browser (Debian's chromium, headless, driven by Playwright) against a
real deployment (control plane, daemons, agent, code server, run workers): backfill a
partitioned job from its page, watch the backfill end with its failed partitions, re-run
them, and cancel a slow backfill. Its screenshot goes to docs/screenshots/backfill.png."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import redis
from playwright.sync_api import Browser, Page, expect

from ...conftest import free_port
from ...deployment import Deployment
from .test_browser import SCREENSHOTS, assert_accessible_basics, browser, nav, sign_in

__all__ = ["browser"]

DEFS = '''
import os
import time
from pathlib import Path

from tether import DailyPartitionsDefinition, Definitions, StaticPartitionsDefinition, job, op

MARKERS = Path(os.environ["MARKERS"])


@op
def load(context) -> None:
    if (MARKERS / context.partition_key).exists():
        raise RuntimeError(f"the source of {context.partition_key} is not ready")


@job(partitions_def=DailyPartitionsDefinition("2026-01-01"))
def daily_load() -> None:
    load()


@op
def slow_op() -> None:
    time.sleep(120)


@job(partitions_def=StaticPartitionsDefinition(["eu", "us"]))
def slow() -> None:
    slow_op()


defs = Definitions(jobs=[daily_load, slow])
'''

BACKFILL = "query($id: ID!) { backfill(id: $id) { status } }"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, valkey_url: str
               ) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("backfill-ui")
    client = redis.Redis.from_url(valkey_url)
    client.flushall()
    client.close()
    markers = tmp / "markers"
    markers.mkdir()
    for day in ("2026-02-03", "2026-02-07"):
        (markers / day).touch()
    (tmp / "parts.py").write_text(DEFS)
    workspace = tmp / "workspace.toml"
    workspace.write_text('[[locations]]\nname = "parts"\npython_file = "parts.py"\n')
    deployment = Deployment(database_url=f"sqlite:///{tmp / 'tether.db'}", redis_url=valkey_url,
                            workspace=workspace, data_dir=tmp, port=free_port(),
                            env={"MARKERS": str(markers), "TETHER_RUN_LAUNCHER": "warm",
                                 "TETHER_DAEMON_INTERVAL_SECONDS": "0.2"})
    try:
        deployment.wait_healthy()
        deployment.wait_for(lambda: [loc["status"] for loc in deployment.graphql(
            "{ codeLocations { status } }")["codeLocations"]] == ["LOADED"],
            what="location parts LOADED")
        yield deployment
    finally:
        codes = deployment.stop()
    assert all(code == 0 for code in codes.values()), deployment.output()


@pytest.fixture
def page(browser: Browser, deployment: Deployment) -> Iterator[Page]:
    context = browser.new_context(base_url=deployment.url,
                                  viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


def test_backfill_a_job_from_its_page_and_re_run_the_failed_partitions(
        page: Page, deployment: Deployment) -> None:
    sign_in(page, deployment.user_token)
    page.goto("/jobs/parts/daily_load")
    form = page.locator("#backfill-form")
    form.get_by_label("From").fill("2026-02-01")
    form.get_by_label("To").fill("2026-02-10")
    form.get_by_role("button", name=re.compile(r"^Backfill")).click()
    page.wait_for_url(re.compile(r"/backfills/[0-9a-f]{12}$"))
    backfill_id = page.url.rpartition("/")[2]
    deployment.wait_for(
        lambda: deployment.graphql(BACKFILL, id=backfill_id)["backfill"]["status"] == "FAILED",
        timeout=90, what="the backfill to end FAILED")
    page.reload()
    expect(page.locator("h1 .status")).to_contain_text("FAILED")
    expect(page.locator("#backfill-counts")).to_contain_text("8 success")
    expect(page.locator("#backfill-counts")).to_contain_text("2 failure")
    expect(page.locator("#backfill-failed")).to_contain_text("2026-02-03")
    expect(page.locator("#backfill-failed")).to_contain_text("2026-02-07")
    expect(page.locator("table.runs tbody tr")).to_have_count(10)
    assert_accessible_basics(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "backfill.png"), full_page=True)

    for marker in (deployment.data_dir / "markers").iterdir():
        marker.unlink()
    page.get_by_role("button", name="Re-run 2 failed partition(s)").click()
    page.wait_for_url(re.compile(r"/backfills/[0-9a-f]{12}$"))
    rerun_id = page.url.rpartition("/")[2]
    assert rerun_id != backfill_id
    expect(page.get_by_role("link", name=backfill_id)).to_be_visible()
    deployment.wait_for(
        lambda: deployment.graphql(BACKFILL, id=rerun_id)["backfill"]["status"] == "COMPLETED",
        timeout=90, what="the re-run to complete")
    nav(page, "Backfills").click()
    expect(page.locator(f'tr[data-backfill="{rerun_id}"]')).to_contain_text("COMPLETED")
    expect(page.locator(f'tr[data-backfill="{backfill_id}"]')).to_contain_text("FAILED")


def test_cancel_a_backfill_from_its_page(page: Page, deployment: Deployment) -> None:
    sign_in(page, deployment.user_token)
    page.goto("/jobs/parts/slow")
    page.locator("#backfill-form").get_by_role("button", name=re.compile(r"^Backfill")).click()
    page.wait_for_url(re.compile(r"/backfills/[0-9a-f]{12}$"))
    backfill_id = page.url.rpartition("/")[2]
    deployment.wait_for(lambda: page.reload() or page.locator(
        "table.runs tbody tr").count() == 2, what="its two runs created")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel backfill").click()
    deployment.wait_for(
        lambda: deployment.graphql(BACKFILL, id=backfill_id)["backfill"]["status"]
        == "CANCELED", timeout=60, what="the backfill CANCELED")
    page.reload()
    expect(page.locator("h1 .status")).to_contain_text("CANCELED")
    expect(page.locator("#backfill-counts")).to_contain_text("2 canceled")
    expect(page.get_by_role("button", name="Cancel backfill")).to_have_count(0)
