"""Asset checks through the whole path, with real processes (agent, code server, run worker):
checks passing and failing, blocking and not, a check that raises and one that returns the
wrong thing; their results in GraphQL, on the run page and on the asset page (in a real
browser, which saves docs/screenshots/asset-checks.png); a check of an unknown asset
failing its location's load with a message naming it; and a check of an asset produced
outside Tether, in a step of its own that loads the asset through its IO manager."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect, sync_playwright

from .conftest import REPO, free_port
from .deployment import deployed, ended, one_location
from .test_assets_io import signed_in
from .test_end_to_end import LOCATIONS, run_to_end, wait_loaded, worker_events

DEFS = '''
from tether import (AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, Definitions,
                    Metadata, Output, asset, asset_check, define_asset_job)


@asset(description="Orders of the day")
def orders():
    rows = [5, 3, 8]
    return Output(rows, metadata={"rows": len(rows),
                                  "preview": Metadata.table([{"amount": n} for n in rows])})


@asset_check(asset=orders, blocking=True)
def positive_amounts(orders):
    """Every order has a positive amount."""
    bad = [n for n in orders if n <= 0]
    return AssetCheckResult(passed=not bad, metadata={"rows": len(orders), "bad": len(bad)})


@asset_check(asset=orders)
def sorted_by_time(orders):
    return AssetCheckResult(passed=orders == sorted(orders), severity=AssetCheckSeverity.WARN,
                            description="orders arrive out of order")


@asset(check_specs=[AssetCheckSpec("fresh", description="Loaded within the hour")])
def report(orders):
    yield Output(sum(orders), metadata={"total": sum(orders),
                                        "dashboard": Metadata.url("https://bi.example/r")})
    yield AssetCheckResult(passed=True, metadata={"lag_minutes": 4})


@asset
def payments():
    return [10, -4, -1]


@asset_check(asset=payments, blocking=True)
def no_refunds(payments):
    refunds = [n for n in payments if n < 0]
    return AssetCheckResult(passed=not refunds, description=f"{len(refunds)} refunds",
                            metadata={"refunds": len(refunds)})


@asset
def ledger(payments):
    print("ledger computed")
    return sum(payments)


@asset
def inventory():
    return {"apples": 3}


@asset_check(asset=inventory)
def explodes(inventory):
    raise RuntimeError(f"cannot count {len(inventory)} kinds")


@asset_check(asset=inventory)
def wrong_type():
    return {"passed": True}


defs = Definitions(
    assets=[orders, positive_amounts, sorted_by_time, report, payments, no_refunds, ledger,
            inventory, explodes, wrong_type],
    jobs=[define_asset_job("orders_job", ["orders", "report"]),
          define_asset_job("payments_job", ["payments", "ledger"]),
          define_asset_job("inventory_job", "inventory")],
)
'''

TYPO = '''
from tether import AssetCheckResult, Definitions, asset, asset_check

@asset
def orders():
    return [1]

@asset_check(asset="ordrs")
def has_rows():
    return AssetCheckResult(passed=True)

defs = Definitions(assets=[orders, has_rows])
'''

ASSETS = """{ assets { key checks { name blocking description stepKey
  latestEvaluation { runId passed severity description metadata { label text } }
  evaluations { runId passed } } } }"""
RUN_CHECKS = """query($id: ID!) { run(id: $id) { checkEvaluations {
  assetKey checkName passed severity blocking stepKey description metadata { label value } } } }"""
CHROMIUM = Path("/usr/bin/chromium")


def outcomes(run: dict[str, Any]) -> dict[str, str]:
    return {e["stepKey"]: e["type"] for e in worker_events(run)
            if e["type"] in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED")}


def test_asset_checks_run_after_their_asset_block_when_asked_and_show_everywhere(
        tmp_path: Path, broker_url: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "defs.py").write_text(DEFS)
    (project / "typo.py").write_text(TYPO)
    workspace = tmp_path / "workspace.toml"
    workspace.write_text(
        f'[[locations]]\nname = "checks"\npython_file = "defs.py"\n'
        f'working_directory = "{project}"\n'
        f'[[locations]]\nname = "typo"\npython_file = "typo.py"\n'
        f'working_directory = "{project}"\n')
    with deployed(database_url=f"sqlite:///{tmp_path / 'tether.db'}", redis_url=broker_url,
                  workspace=workspace, data_dir=tmp_path, port=free_port(),
                  env={"TETHER_STORAGE_DIR": str(tmp_path / "storage")}) as deployment:
        def settled() -> dict[str, Any] | None:
            found = {loc["name"]: loc for loc in deployment.graphql(LOCATIONS)["codeLocations"]}
            return found if len(found) == 2 and all(
                loc["status"] in ("LOADED", "ERROR") for loc in found.values()) else None

        locations = deployment.wait_for(settled, what="both locations loaded or failed")
        assert locations["checks"]["status"] == "LOADED", locations
        # a check of an asset that does not exist fails the load, naming both
        assert locations["typo"]["status"] == "ERROR"
        assert ("asset check 'has_rows' checks asset 'ordrs', which no asset in these "
                "Definitions defines; did you mean 'orders'?") in locations["typo"]["error"]

        # passing checks, and a failed WARN check that is not blocking: the run succeeds
        good = run_to_end(deployment, "orders_job")
        assert good["status"] == "SUCCESS", deployment.output()
        assert outcomes(good) == {
            "orders": "STEP_SUCCESS", "orders__positive_amounts": "STEP_SUCCESS",
            "orders__sorted_by_time": "STEP_SUCCESS", "report": "STEP_SUCCESS"}
        steps = [e["stepKey"] for e in worker_events(good) if e["type"] == "STEP_SUCCESS"]
        # the blocking check runs before the asset's downstream step
        assert steps.index("orders") < steps.index("orders__positive_amounts") \
            < steps.index("report")
        messages = [e["message"] for e in worker_events(good)
                    if e["type"] == "ASSET_CHECK_EVALUATION"]
        assert sorted(messages) == [
            "Check fresh of asset report passed",
            "Check positive_amounts of asset orders passed",
            "Check sorted_by_time of asset orders failed (WARN): orders arrive out of order"]
        checked = deployment.graphql(RUN_CHECKS, id=good["id"])["run"]["checkEvaluations"]
        assert {(c["assetKey"], c["checkName"]): (c["passed"], c["severity"], c["stepKey"])
                for c in checked} == {
            ("orders", "positive_amounts"): (True, "ERROR", "orders__positive_amounts"),
            ("orders", "sorted_by_time"): (False, "WARN", "orders__sorted_by_time"),
            ("report", "fresh"): (True, "ERROR", "report")}
        fresh = next(c for c in checked if c["checkName"] == "fresh")
        assert fresh["metadata"] == [{"label": "lag_minutes", "value": 4}]

        # a blocking check fails: its step fails, the asset's downstream step is skipped
        blocked = run_to_end(deployment, "payments_job")
        assert blocked["status"] == "FAILURE"
        assert outcomes(blocked) == {"payments": "STEP_SUCCESS",
                                     "payments__no_refunds": "STEP_FAILURE",
                                     "ledger": "STEP_SKIPPED"}
        failure = next(e for e in blocked["events"] if e["type"] == "STEP_FAILURE")
        assert failure["message"] == (
            "Step payments__no_refunds failed: AssetCheckFailed: blocking check 'no_refunds' "
            "of asset 'payments' failed: 2 refunds; the steps downstream of the asset do not "
            "run")
        assert "ledger computed" not in "".join(c["data"] for c in blocked["logs"])

        # a check that raises, and one that returns no AssetCheckResult: failed steps that
        # say why (neither blocks, so the asset itself is materialized)
        broken = run_to_end(deployment, "inventory_job")
        assert broken["status"] == "FAILURE"
        assert outcomes(broken) == {"inventory": "STEP_SUCCESS",
                                    "inventory__explodes": "STEP_FAILURE",
                                    "inventory__wrong_type": "STEP_FAILURE"}
        errors = {e["stepKey"]: e["error"] for e in broken["events"]
                  if e["type"] == "STEP_FAILURE"}
        assert errors["inventory__explodes"]["message"] == "cannot count 1 kinds"
        stack = errors["inventory__explodes"]["stack"]
        assert "defs.py" in stack and "raise RuntimeError" in stack
        assert "_executor.py" not in stack
        assert errors["inventory__wrong_type"]["message"] == (
            "asset check 'wrong_type' of asset 'inventory' (step inventory__wrong_type) "
            "returned a dict ({'passed': True}); a check returns "
            "AssetCheckResult(passed=..., metadata=...)")

        # the asset's checks with their latest results and history
        assets = {a["key"]: a for a in deployment.graphql(ASSETS)["assets"]}
        checks = {c["name"]: c for c in assets["orders"]["checks"]}
        assert set(checks) == {"positive_amounts", "sorted_by_time"}
        assert checks["positive_amounts"]["blocking"] is True
        assert checks["positive_amounts"]["description"] == \
            "Every order has a positive amount."
        assert checks["positive_amounts"]["latestEvaluation"] == {
            "runId": good["id"], "passed": True, "severity": "ERROR", "description": "",
            "metadata": [{"label": "rows", "text": "3"}, {"label": "bad", "text": "0"}]}
        assert checks["sorted_by_time"]["evaluations"] == [{"runId": good["id"],
                                                            "passed": False}]
        assert [c["name"] for c in assets["report"]["checks"]] == ["fresh"]
        assert assets["report"]["checks"][0]["stepKey"] == "report"
        no_refunds = assets["payments"]["checks"][0]["latestEvaluation"]
        assert (no_refunds["passed"], no_refunds["runId"]) == (False, blocked["id"])
        assert [c["latestEvaluation"] for c in assets["inventory"]["checks"]] == [None, None]

        # the run page lists the run's check results
        browser = signed_in(deployment)
        try:
            run_page = browser.get(f"/runs/{blocked['id']}").text
        finally:
            browser.close()
        table = run_page[run_page.index('id="run-checks"'):]
        assert re.search(r"no_refunds <span class=\"muted\">\(blocking\)</span>", table)
        assert 'data-status="FAILED"' in table and "2 refunds" in table

        # the asset page in a real browser: the metadata and the checks, screenshotted
        run_to_end(deployment, "orders_job")  # a second result in each check's history
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                  headless=True, args=["--no-sandbox"])
            try:
                page = chromium.new_context(base_url=deployment.url,
                                            viewport={"width": 1280, "height": 900}).new_page()
                page.goto("/runs")
                page.get_by_label("User token").fill(deployment.user_token)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(re.compile(r"/runs$"))
                page.goto("/assets/checks/orders")
                checks_table = page.locator("#checks")
                expect(checks_table.locator('tr[data-check="positive_amounts"]')).to_contain_text(
                    "PASSED")
                expect(checks_table.locator('tr[data-check="sorted_by_time"]')).to_contain_text(
                    "WARNING")
                expect(checks_table.locator('tr[data-check="sorted_by_time"] .check-history a')
                       ).to_have_count(2)
                expect(page.locator('#latest-metadata tr[data-label="rows"]')).to_contain_text(
                    "3")
                screenshots = REPO / "docs" / "screenshots"
                screenshots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshots / "asset-checks.png"), full_page=True)
                page.goto("/assets/checks/report")
                expect(page.locator("#latest-metadata")).to_contain_text("https://bi.example/r")
                expect(page.locator('#checks tr[data-check="fresh"]')).to_contain_text("PASSED")
            finally:
                chromium.close()


EXTERNAL = '''
import json
import os
from pathlib import Path

from tether import AssetCheckResult, AssetSpec, Definitions, IOManager, asset_check
from tether import define_asset_job

LANDING = Path(os.environ["LANDING"])


class LandingIO(IOManager):
    """Reads what the vendor's job drops; Tether makes nothing to store here."""

    def handle_output(self, context, obj):
        raise RuntimeError(f"nothing of Tether's is stored in the landing zone ({context})")

    def load_input(self, context):
        print(f"loading {context.asset_key} for {context.step_key}")
        return json.loads((LANDING / "files.json").read_text())


landing = AssetSpec("s3/landing", description="Files the vendor's SFTP job drops")


@asset_check(asset=landing, blocking=True)
def has_files(landing):
    return AssetCheckResult(passed=bool(landing), metadata={"files": len(landing)})


defs = Definitions(assets=[landing, has_files],
                   jobs=[define_asset_job("check_landing", [landing])],
                   resources={"io_manager": LandingIO()})
'''


def test_a_check_of_an_external_asset_runs_in_its_own_step_loading_it_through_its_io_manager(
        tmp_path: Path, broker_url: str) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "files.json").write_text('["a.csv", "b.csv"]')
    workspace = one_location(tmp_path, "lake", EXTERNAL, env={"LANDING": str(landing)})
    with deployed(database_url=f"sqlite:///{tmp_path / 'tether.db'}", redis_url=broker_url,
                  workspace=workspace, data_dir=tmp_path, port=free_port()) as deployment:
        wait_loaded(deployment)
        good = run_to_end(deployment, "check_landing")
        assert good["status"] == "SUCCESS", deployment.output()
        assert outcomes(good) == {"s3__landing__has_files": "STEP_SUCCESS"}
        checked = deployment.graphql(RUN_CHECKS, id=good["id"])["run"]["checkEvaluations"]
        assert [(c["assetKey"], c["checkName"], c["passed"], c["metadata"]) for c in checked] \
            == [("s3/landing", "has_files", True, [{"label": "files", "value": 2}])]
        # its IO manager read the asset, in the check's own step
        assert "loading s3/landing for s3__landing__has_files" in "".join(
            chunk["data"] for chunk in ended(deployment, good["id"])["logs"]
            if chunk["stream"] == "stdout")

        # nothing landed: the blocking check fails its step, and so the run
        (landing / "files.json").write_text("[]")
        empty = run_to_end(deployment, "check_landing")
        assert empty["status"] == "FAILURE"
        assert outcomes(empty) == {"s3__landing__has_files": "STEP_FAILURE"}
        [asset] = [a for a in deployment.graphql(ASSETS)["assets"] if a["key"] == "s3/landing"]
        assert asset["checks"][0]["latestEvaluation"]["passed"] is False
        assert [e["passed"] for e in asset["checks"][0]["evaluations"]] == [False, True]
