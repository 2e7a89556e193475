"""Durations as people read them, the same in the CLI, the web UI and event messages."""

from __future__ import annotations


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
