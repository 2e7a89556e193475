"""Durations as people read them, the same in the CLI, the web UI and event messages."""

from __future__ import annotations

import math


def format_duration(seconds: float) -> str:
    """``seconds`` in the unit that suits it: ``340 µs``, ``2.5 ms``, ``140 ms``, ``1.2 s``,
    ``3 min 5 s``, ``2 h 7 min``. A step of a few hundred microseconds is not ``0 ms``."""
    seconds = max(0.0, seconds)
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1e-2:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1e3:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


# (seconds per unit, its name), smallest first: a time axis counts in the unit of its span
_UNITS = ((1e-6, "µs"), (1e-3, "ms"), (1.0, "s"), (60.0, "min"), (3600.0, "h"))


def time_axis(span: float, *, at_most: int = 6) -> list[tuple[float, str]]:
    """Ticks for an axis from 0 to ``span`` seconds: ``(seconds, label)`` at a "nice" step
    (1, 2 or 5 times a power of ten, in the unit that suits the span: µs below a
    millisecond, ms below a second ...), at most ``at_most`` of them, labels all different:
    ``0 ms, 0.5 ms, 1 ms, 1.5 ms, 2 ms`` for a run of 2.3 ms."""
    span = max(span, 1e-6)
    size, unit = next(((s, u) for s, u in reversed(_UNITS) if span >= s), _UNITS[0])
    length = span / size
    step = _nice_step(length / (at_most - 1))
    # as many decimals as the step needs: 0.5 -> 1, 0.25 is never a step, 0.05 -> 2
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    ticks = []
    count = int(length / step + 1e-9)
    for index in range(count + 1):
        value = round(index * step, decimals)
        text = f"{value:.{decimals}f}".rstrip("0").rstrip(".") if decimals else f"{value:.0f}"
        ticks.append((value * size, f"{text} {unit}"))
    return ticks


def _nice_step(rough: float) -> float:
    """The smallest of 1, 2, 5 times a power of ten that is at least ``rough``."""
    power = 10.0 ** math.floor(math.log10(rough))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= rough * (1 - 1e-9))
