"""The assets pages in a real browser (Debian's chromium, headless, driven by Playwright)
against a real deployment (control plane and agent processes, a code server, run workers):
tick several assets and materialize them as one run, and see the lineage coloured by each
asset's latest status, and each asset's checks by their newest results. Its screenshot goes
to docs/screenshots/asset-lineage.png."""

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
import time

from tether import (AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, AssetSpec,
                    Definitions, Output, asset, define_asset_job)

landing = AssetSpec("s3/landing", group_name="ingest",
                    description="Files the vendor's SFTP job drops each night")

@asset(group_name="ingest", deps=[landing], check_specs=[
    AssetCheckSpec("has_rows"), AssetCheckSpec("positive"), AssetCheckSpec("under_100")])
def orders():
    rows = [120, 80, 45]
    yield Output(rows)
    yield AssetCheckResult(check_name="has_rows", passed=bool(rows))
    yield AssetCheckResult(check_name="positive", passed=all(r > 0 for r in rows))
    yield AssetCheckResult(check_name="under_100", passed=all(r < 100 for r in rows))

@asset(group_name="ingest", deps=[landing], check_specs=[AssetCheckSpec("unique")])
def customers():
    names = ["ada", "lin", "ada"]
    yield Output(names)
    yield AssetCheckResult(passed=len(set(names)) == len(names),
                           severity=AssetCheckSeverity.WARN)

@asset(group_name="marts")
def revenue(orders: list[int]) -> int:
    return sum(orders)

@asset(group_name="marts")
def churn(customers: list[str]) -> float:
    raise ValueError("customers has no signup_date column")

@asset(group_name="marts")
def dashboard(revenue: int) -> str:
    time.sleep(120)
    return f"revenue {revenue}"

@asset(group_name="marts", check_specs=[AssetCheckSpec("not_negative")])
def forecast(revenue: int):
    yield Output(revenue * 2)
    yield AssetCheckResult(passed=revenue >= 0)

defs = Definitions(assets=[landing, orders, customers, revenue, churn, dashboard, forecast],
                   jobs=[define_asset_job("everything")])
'''

RUN = "query($id: ID!) { run(id: $id) { status jobName stepSelection } }"
MATERIALIZE = ('mutation($keys: [String!]!) { materializeAssets(location: "shop", '
               "assetKeys: $keys) { id } }")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory, valkey_url: str
               ) -> Iterator[Deployment]:
    tmp = tmp_path_factory.mktemp("assets-ui")
    client = redis.Redis.from_url(valkey_url)
    client.flushall()
    client.close()
    (tmp / "shop.py").write_text(DEFS)
    workspace = tmp / "workspace.toml"
    workspace.write_text('[[locations]]\nname = "shop"\npython_file = "shop.py"\n')
    deployment = Deployment(database_url=f"sqlite:///{tmp / 'tether.db'}", redis_url=valkey_url,
                            workspace=workspace, data_dir=tmp, port=free_port())
    try:
        deployment.wait_healthy()
        deployment.wait_for(lambda: [loc["status"] for loc in deployment.graphql(
            "{ codeLocations { status } }")["codeLocations"]] == ["LOADED"],
            what="location shop LOADED")
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


def _status(deployment: Deployment) -> dict[str, str]:
    return {asset["key"]: asset["status"]
            for asset in deployment.graphql("{ assets { key status } }")["assets"]}


def _ended(deployment: Deployment, run_id: str) -> dict[str, object]:
    return deployment.wait_for(  # type: ignore[no-any-return]
        lambda: (run := deployment.graphql(RUN, id=run_id)["run"])["status"]
        in ("SUCCESS", "FAILURE", "CANCELED") and run, timeout=90, what=f"run {run_id} ends")


def test_tick_assets_materialize_them_as_one_run_and_see_the_lineage_by_status(
        page: Page, deployment: Deployment) -> None:
    sign_in(page, deployment.user_token)
    nav(page, "Assets").click()
    # nothing ticked: the page says what to do
    page.get_by_role("button", name="Materialize selected").click()
    expect(page.locator("#materialize-error")).to_contain_text("tick the assets to materialize")
    for key in ("orders", "customers", "revenue"):
        page.get_by_label(f"Select {key}", exact=True).check()
    # the external asset has no box to tick
    expect(page.get_by_label("Select s3/landing")).to_have_count(0)
    page.get_by_role("button", name="Materialize selected").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    run_id = page.url.rpartition("/")[2]
    expect(page.locator("#run-status")).to_contain_text("SUCCESS", timeout=60_000)
    run = deployment.graphql(RUN, id=run_id)["run"]
    assert run["stepSelection"] == ["orders", "customers", "revenue"]
    expect(page.locator("#event-rows")).to_contain_text("Materialized asset revenue")

    failed = deployment.graphql(MATERIALIZE, keys=["churn"])["materializeAssets"]["id"]
    assert _ended(deployment, failed)["status"] == "FAILURE"
    slow = deployment.graphql(MATERIALIZE, keys=["dashboard"])["materializeAssets"]["id"]
    deployment.wait_for(lambda: _status(deployment)["dashboard"] == "IN_PROGRESS",
                        timeout=60, what="dashboard in progress")
    try:
        nav(page, "Assets").click()
        states = {key: page.locator(f'svg.graph g.node[data-node="{key}"]')
                  .get_attribute("data-state")
                  for key in ("s3/landing", "orders", "customers", "revenue", "churn",
                              "dashboard", "forecast")}
        assert states == {"s3/landing": "external", "orders": "materialized",
                          "customers": "materialized", "revenue": "materialized",
                          "churn": "failed", "dashboard": "in-progress", "forecast": "never"}
        expect(page.locator("#asset-churn")).to_contain_text("last attempt failed")
        # each asset's checks by their newest results, in words
        checks = {key: page.locator(f"#asset-{key} td.asset-checks")
                  for key in ("orders", "customers", "revenue", "forecast")}
        expect(checks["orders"]).to_contain_text("2/3 checks passed")
        expect(checks["orders"].locator("li.bad")).to_have_text("FAILED (ERROR) under_100")
        assert checks["orders"].locator("[data-checks]").get_attribute(
            "data-checks") == "FAILED"
        expect(checks["customers"]).to_contain_text("0/1 check passed")
        expect(checks["customers"]).to_contain_text("failed (WARN) unique")
        expect(checks["forecast"]).to_contain_text("0/1 check passed")
        expect(checks["forecast"]).to_contain_text("1 not evaluated yet")
        expect(checks["revenue"]).to_have_text("no checks")
        summaries = {a["key"]: a["checkSummary"] for a in deployment.graphql(
            "{ assets { key checkSummary { total passed failed warned notEvaluated state "
            "text } } }")["assets"]}
        assert summaries["orders"] == {
            "total": 3, "passed": 2, "failed": ["under_100"], "warned": [],
            "notEvaluated": 0, "state": "FAILED",
            "text": "2/3 checks passed; failed (ERROR): under_100"}
        assert (summaries["customers"]["state"], summaries["forecast"]["state"],
                summaries["revenue"]) == ("WARNING", "PENDING", None)
        expect(page.locator(".legend").first).to_contain_text("materializing now")
        assert_accessible_basics(page)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.locator("section[aria-labelledby='lineage-h']").screenshot(
            path=str(SCREENSHOTS / "asset-lineage.png"))
        # one asset's page: its status and the lineage around it, linked
        page.locator("#asset-revenue").get_by_role("link", name="revenue", exact=True).click()
        page.wait_for_url(re.compile(r"/assets/shop/revenue$"))
        expect(page.locator("#asset-status")).to_contain_text("materialized")
        assert page.locator('g.node[data-node="dashboard"]').get_attribute(
            "data-state") == "in-progress"
        page.locator('svg.graph a:has(g.node[data-node="orders"])').click()
        page.wait_for_url(re.compile(r"/assets/shop/orders$"))
    finally:
        deployment.graphql("mutation($id: ID!) { terminateRun(id: $id) { id } }", id=slow)
    _ended(deployment, slow)
