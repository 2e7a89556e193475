from __future__ import annotations

import asyncio
import contextlib
import random


class Backoff:
    """Exponential backoff with full jitter, reset after a success: the one retry pace of
    every loop that waits out an unreachable broker or control plane."""

    def __init__(self, *, initial: float = 0.1, maximum: float = 10.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self._ceiling = initial

    def reset(self) -> None:
        self._ceiling = self.initial

    def next_delay(self, at_least: float = 0.0) -> float:
        """The next delay in seconds (never under ``at_least``, e.g. a server's Retry-After)."""
        delay = random.uniform(self._ceiling / 2, self._ceiling)
        self._ceiling = min(self._ceiling * 2, self.maximum)
        return max(delay, at_least)

    async def wait(self, stop: asyncio.Event | None = None, at_least: float = 0.0) -> None:
        """Sleep for the next delay, or until ``stop`` is set."""
        delay = self.next_delay(at_least)
        if stop is None:
            await asyncio.sleep(delay)
        else:
            await sleep_or_stop(stop, delay)


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
