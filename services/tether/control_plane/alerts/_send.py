"""Sending one alert through its channel: HTTP with httpx, mail with smtplib. Every failure
(refused, timed out, an error status) becomes one :class:`DeliveryFailed`, whose message is
what the deliveries list shows."""

from __future__ import annotations

import smtplib
import ssl

import httpx

from ...errors import TetherError
from ._messages import (
    Alert,
    HttpRequest,
    email_message,
    pagerduty_request,
    slack_request,
    teams_request,
    webhook_request,
)
from ._policy import (
    Channel,
    EmailChannel,
    PagerDutyChannel,
    SlackChannel,
    TeamsChannel,
    WebhookChannel,
)

SEND_TIMEOUT_SECONDS = 10.0


class DeliveryFailed(TetherError):
    """A channel did not take an alert; it is tried again later."""


def send(channel: Channel, alert: Alert, url: str, delivery_id: int, *,
         timeout: float = SEND_TIMEOUT_SECONDS) -> None:
    """Deliver ``alert`` (about the page at ``url``) through ``channel``."""
    match channel:
        case WebhookChannel():
            _post(webhook_request(channel, alert, url, delivery_id), timeout)
        case SlackChannel():
            _post(slack_request(channel, alert, url), timeout)
        case TeamsChannel():
            _post(teams_request(channel, alert, url), timeout)
        case PagerDutyChannel():
            _post(pagerduty_request(channel, alert, url), timeout)
        case EmailChannel():
            _mail(channel, alert, url, timeout)


def _post(request: HttpRequest, timeout: float) -> None:
    try:
        response = httpx.post(request.url, content=request.body, headers=request.headers,
                              timeout=timeout)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"POST {request.url}: {type(exc).__name__}: {exc}") from exc
    if response.status_code >= 300:
        raise DeliveryFailed(f"POST {request.url}: HTTP {response.status_code} "
                             f"{response.text[:200]}")


def _mail(channel: EmailChannel, alert: Alert, url: str, timeout: float) -> None:
    message = email_message(channel, alert, url)
    where = f"SMTP {channel.smtp_host}:{channel.smtp_port}"
    try:
        with smtplib.SMTP(channel.smtp_host, channel.smtp_port, timeout=timeout) as smtp:
            if channel.starttls:
                context = ssl.create_default_context(cafile=channel.ca_file or None)
                smtp.starttls(context=context)
            if channel.username:
                smtp.login(channel.username, channel.password)
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryFailed(f"{where}: {type(exc).__name__}: {exc}") from exc
