"""A run's timeline, drawn on the server as inline SVG: the run's phases before its first step
(QUEUED → STARTING → STARTED) on the top row, then one bar per step and attempt on a shared
time axis (parallel steps overlap), a "now" line while the run goes on. Each bar carries its
details (for the hover card and its SVG title) and links to the log filtered to its step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from markupsafe import Markup, escape

from ..._durations import time_axis
from ..storage import StepSpan
from ._render import duration, iso, status_class, status_icon, when

_ROW = 26
_LABEL_W = 190
_BAR_W = 560
_AXIS_H = 30
_LEAD_W = 130
_LEAD_GAP = 18


@dataclass(frozen=True, slots=True)
class Phase:
    """A stretch of the run before its first step: QUEUED, STARTING or STARTED."""

    status: str
    start: float
    end: float


def run_phases(*, queued: float, starting: float | None, started: float | None,
               first_step: float | None, end: float | None, now: float) -> list[Phase]:
    """The run's phases up to its first step (or its end, or now): each from its own mark
    to the next one that exists."""
    marks = [("QUEUED", queued), ("STARTING", starting), ("STARTED", started)]
    # a mark older than the one before it belongs to an earlier attempt (a retried run's
    # start time): left out
    present: list[tuple[str, float]] = []
    for status, at in marks:
        if at is not None and (not present or at >= present[-1][1]):
            present.append((status, at))
    stop = first_step if first_step is not None else (end if end is not None else now)
    phases = []
    for index, (status, at) in enumerate(present):
        until = present[index + 1][1] if index + 1 < len(present) else stop
        if until is not None and until >= at:
            phases.append(Phase(status, at, until))
    return phases


def _clock(timestamp: float) -> str:
    """The time of day with milliseconds: steps a few ms apart read apart."""
    return f"{when(timestamp)[11:19]}.{int(timestamp * 1000) % 1000:03d}"


def timeline_svg(spans: Sequence[StepSpan], *, start: float | None, end: float | None,
                 now: float, phases: Sequence[Phase] = (), running: bool = False,
                 run_id: str = "") -> Markup:
    """The timeline of ``spans`` (steps that have not started are left out) after the run's
    ``phases``; ``running`` draws the "now" line."""
    started = [s for s in spans if s.start is not None]
    if not started and not phases:
        return Markup('<p class="muted">No step has started yet.</p>')
    starts = [s.start for s in started if s.start is not None]
    finish = max([end or now, *(s.end or now for s in started), *(p.end for p in phases)])
    lead = _lead_in(phases, starts, finish)
    if lead is not None:
        # the phases took longer than the steps: they get a stretch of their own (on their
        # own scale, past a break in the axis) so the steps keep the width to be read
        axis_x, axis_w, origin = _LABEL_W + _LEAD_W + _LEAD_GAP, _BAR_W - _LEAD_W - _LEAD_GAP, \
            min(starts)
    else:
        axis_x, axis_w = _LABEL_W, _BAR_W
        origin = min([start or now, *starts, *(p.start for p in phases)])
    total = max(finish - origin, 1e-6)
    scale = axis_w / total
    rows = len(started) + (1 if phases else 0)
    height = rows * _ROW + _AXIS_H
    width = _LABEL_W + _BAR_W + 200
    parts = [
        # a group, not an image: its bars are links a screen reader must reach
        f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="group" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-labelledby="timeline-title">',
        f'<title id="timeline-title">Step timeline: {len(started)} steps over '
        f'{escape(duration(total))}</title>',
    ]
    # round steps in the span's unit: each label once, sub-millisecond runs in µs
    for at, label in time_axis(total):
        tx = axis_x + at * scale
        parts.append(f'<line class="tick" x1="{tx:.1f}" y1="0" x2="{tx:.1f}" '
                     f'y2="{height - 18}"/><text class="axis" x="{tx:.1f}" y="{height - 4}" '
                     f'text-anchor="middle">{escape(label)}</text>')
    if lead is not None:
        lead_origin, lead_total = lead
        parts.append(_phase_row(phases, _LABEL_W, lead_origin, _LEAD_W / lead_total))
        bx = _LABEL_W + _LEAD_W + _LEAD_GAP / 2
        parts.append(f'<text class="axis break" x="{bx:.1f}" y="18" text-anchor="middle">≈'
                     f'</text><text class="axis" x="{_LABEL_W + _LEAD_W / 2:.1f}" '
                     f'y="{height - 4}" text-anchor="middle">{escape(duration(lead_total))} '
                     f'before</text>')
    elif phases:
        parts.append(_phase_row(phases, axis_x, origin, scale))
    attempts: dict[str, int] = {}
    for row, step in enumerate(started, start=1 if phases else 0):
        retries = attempts.get(step.step_key, 0)
        attempts[step.step_key] = retries + 1
        parts.append(_step_bar(step, row, axis_x, origin, scale, now, retries, run_id))
    if running:
        nx = axis_x + (now - origin) * scale
        parts.append(f'<line class="now" x1="{nx:.1f}" y1="0" x2="{nx:.1f}" '
                     f'y2="{height - 18}"><title>now</title></line>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _lead_in(phases: Sequence[Phase], starts: Sequence[float], finish: float
             ) -> tuple[float, float] | None:
    """(start, length) of the phases when they outlast the steps after them (a run queued
    for a minute whose steps took milliseconds), else None: one axis for all."""
    if not phases or not starts:
        return None
    first, last = min(p.start for p in phases), max(p.end for p in phases)
    if last - first <= finish - min(starts):
        return None
    return first, max(last - first, 1e-6)


def _phase_row(phases: Sequence[Phase], left: float, origin: float, scale: float) -> str:
    parts = [f'<g class="phases"><text class="label" x="{_LABEL_W - 8}" y="18" '
             f'text-anchor="end">run</text>']
    for phase in phases:
        x = left + (phase.start - origin) * scale
        w = max((phase.end - phase.start) * scale, 1.0)
        took = duration(phase.end - phase.start)
        parts.append(f'<rect class="phase {phase.status.lower()}" data-phase="{phase.status}" '
                     f'x="{x:.1f}" y="4" width="{w:.1f}" height="{_ROW - 8}" rx="3">'
                     f'<title>{phase.status} {escape(took)} from {_clock(phase.start)}</title>'
                     f'</rect>')
    return "".join(parts) + "</g>"


def _step_bar(step: StepSpan, row: int, left: float, origin: float, scale: float,
              now: float, retries: int, run_id: str) -> str:
    assert step.start is not None
    y = row * _ROW + 4
    bar_x = left + (step.start - origin) * scale
    bar_w = max(((step.end or now) - step.start) * scale, 2.0)
    label = step.step_key if step.attempt == 1 else f"{step.step_key} (attempt {step.attempt})"
    took = duration((step.end or now) - step.start)
    if step.step_attempts > 1:
        # a step that retried within the attempt: one bar, its tries counted
        took = f"{took} · {step.step_attempts} tries"
    key = escape(step.step_key)
    details = (f"{step.step_key}: {step.status}, started {_clock(step.start)} UTC "
               f"(+{duration(step.start - origin)}), took {took}, attempt {step.attempt}, "
               f"{retries} {'retry' if retries == 1 else 'retries'} before")
    # the link is the page without script; the script filters the log in place instead
    href = f"/runs/{quote(run_id)}?step={quote(step.step_key)}#events-h"
    return (
        f'<a href="{escape(href)}" class="step-link" aria-label="Show the log of {key}">'
        f'<g class="step {status_class(step.status)}" data-step="{key}" '
        f'data-status="{escape(step.status)}" data-start="{escape(iso(step.start))}" '
        f'data-clock="{_clock(step.start)}" data-took="{escape(took)}" '
        f'data-attempt="{step.attempt}" data-retries="{retries}">'
        f'<title>{escape(details)}</title>'
        f'<text class="label" x="{_LABEL_W - 8}" y="{y + 14}" text-anchor="end">'
        f'{escape(label)}</text>'
        f'<rect class="bar" x="{bar_x:.1f}" y="{y}" width="{bar_w:.1f}" height="{_ROW - 8}" '
        f'rx="3"/>'
        f'<text class="state" x="{bar_x + bar_w + 6:.1f}" y="{y + 14}">'
        f'{status_icon(step.status)} {escape(step.status)} · {escape(took)}</text></g></a>')
