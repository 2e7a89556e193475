"""What each channel is sent for an alert: pure functions from an :class:`Alert` to an HTTP
request or an email, no I/O (:mod:`._send` does that), so every format is tested alone."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import msgspec

from ._policy import (
    EmailChannel,
    PagerDutyChannel,
    SlackChannel,
    TeamsChannel,
    WebhookChannel,
)

SIGNATURE_HEADER = "X-Tether-Signature"
DELIVERY_HEADER = "X-Tether-Delivery"


class Alert(msgspec.Struct, kw_only=True, frozen=True):
    """One alert as the outbox keeps it and every channel formats it."""

    policy: str
    trigger: str
    # unique per policy: the same cause is alerted once
    dedup_key: str
    title: str
    text: str
    # the page about it, relative to the control plane's public URL ("/runs/<id>")
    path: str
    facts: dict[str, str] = {}
    severity: str = "error"
    created_at: float = 0.0
    # a sample sent by `tether alert test`
    test: bool = False


_alert_decoder = msgspec.json.Decoder(Alert)


def encode_alert(alert: Alert) -> str:
    return msgspec.json.encode(alert).decode()


def decode_alert(text: str) -> Alert:
    return _alert_decoder.decode(text)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    url: str
    headers: dict[str, str]
    body: bytes


def link(public_url: str, alert: Alert) -> str:
    return public_url.rstrip("/") + alert.path


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: receivers compute the same HMAC-SHA256 of the raw body
    with the shared secret and compare (in constant time)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_request(channel: WebhookChannel, alert: Alert, url: str,
                    delivery_id: int) -> HttpRequest:
    body = msgspec.json.encode({**msgspec.to_builtins(alert), "url": url,
                                "delivery_id": delivery_id})
    headers = {**channel.headers, "Content-Type": "application/json",
               DELIVERY_HEADER: str(delivery_id)}
    if channel.secret:
        headers[SIGNATURE_HEADER] = sign(channel.secret, body)
    return HttpRequest(channel.url, headers, body)


_EMOJI = {"critical": ":rotating_light:", "error": ":red_circle:", "warning": ":warning:",
          "info": ":large_green_circle:"}


def slack_request(channel: SlackChannel, alert: Alert, url: str) -> HttpRequest:
    fields = [{"type": "mrkdwn", "text": f"*{key}*\n{value}"}
              for key, value in list(alert.facts.items())[:10]]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": f"{_EMOJI.get(alert.severity, '')} {alert.text}"[
                                         :3000]}},
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    blocks.append({"type": "actions", "elements": [
        {"type": "button", "text": {"type": "plain_text", "text": "Open in Tether"},
         "url": url}]})
    blocks.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": f"alert policy *{alert.policy}* · {alert.trigger}"}]})
    return _json_request(channel.url, {"text": f"{alert.title}: {alert.text}"[:3000],
                                       "blocks": blocks})


def teams_request(channel: TeamsChannel, alert: Alert, url: str) -> HttpRequest:
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard", "version": "1.4",
        "body": [
            {"type": "TextBlock", "text": alert.title, "weight": "Bolder", "size": "Medium",
             "wrap": True, "color": "Attention" if alert.severity in ("critical", "error")
             else "Default"},
            {"type": "TextBlock", "text": alert.text, "wrap": True},
            {"type": "FactSet", "facts": [{"title": key, "value": value}
                                          for key, value in alert.facts.items()]},
        ],
        "actions": [{"type": "Action.OpenUrl", "title": "Open in Tether", "url": url}],
    }
    return _json_request(channel.url, {"type": "message", "attachments": [
        {"contentType": "application/vnd.microsoft.card.adaptive", "content": card}]})


_PD_SEVERITY = {"critical": "critical", "error": "error", "warning": "warning", "info": "info"}


def pagerduty_request(channel: PagerDutyChannel, alert: Alert, url: str) -> HttpRequest:
    return _json_request(channel.url, {
        "routing_key": channel.routing_key,
        "event_action": "trigger",
        # PagerDuty folds events of one key into one incident: the alert's own key
        "dedup_key": f"tether:{alert.policy}:{alert.dedup_key}"[:255],
        "payload": {"summary": f"{alert.title}: {alert.text}"[:1024], "source": "tether",
                    "severity": _PD_SEVERITY.get(alert.severity, "error"),
                    "component": alert.facts.get("location", ""),
                    "group": alert.facts.get("job", ""), "class": alert.trigger,
                    "custom_details": alert.facts},
        "links": [{"href": url, "text": "Open in Tether"}],
        "client": "Tether", "client_url": url,
    })


def email_message(channel: EmailChannel, alert: Alert, url: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"[Tether] {alert.title}"
    message["From"] = channel.from_address
    message["To"] = ", ".join(channel.to)
    facts = "".join(f"{key}: {value}\n" for key, value in alert.facts.items())
    message.set_content(f"{alert.text}\n\n{facts}\n{url}\n\n"
                        f"-- alert policy {alert.policy} ({alert.trigger})\n")
    return message


def _json_request(url: str, payload: dict[str, Any]) -> HttpRequest:
    return HttpRequest(url, {"Content-Type": "application/json"}, msgspec.json.encode(payload))
