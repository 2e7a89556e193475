"""Settings → Audit log and the token form's expiry and last use: what users do through the
web UI's forms is on record, only admins see it, and an expired token's session ends. On
SQLite and on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tether.control_plane import create_app
from tether.control_plane.storage import Actor, Store
from tether.settings import Settings

from ...waiting import eventually_async
from ..conftest import load_location
from .conftest import Ui, csrf_of
from .test_automation_pages import _load_auto

pytestmark = pytest.mark.anyio

@pytest.fixture
async def ui(tmp_path: Path, database_url: str) -> AsyncIterator[Ui]:
    """The web UI's app as in ``conftest``, on each database."""
    settings = Settings(data_dir=str(tmp_path), database_url=database_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        store = Store.from_url(settings.resolved_database_url)
        load_location(store)
        yield Ui(app=app, store=store, tmp_path=tmp_path)
        store.close()


_ROW = re.compile(r'<tr data-entry="(\d+)" data-action="([^"]+)">(.*?)</tr>', re.S)


def rows(html: str) -> list[tuple[str, str]]:
    """(action, the row's text) of each entry on the page, top first."""
    return [(action, re.sub(r"<[^>]+>|\s+", " ", body)) for _, action, body in _ROW.findall(html)]


async def test_form_actions_are_on_the_audit_log_newest_first(ui: Ui) -> None:
    _load_auto(ui.store)
    browser = await ui.signed_in(role="admin", name="ada")
    page = await browser.get("/jobs/hello/hello_job")
    csrf = csrf_of(page.text)
    launched = await browser.post("/jobs/hello/hello_job/launch",
                                  data={"csrf": csrf, "config": "", "tags": ""})
    run_id = launched.headers["location"].removeprefix("/runs/")
    assert (await browser.post(f"/runs/{run_id}/cancel", data={"csrf": csrf})).status_code == 303
    again = await browser.post(f"/runs/{run_id}/reexecute", data={"csrf": csrf})
    new_run_id = again.headers["location"].removeprefix("/runs/")
    assert (await browser.post("/locations/hello/redeploy",
                               data={"csrf": csrf})).status_code == 303
    assert (await browser.post("/automation/schedule/auto/nightly",
                               data={"csrf": csrf, "running": "true"})).status_code == 303
    created = await browser.post("/settings/tokens", data={
        "csrf": csrf, "name": "ci", "kind": "user", "role": "viewer", "expires_in": "90d"})
    assert created.status_code == 200
    [ci] = [t for t in ui.store.list_tokens() if t.name == "ci"]
    assert (await browser.post(f"/settings/tokens/{ci.id}/revoke",
                               data={"csrf": csrf})).status_code == 303

    page = await browser.get("/settings/audit")
    assert page.status_code == 200 and "Audit log" in page.text
    entries = rows(page.text)
    assert [action for action, _ in entries] == [
        "token.revoke", "token.create", "schedule.start", "location.redeploy", "run.reexecute",
        "run.cancel", "run.launch", "session.sign_in", "token.first_use"]
    assert all("ada" in text and " ui " in f" {text} " and "OK" in text
               for _, text in entries[:-1])
    assert new_run_id in entries[4][1] and f"re-executes run {run_id}" in entries[4][1]
    assert run_id in entries[5][1] and run_id in entries[6][1]
    assert "auto/nightly" in entries[2][1] and "expires" in entries[1][1]
    assert f'href="/runs/{run_id}"' in page.text

    only = await browser.get("/settings/audit", params={"action": "run.cancel"})
    assert [action for action, _ in rows(only.text)] == ["run.cancel"]
    assert 'selected>run.cancel</option>' in only.text
    nobody = await browser.get("/settings/audit", params={"actor": "someone else"})
    assert rows(nobody.text) == [] and "No entries match these filters" in nobody.text


async def test_the_audit_log_pages_through_older_entries(ui: Ui) -> None:
    actor = Actor(kind="cli", name="ops", via="cli")
    for number in range(55):
        ui.store.record_refusal(actor, "run.cancel", f"run-{number}", "a test refusal")
    browser = await ui.signed_in()
    first = await browser.get("/settings/audit", params={"actor": "ops"})
    older = re.search(r'<a rel="next" href="([^"]+)"', first.text)
    assert older and len(rows(first.text)) == 50
    second = await browser.get(older.group(1).replace("&amp;", "&"))
    targets = [re.search(r"run-\d+", text).group(0)  # type: ignore[union-attr]
               for _, text in rows(first.text) + rows(second.text)]
    assert targets == [f"run-{number}" for number in reversed(range(55))]
    assert "REFUSED" in first.text and "Newest entries" in second.text


async def test_viewers_and_launchers_cannot_see_the_audit_log(ui: Ui) -> None:
    for role in ("viewer", "launcher"):
        browser = await ui.signed_in(role=role, name=role)
        page = await browser.get("/settings/audit")
        assert page.status_code == 403 and "admin" in page.text
        assert "data-entry" not in page.text
    # a launcher's try at an admin's action is refused by the API, and on record
    tokens = await browser.get("/runs")
    refused = await browser.post("/settings/tokens", data={
        "csrf": csrf_of(tokens.text), "name": "mine", "kind": "user", "role": "admin"})
    assert refused.status_code == 403 and "cannot create tokens" in refused.text
    [entry] = ui.store.audit_log(action="token.create")
    assert (entry.actor.name, entry.target, entry.outcome) == ("launcher", "mine", "refused")


async def test_the_token_list_shows_expiry_and_last_use(ui: Ui) -> None:
    browser = await ui.signed_in(name="ada")
    page = await browser.get("/settings/tokens")
    await browser.post("/settings/tokens", data={
        "csrf": csrf_of(page.text), "name": "quarterly", "kind": "agent", "role": "admin",
        "expires_in": "90d"})
    listed = (await browser.get("/settings/tokens")).text
    ada = re.search(r'<tr data-token="ada">(.*?)</tr>', listed, re.S)
    quarterly = re.search(r'<tr data-token="quarterly">(.*?)</tr>', listed, re.S)
    assert ada and quarterly
    # signing in used ada's token; the new one has never been used, and expires in 90 days
    assert re.search(r'class="last-used"><time', ada.group(1))
    assert 'class="expires">never' in ada.group(1)
    assert 'class="last-used">never' in quarterly.group(1)
    assert re.search(r'class="expires"><time', quarterly.group(1))
    bad = await browser.post("/settings/tokens", data={
        "csrf": csrf_of(page.text), "name": "x", "kind": "user", "role": "viewer",
        "expires_in": "soon"})
    assert bad.status_code == 400 and "not a duration" in bad.text


async def test_an_expired_tokens_session_ends_and_it_cannot_sign_in_again(ui: Ui) -> None:
    token = ui.store.create_token("user", role="admin", name="brief", expires_in=5)
    browser = ui.client()
    form = await browser.get("/signin")
    signed_in = await browser.post("/signin", data={
        "token": token, "csrf": csrf_of(form.text), "next": "/runs"})
    assert signed_in.status_code == 303

    async def signed_out() -> httpx.Response | None:
        page = await browser.get("/runs")
        return None if page.status_code == 200 else page

    page = await eventually_async(signed_out, timeout=30, every=0.05,
                                  what="the session to end with its token")
    assert page.status_code == 303 and page.headers["location"].startswith("/signin")
    form = await browser.get("/signin")
    refused = await browser.post("/signin", data={
        "token": token, "csrf": csrf_of(form.text), "next": "/runs"})
    assert refused.status_code == 401 and "token &#39;brief&#39; expired at" in refused.text
    [entry] = ui.store.audit_log(action="session.sign_in", actor="brief")[:1]
    assert entry.outcome == "refused" and "expired at" in entry.detail
