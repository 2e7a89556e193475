"""The Jinja environment of the web UI, built once, and the filters its templates share."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape
from starlette.responses import HTMLResponse

from tether.wire import metadata_kind, metadata_text

from ..._durations import format_duration
from ..storage import LAUNCHED_BY_TAG, PARENT_TAG, ROOT_TAG, SCHEDULE_TAG, SENSOR_TAG

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")

# status → (icon, css class): the icon and the text carry the meaning, the colour only repeats it
_STATUS: dict[str, tuple[str, str]] = {
    "SUCCESS": ("✓", "ok"),
    "LOADED": ("✓", "ok"),
    "UP": ("●", "ok"),
    "FAILURE": ("✗", "bad"),
    "ERROR": ("✗", "bad"),
    "DOWN": ("○", "bad"),
    "CANCELED": ("⊘", "muted"),
    "CANCELING": ("⊘", "warn"),
    "SKIPPED": ("↷", "muted"),
    "QUEUED": ("◷", "muted"),
    "STARTING": ("◔", "run"),
    "STARTED": ("▶", "run"),
    "RETRYING": ("↻", "warn"),
    "LOADING": ("◌", "run"),
    "REVOKED": ("⊘", "muted"),
    "RUNNING": ("▶", "ok"),
    "STOPPED": ("■", "muted"),
    "EVALUATING": ("◔", "run"),
    "ACTIVE": ("●", "ok"),
    "EXPIRED": ("⌛", "muted"),
    "OK": ("✓", "ok"),
    "REFUSED": ("✗", "bad"),
    # an asset check's result: passed, failed with ERROR or with WARN severity
    "PASSED": ("✓", "ok"),
    "FAILED": ("✗", "bad"),
    "WARNING": ("⚠", "warn"),
    "SENT": ("✓", "ok"),
    "PENDING": ("◷", "warn"),
    # a backfill's
    "REQUESTED": ("◷", "muted"),
    "COMPLETED": ("✓", "ok"),
}

# tags that say who or what launched a run, most specific first
_LAUNCHERS = ((SCHEDULE_TAG, "schedule"), (SENSOR_TAG, "sensor"), (LAUNCHED_BY_TAG, "user"))


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "—"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso(timestamp: float | None) -> str:
    return "" if timestamp is None else datetime.fromtimestamp(timestamp, UTC).isoformat()


def duration(seconds: float | None) -> str:
    return "—" if seconds is None else format_duration(seconds)


def span(start: float | None, end: float | None, now: float | None = None) -> str:
    """The time between start and end; a running thing's so far."""
    if start is None:
        return "—"
    return duration((end if end is not None else (now or time.time())) - start)


def age(timestamp: float | None) -> str:
    return "—" if timestamp is None else f"{duration(max(0.0, time.time() - timestamp))} ago"


def status_icon(status: str) -> str:
    return _STATUS.get(str(status), ("•", "muted"))[0]


def status_class(status: str) -> str:
    return _STATUS.get(str(status), ("•", "muted"))[1]


def launched_by(tags: dict[str, Any]) -> str:
    for key, kind in _LAUNCHERS:
        if key in tags:
            return f"{kind} {tags[key]}"
    return "—"


def json_text(value: Any) -> str:
    return msgspec.json.format(msgspec.json.encode(value), indent=2).decode()


def compact_json(value: Any, limit: int = 160) -> str:
    """``value`` as JSON on one line, cut to ``limit`` characters (with an ellipsis)."""
    text = msgspec.json.encode(value).decode()
    return text if len(text) <= limit else text[:limit - 1] + "…"


def highlight(text: str, needle: Any = None) -> Markup:
    """``text`` escaped, with each occurrence of ``needle`` (ignoring case) marked."""
    if not needle or not isinstance(needle, str):
        return escape(text)
    parts = re.split(f"({re.escape(needle)})", text, flags=re.IGNORECASE)
    # odd parts are the matches
    return Markup("").join(Markup("<mark>%s</mark>") % part if index % 2 else escape(part)
                           for index, part in enumerate(parts))


def build_environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=when, iso=iso, duration=duration, age=age,
                       status_icon=status_icon, status_class=status_class,
                       launched_by=launched_by, json=json_text,
                       metadata_text=metadata_text, metadata_kind=metadata_kind,
                       compact=compact_json, highlight=highlight)
    env.globals.update(span=span, PARENT_TAG=PARENT_TAG, ROOT_TAG=ROOT_TAG)
    return env


class Renderer:
    """Renders the templates into responses; the environment is built once per app."""

    def __init__(self) -> None:
        self.env = build_environment()

    def fragment(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(**context)

    def page(self, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return HTMLResponse(self.fragment(template, **context), status_code=status_code,
                            headers=SECURITY_HEADERS)


# no inline script or style anywhere: the pages load only their own static files
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
