"""One lifecycle for every agent worker: run until SIGTERM/SIGINT, then stop gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ..broker import Entry, StreamConsumer
from ..errors import BrokerUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")


def run_until_stopped(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)`` in a fresh event loop; SIGTERM or SIGINT sets ``stop``, and ``main``
    is expected to finish its current item and return."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())


class Backoff:
    """Exponential backoff with full jitter, reset after a success."""

    def __init__(self, *, initial: float = 0.2, maximum: float = 10.0) -> None:
        self.initial = initial
        self.maximum = maximum
        self._current = initial

    def reset(self) -> None:
        self._current = self.initial

    async def wait(self, stop: asyncio.Event) -> None:
        """Sleep for the next delay, or until ``stop`` is set."""
        delay = random.uniform(0, self._current)
        self._current = min(self._current * 2, self.maximum)
        await sleep_or_stop(stop, delay)


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def consume(
    consumer: StreamConsumer[T],
    handle: Callable[[Entry[T]], Awaitable[None]],
    stop: asyncio.Event,
    *,
    burst: bool = False,
) -> None:
    """Hand each entry of ``consumer`` to ``handle`` and acknowledge it once handled, until
    ``stop`` is set (with ``burst``: until no entry is left).

    An entry whose handler raises stays pending: it is delivered again after the idle time, and
    dead-lettered after too many deliveries. An unreachable broker is waited out with backoff.
    """
    backoff = Backoff()
    while not stop.is_set():
        try:
            entries = await consumer.read()
            for entry in entries:
                try:
                    await handle(entry)
                except BrokerUnavailable:
                    raise
                except Exception:
                    log.exception("handling entry %s of %s failed; it stays pending",
                                  entry.entry_id.decode(), consumer.stream)
                    continue
                await consumer.ack([entry.entry_id])
        except BrokerUnavailable as exc:
            if stop.is_set():
                return
            log.warning("%s; retrying", exc)
            await backoff.wait(stop)
            continue
        backoff.reset()
        if burst and not entries:
            return
