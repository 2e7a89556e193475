"""Alert policies as admins write them (GraphQL, the CLI, the web form, ``TETHER_ALERTS_FILE``):
what happens (triggers), to what (filters), and where the alert goes (one channel).

One decoder for every door: :func:`policy_from` turns a mapping into a checked
:class:`PolicySpec`, and its errors name the field and say what is allowed. Matching a cause
against a policy is pure (:func:`matches`): the store calls it in the cause's transaction.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import msgspec

from ..errors import BadInput

Trigger = Literal["RUN_FAILURE", "RUN_SUCCESS", "RUN_LONG", "LOCATION_LOAD_FAILED",
                  "AGENT_LOST", "TICK_FAILURE", "ASSET_CHECK_FAILED"]
TRIGGERS: tuple[Trigger, ...] = get_args(Trigger)
# the run event a failed asset check is recorded as (its body has passed=false)
ASSET_CHECK_EVENT = "ASSET_CHECK_EVALUATION"
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


class WebhookChannel(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True,
                     tag="webhook", tag_field="kind"):
    """POST the alert as JSON; with a ``secret``, signed: ``X-Tether-Signature:
    sha256=<hex HMAC-SHA256 of the body>``."""

    url: str
    secret: str = ""
    headers: dict[str, str] = {}


class SlackChannel(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True,
                   tag="slack", tag_field="kind"):
    """A Slack incoming webhook (formatted with blocks)."""

    url: str


class TeamsChannel(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True,
                   tag="teams", tag_field="kind"):
    """A Microsoft Teams incoming webhook (an Adaptive Card)."""

    url: str


class EmailChannel(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True,
                   tag="email", tag_field="kind"):
    """Mail over SMTP, upgraded with STARTTLS (unless ``starttls`` is false), logged in when
    a ``username`` is given."""

    to: Annotated[list[str], msgspec.Meta(min_length=1)]
    smtp_host: str
    smtp_port: int = 587
    from_address: str = "tether@localhost"
    starttls: bool = True
    username: str = ""
    password: str = ""
    # a CA file (PEM) to trust for STARTTLS instead of the system's
    ca_file: str = ""


class PagerDutyChannel(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True,
                       tag="pagerduty", tag_field="kind"):
    """PagerDuty Events API v2: a ``trigger`` event whose dedup key is the alert's."""

    routing_key: str
    url: str = PAGERDUTY_EVENTS_URL


Channel = WebhookChannel | SlackChannel | TeamsChannel | EmailChannel | PagerDutyChannel
CHANNEL_KINDS = ("webhook", "slack", "teams", "email", "pagerduty")
# channel fields never shown back (the GraphQL API, the CLI, the web UI say "(set)"), nor
# are a webhook's header values
SECRET_FIELDS = frozenset({"secret", "password", "routing_key"})


class Filters(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Which causes a policy is about; empty lists: all. A filter applies to the causes that
    have what it names: ``jobs`` and ``tags`` to runs and asset checks, ``locations`` to all
    but agents, ``asset_groups`` to runs of asset jobs and asset checks."""

    jobs: list[str] = []
    locations: list[str] = []
    # every tag given must be on the run, with this value
    tags: dict[str, str] = {}
    asset_groups: list[str] = []


class PolicySpec(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    name: str
    triggers: Annotated[list[Trigger], msgspec.Meta(min_length=1)]
    channel: Channel
    description: str = ""
    filters: Filters = Filters()
    # RUN_LONG: alert once when a run has been in progress this long
    long_run_minutes: Annotated[float, msgspec.Meta(gt=0)] | None = None
    enabled: bool = True


_policy_decoder = msgspec.json.Decoder(PolicySpec)
_channel_decoder = msgspec.json.Decoder(Channel)
_filters_decoder = msgspec.json.Decoder(Filters)


def policy_from(data: Mapping[str, Any]) -> PolicySpec:
    """The checked policy of ``data`` (a TOML table, a GraphQL JSON value); BadInput names
    the field that is wrong and what it takes."""
    if not isinstance(data, Mapping):
        raise BadInput(f"an alert policy is an object with name, triggers and channel; got "
                       f"{type(data).__name__}")
    name = data.get("name", "?")
    try:
        spec = msgspec.convert(dict(data), PolicySpec, strict=False)
    except msgspec.ValidationError as exc:
        raise BadInput(f"alert policy {name!r}: {_explain(str(exc))}") from exc
    if not _NAME.match(spec.name):
        raise BadInput(f"alert policy name {spec.name!r}: use 1 to 100 letters, digits, '_', "
                       "'.' or '-'")
    if "RUN_LONG" in spec.triggers and spec.long_run_minutes is None:
        raise BadInput(f"alert policy {spec.name!r}: the RUN_LONG trigger needs "
                       "long_run_minutes (e.g. 60)")
    if sorted(set(spec.triggers)) != sorted(spec.triggers):
        raise BadInput(f"alert policy {spec.name!r}: a trigger is listed twice")
    return spec


def _explain(message: str) -> str:
    if "Invalid enum value" in message and "triggers" in message:
        return f"{message}; triggers are {', '.join(TRIGGERS)}"
    if "Invalid value" in message and "channel" in message and "kind" in message:
        return f"{message}; channel kinds are {', '.join(CHANNEL_KINDS)}"
    return message


def policies_from_file(path: str) -> list[PolicySpec]:
    """The policies of a TOML file: one ``[[alert]]`` table each (the shape of
    :class:`PolicySpec`, the channel a ``[alert.channel]`` table with its ``kind``)."""
    try:
        document = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadInput(f"cannot read the alerts file {path}: {exc}") from exc
    unknown = sorted(set(document) - {"alert"})
    if unknown:
        raise BadInput(f"the alerts file {path} has {', '.join(unknown)}; it holds only "
                       "[[alert]] tables")
    specs = [policy_from(table) for table in document.get("alert", [])]
    names = [spec.name for spec in specs]
    if len(set(names)) != len(names):
        raise BadInput(f"the alerts file {path} names a policy twice")
    return specs


def encode_channel(channel: Channel) -> str:
    return msgspec.json.encode(channel).decode()


def decode_channel(text: str) -> Channel:
    return _channel_decoder.decode(text)


def encode_filters(filters: Filters) -> str:
    return msgspec.json.encode(filters).decode()


def decode_filters(text: str) -> Filters:
    return _filters_decoder.decode(text)


def shown_channel(channel: Channel) -> dict[str, Any]:
    """The channel's settings as lists show them: secrets replaced by ``"(set)"``."""
    shown: dict[str, Any] = msgspec.to_builtins(channel)
    for key in SECRET_FIELDS & set(shown):
        if shown[key]:
            shown[key] = "(set)"
    if shown.get("headers"):
        # a webhook's headers often carry a credential (Authorization): names only
        shown["headers"] = dict.fromkeys(shown["headers"], "(set)")
    return shown


@dataclass(frozen=True, slots=True)
class Cause:
    """Something that may be alerted on, and what filters look at. ``key`` is unique per
    cause: a policy alerts on one key once."""

    trigger: Trigger
    key: str
    title: str
    text: str
    # the page about it, from the control plane's public URL
    path: str
    location: str | None = None
    job: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    # its asset keys (a run's job's assets, a check's asset), for asset_groups
    asset_keys: tuple[str, ...] = ()
    facts: dict[str, str] = field(default_factory=dict)
    severity: Literal["critical", "error", "warning", "info"] = "error"


def matches(spec: Filters, cause: Cause, groups: frozenset[str] | None) -> bool:
    """Whether the cause passes the filters. ``groups`` are the asset groups of the cause's
    assets (None: not looked up, as no policy asks)."""
    if spec.locations and cause.location is not None and cause.location not in spec.locations:
        return False
    if spec.jobs and cause.job is not None and cause.job not in spec.jobs:
        return False
    if spec.tags and cause.job is not None and any(
            cause.tags.get(key) != value for key, value in spec.tags.items()):
        return False
    if spec.asset_groups and cause.job is not None:
        return groups is not None and bool(groups & set(spec.asset_groups))
    return True
