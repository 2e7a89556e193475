"""Alerts: policies (what, of what, where to), the messages each channel is sent, and the
alert daemon's delivery turn. The outbox itself lives in the store (``storage._alerts``)."""

from ._deliver import DeliveryConfig, backoff, deliver_due
from ._messages import DELIVERY_HEADER, SIGNATURE_HEADER, Alert, sign
from ._policy import (
    CHANNEL_KINDS,
    TRIGGERS,
    Cause,
    Channel,
    Filters,
    PolicySpec,
    Trigger,
    policies_from_file,
    policy_from,
    shown_channel,
)
from ._send import DeliveryFailed, send

__all__ = [
    "CHANNEL_KINDS",
    "DELIVERY_HEADER",
    "SIGNATURE_HEADER",
    "TRIGGERS",
    "Alert",
    "Cause",
    "Channel",
    "DeliveryConfig",
    "DeliveryFailed",
    "Filters",
    "PolicySpec",
    "Trigger",
    "backoff",
    "deliver_due",
    "policies_from_file",
    "policy_from",
    "send",
    "shown_channel",
    "sign",
]
