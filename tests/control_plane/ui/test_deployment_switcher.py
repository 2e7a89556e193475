"""The header shows the deployment the browser looks at and switches to another; every page
then shows that deployment's objects only, and its forms act in it."""

from __future__ import annotations

import re

import pytest

from tether.control_plane.ui._render import when

from ..conftest import load_location
from .conftest import Ui, csrf_of
from .test_pages import run_ids_on

pytestmark = pytest.mark.anyio

_SELECTED = re.compile(r'<option value="([^"]+)" selected>')


async def test_the_switcher_shows_and_changes_the_deployment(ui: Ui) -> None:
    ui.store.create_deployment("pr-7", branch="feature-x")
    branch = ui.store.scoped("pr-7")
    load_location(branch, jobs=("pr_job",))
    prod_run = ui.store.launch_run("hello_job")
    branch_run = branch.launch_run("pr_job")
    browser = await ui.signed_in(role="launcher")

    page = await browser.get("/runs")
    assert _SELECTED.findall(page.text) == ["prod"]
    assert '<option value="pr-7">' in page.text
    assert run_ids_on(page.text) == [prod_run]

    switched = await browser.post("/deployment", data={
        "deployment": "pr-7", "next": "/runs", "csrf": csrf_of(page.text)})
    assert switched.status_code == 303 and switched.headers["location"] == "/runs"
    page = await browser.get("/runs")
    assert _SELECTED.findall(page.text) == ["pr-7"]
    assert run_ids_on(page.text) == [branch_run]
    assert "pr_job" in (await browser.get("/jobs")).text
    # a run id of prod is not found here
    assert (await browser.get(f"/runs/{prod_run}")).status_code == 404

    # the launch form launches in the deployment looked at
    job = await browser.get("/jobs/hello/pr_job")
    launched = await browser.post("/jobs/hello/pr_job/launch", data={
        "config": "{}", "tags": "", "csrf": csrf_of(job.text)})
    assert launched.status_code == 303
    new_run = launched.headers["location"].removeprefix("/runs/")
    assert branch.get_run(new_run) is not None and ui.store.get_run(new_run) is None


async def test_a_token_without_a_role_in_a_deployment_cannot_switch_to_it(ui: Ui) -> None:
    ui.store.create_deployment("pr-8")
    token = ui.store.create_token("user", "viewer", "prod only", roles={"prod": "viewer"})
    browser = ui.client()
    form = await browser.get("/signin")
    await browser.post("/signin", data={"token": token, "csrf": csrf_of(form.text),
                                        "next": "/runs"})
    page = await browser.get("/runs")
    refused = await browser.post("/deployment", data={
        "deployment": "pr-8", "next": "/runs", "csrf": csrf_of(page.text)})
    assert refused.status_code == 403
    assert "no role in deployment &#39;pr-8&#39;" in refused.text
    # the switcher lists only the deployments the token has a role in
    page = await browser.get("/runs")
    assert _SELECTED.findall(page.text) == ["prod"] and "pr-8" not in page.text


async def test_the_deployments_page_lists_branch_deployments_with_branch_commit_and_age(
        ui: Ui) -> None:
    ui.store.create_deployment("pr-9", branch="feature-y", commit="0123456789abcdef0123",
                               ttl_seconds=3 * 3600)
    ui.store.create_deployment("pr-10", branch="feature-z")
    ui.store.create_deployment("pr-11", branch="hidden")
    token = ui.store.create_token("user", "viewer", "two deployments",
                                  roles={"prod": "viewer", "pr-9": "viewer", "pr-10": "viewer"})
    browser = ui.client()
    form = await browser.get("/signin")
    await browser.post("/signin", data={"token": token, "csrf": csrf_of(form.text),
                                        "next": "/runs"})
    page = await browser.get("/settings/deployments")
    assert page.status_code == 200
    rows = dict(re.findall(r'<tr data-deployment="([^"]+)">(.*?)</tr>', page.text, re.S))
    # only the deployments the token has a role in
    assert sorted(rows) == ["pr-10", "pr-9", "prod"]
    assert "(you are here)" in rows["prod"] and "Switch to" not in rows["prod"]
    pr9 = rows["pr-9"]
    assert "<td>branch</td>" in pr9 and "feature-y" in pr9 and "0123456789ab<" in pr9
    assert re.search(r"<td>[^<]+ ago</td>", pr9)
    # expires one TTL after its last activity; pr-10 has none
    deployment = ui.store.get_deployment("pr-9")
    assert deployment is not None
    expires = deployment.last_activity_at + 3 * 3600
    assert when(expires) in pr9
    assert "never" in rows["pr-10"]
    # each row switches to its deployment
    switched = await browser.post("/deployment", data={
        "deployment": "pr-9", "next": "/runs", "csrf": csrf_of(page.text)})
    assert switched.status_code == 303
    page = await browser.get("/settings/deployments")
    assert "(you are here)" in dict(re.findall(
        r'<tr data-deployment="([^"]+)">(.*?)</tr>', page.text, re.S))["pr-9"]
