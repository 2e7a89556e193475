"""Settings → Alerts: the alert policies (create, test, delete) and the newest deliveries
with how sending them went. Admins only; changes go through the GraphQL API, so its checks
and the audit log apply."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..alerts import CHANNEL_KINDS, TRIGGERS, shown_channel
from ..errors import Forbidden
from ._base import Pages, Viewer, form_text

CREATE = "mutation($policy: JSON!) { createAlertPolicy(policy: $policy) { name } }"
DELETE = "mutation($name: String!) { deleteAlertPolicy(name: $name) { name } }"
TEST = "mutation($name: String!) { testAlertPolicy(name: $name) { id } }"
DELIVERIES_SHOWN = 50


def _require_admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise Forbidden(f"alert policies are for admin tokens; you are signed in as a "
                        f"{viewer.token.role}")


def _words(text: str) -> list[str]:
    return [word for word in text.replace(",", " ").split() if word]


def policy_of_form(form: Any) -> dict[str, Any]:
    """The createAlertPolicy input of the form (the API checks it and names what is
    wrong)."""
    kind = form_text(form, "kind", "webhook")
    channel: dict[str, Any] = {"kind": kind}
    for field in ("url", "secret", "routing_key", "smtp_host", "username", "password",
                  "from_address"):
        value = form_text(form, field).strip()
        if value:
            channel[field] = value
    if form_text(form, "to").strip():
        channel["to"] = _words(form_text(form, "to"))
    if form_text(form, "smtp_port").strip():
        channel["smtp_port"] = form_text(form, "smtp_port").strip()
    if kind != "email":
        channel = {key: value for key, value in channel.items()
                   if key in ("kind", "url", "secret", "routing_key")}
    tags = dict(pair.partition("=")[::2] for pair in _words(form_text(form, "tags")))
    policy: dict[str, Any] = {
        "name": form_text(form, "name").strip(), "channel": channel,
        "triggers": [value for key, value in form.multi_items() if key == "trigger"],
        "filters": {"jobs": _words(form_text(form, "jobs")),
                    "locations": _words(form_text(form, "locations")), "tags": tags,
                    "asset_groups": _words(form_text(form, "asset_groups"))}}
    if form_text(form, "long_run_minutes").strip():
        policy["long_run_minutes"] = form_text(form, "long_run_minutes").strip()
    return policy


class AlertPages(Pages):
    async def alerts(self, request: Request, viewer: Viewer) -> Response:
        _require_admin(viewer)
        policies = await self.call(viewer.store.list_alert_policies)
        deliveries = await self.call(viewer.store.alert_deliveries, DELIVERIES_SHOWN)
        return self.render(request, viewer, "alerts.html", policies=policies,
                           channels={p.name: shown_channel(p.channel) for p in policies},
                           deliveries=deliveries, triggers=TRIGGERS, kinds=CHANNEL_KINDS)

    async def create(self, request: Request, viewer: Viewer) -> Response:
        await self.mutate(viewer, CREATE, policy=policy_of_form(await request.form()))
        return RedirectResponse("/settings/alerts", status_code=303)

    async def delete(self, request: Request, viewer: Viewer) -> Response:
        await self.mutate(viewer, DELETE, name=request.path_params["name"])
        return RedirectResponse("/settings/alerts", status_code=303)

    async def test(self, request: Request, viewer: Viewer) -> Response:
        await self.mutate(viewer, TEST, name=request.path_params["name"])
        return RedirectResponse("/settings/alerts#deliveries", status_code=303)
