"""Settings → Alerts and the GraphQL API behind it: an admin creates a policy with the form
(secrets never shown back), sends a test alert to a real HTTP receiver and sees it SENT;
a bad policy is refused naming the field; viewers are kept out of both."""

from __future__ import annotations

import json

import pytest

from tether.control_plane.alerts import DeliveryConfig, deliver_due

from ...conftest import free_port
from ...receivers import HttpReceiver
from .conftest import Ui, csrf_of

pytestmark = pytest.mark.anyio


async def test_an_admin_creates_tests_and_deletes_a_policy_in_the_form(ui: Ui) -> None:
    receiver = HttpReceiver(free_port()).start()
    try:
        browser = await ui.signed_in(role="admin")
        page = await browser.get("/settings/alerts")
        assert page.status_code == 200 and "No alert policies yet" in page.text
        csrf = csrf_of(page.text)
        created = await browser.post("/settings/alerts", data={
            "csrf": csrf, "name": "oncall", "trigger": ["RUN_FAILURE", "RUN_LONG"],
            "long_run_minutes": "30", "jobs": "hello_job", "tags": "team=data",
            "kind": "webhook", "url": receiver.url, "secret": "hush", "smtp_port": "587"})
        assert created.status_code == 303, created.text
        page = await browser.get("/settings/alerts")
        assert 'data-policy="oncall"' in page.text
        assert "RUN_FAILURE, RUN_LONG" in page.text and "team=data" in page.text
        assert "hush" not in page.text

        tested = await browser.post("/settings/alerts/oncall/test", data={"csrf": csrf})
        assert tested.status_code == 303
        assert "sent 1 alert(s)" in deliver_due(ui.store, DeliveryConfig(
            public_url="http://cp"))
        [post] = receiver.wait_for(1)
        assert json.loads(post.body)["title"] == "Test alert of policy oncall"
        page = await browser.get("/settings/alerts")
        assert "Test alert of policy oncall" in page.text and 'data-status="SENT"' in page.text

        bad = await browser.post("/settings/alerts", data={
            "csrf": csrf, "name": "slow", "trigger": "RUN_LONG", "kind": "slack",
            "url": receiver.url})
        assert bad.status_code == 400
        assert "the RUN_LONG trigger needs long_run_minutes" in bad.text

        deleted = await browser.post("/settings/alerts/oncall/delete", data={"csrf": csrf})
        assert deleted.status_code == 303
        assert [p.name for p in ui.store.list_alert_policies()] == []
        actions = [entry.action for entry in ui.store.audit_log()]
        assert actions[:4] == ["alert.delete", "alert.create", "alert.test", "alert.create"]
    finally:
        receiver.stop()


async def test_viewers_cannot_see_or_change_alert_policies(ui: Ui) -> None:
    browser = await ui.signed_in(role="viewer", name="vic")
    page = await browser.get("/settings/alerts")
    assert page.status_code == 403 and "alert policies are for admin tokens" in page.text
    token = ui.store.create_token("user", role="launcher", name="lena")
    async with ui.client() as client:
        answer = (await client.post("/graphql", headers={"Authorization": f"Bearer {token}"},
                                    json={"query": 'mutation { createAlertPolicy(policy: '
                                          '{name: "x", triggers: ["RUN_FAILURE"], channel: '
                                          '{kind: "slack", url: "http://x"}}) { id } }'})).json()
    assert answer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert ui.store.list_alert_policies() == []
