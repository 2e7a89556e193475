"""Sign-in, the session cookie, CSRF on every form that changes something, roles enforced by
the server, and errors shown as readable pages."""

from __future__ import annotations

import pytest

from .conftest import Ui, csrf_of

pytestmark = pytest.mark.anyio


async def test_pages_need_a_session_and_sign_in_returns_to_the_page(ui: Ui) -> None:
    browser = ui.client()
    response = await browser.get("/runs?status=SUCCESS")
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=/runs%3Fstatus%3DSUCCESS"

    token = ui.store.create_token("user", role="launcher", name="grace")
    form = await browser.get("/signin?next=/runs%3Fstatus%3DSUCCESS")
    assert 'type="password"' in form.text and '<label for="token">' in form.text
    signed = await browser.post("/signin", data={
        "token": token, "csrf": csrf_of(form.text), "next": "/runs?status=SUCCESS"})
    assert signed.status_code == 303
    assert signed.headers["location"] == "/runs?status=SUCCESS"
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith("tether_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    # the token itself never goes into the cookie
    assert token not in cookie
    page = await browser.get("/runs")
    assert page.status_code == 200 and "grace" in page.text and "launcher" in page.text


async def test_a_wrong_token_is_refused_with_a_readable_message(ui: Ui) -> None:
    browser = ui.client()
    form = await browser.get("/signin")
    response = await browser.post("/signin", data={
        "token": "ttu_not-a-token", "csrf": csrf_of(form.text), "next": "/runs"})
    assert response.status_code == 401
    assert "unknown or has been revoked" in response.text
    assert "tether_session" not in response.headers.get("set-cookie", "")
    agent = ui.store.create_token("agent", name="agent")
    form = await browser.get("/signin")
    response = await browser.post("/signin", data={
        "token": agent, "csrf": csrf_of(form.text), "next": "/runs"})
    assert response.status_code == 401 and "agent token" in response.text
    assert (await browser.get("/runs")).status_code == 303


async def test_the_sign_in_form_needs_its_csrf_cookie(ui: Ui) -> None:
    token = ui.store.create_token("user", name="eve")
    # a form posted from another site: no sign-in cookie, a made-up CSRF value
    response = await ui.client().post("/signin", data={
        "token": token, "csrf": "forged", "next": "/runs"})
    assert response.status_code == 403 and "reload the page" in response.text
    assert "tether_session" not in response.headers.get("set-cookie", "")


async def test_after_sign_in_only_paths_of_this_site_are_followed(ui: Ui) -> None:
    token = ui.store.create_token("user", name="ada")
    browser = ui.client()
    form = await browser.get("/signin")
    response = await browser.post("/signin", data={
        "token": token, "csrf": csrf_of(form.text), "next": "//elsewhere.example/x"})
    assert response.headers["location"] == "/runs"


async def test_sign_out_ends_the_session_even_for_a_copied_cookie(ui: Ui) -> None:
    browser = await ui.signed_in()
    session = browser.cookies["tether_session"]
    page = await browser.get("/runs")
    response = await browser.post("/signout", data={"csrf": csrf_of(page.text)})
    assert response.status_code == 303 and response.headers["location"] == "/signin"
    replay = ui.client()
    replay.cookies.set("tether_session", session)
    assert (await replay.get("/runs")).status_code == 303


async def test_revoking_the_token_ends_its_sessions(ui: Ui) -> None:
    browser = await ui.signed_in(name="mallory")
    assert (await browser.get("/jobs")).status_code == 200
    [token] = [t for t in ui.store.list_tokens() if t.name == "mallory"]
    ui.store.revoke_token(token.id)
    assert (await browser.get("/jobs")).status_code == 303


async def test_a_form_without_the_sessions_csrf_token_changes_nothing(ui: Ui) -> None:
    browser = await ui.signed_in()
    other = await ui.signed_in(name="other")
    other_csrf = csrf_of((await other.get("/runs")).text)
    for data in ({}, {"csrf": "guess"}, {"csrf": other_csrf}):
        response = await browser.post("/jobs/hello/hello_job/launch",
                                      data={**data, "config": "{}", "tags": ""})
        assert response.status_code == 403, data
        assert "security token" in response.text
    assert ui.store.list_runs() == []
    run_id = ui.store.launch_run("hello_job")
    response = await browser.post(f"/runs/{run_id}/cancel", data={"csrf": other_csrf})
    assert response.status_code == 403
    run = ui.store.get_run(run_id)
    assert run is not None and run.status == "QUEUED"


async def test_a_viewer_can_look_but_not_launch_or_cancel(ui: Ui) -> None:
    viewer = await ui.signed_in(role="viewer", name="vic")
    job_page = await viewer.get("/jobs/hello/hello_job")
    assert "Launch run" not in job_page.text and "signed in as a viewer" in job_page.text
    csrf = csrf_of(job_page.text)
    # the server refuses even a well-formed post, with the API's own message
    response = await viewer.post("/jobs/hello/hello_job/launch",
                                 data={"csrf": csrf, "config": "{}", "tags": ""})
    assert response.status_code == 403
    assert "viewer token cannot launch runs" in response.text
    assert ui.store.list_runs() == []

    run_id = ui.store.launch_run("hello_job")
    run_page = await viewer.get(f"/runs/{run_id}")
    assert "Cancel run" not in run_page.text
    response = await viewer.post(f"/runs/{run_id}/cancel", data={"csrf": csrf})
    assert response.status_code == 403 and "viewer token cannot cancel" in response.text
    run = ui.store.get_run(run_id)
    assert run is not None and run.status == "QUEUED"
    assert (await viewer.get("/settings/tokens")).status_code == 403


async def test_errors_are_pages_with_a_message_not_a_stack_trace(ui: Ui) -> None:
    browser = await ui.signed_in()
    missing = await browser.get("/runs/no-such-run")
    assert missing.status_code == 404
    assert "no run with id &#39;no-such-run&#39;" in missing.text
    malformed = await browser.get("/runs?before=yesterday")
    assert malformed.status_code == 400 and "page link is malformed" in malformed.text
    job = await browser.get("/jobs/hello/no_such_job")
    assert job.status_code == 404 and "Jobs page" in job.text
    unknown = await browser.get("/no/such/page")
    assert unknown.status_code == 404 and "there is no page at /no/such/page" in unknown.text
    for response in (missing, malformed, job, unknown):
        assert "Traceback" not in response.text
        assert response.headers["content-type"].startswith("text/html")


async def test_pages_carry_a_content_security_policy_without_inline_code(ui: Ui) -> None:
    browser = await ui.signed_in()
    page = await browser.get("/jobs/hello/hello_job")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "<script>" not in page.text and " style=" not in page.text
    assert (await browser.get("/static/tether.js")).status_code == 200
