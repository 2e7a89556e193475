"""One lifecycle for every agent worker: run until SIGTERM/SIGINT, then stop gracefully; and
the one loop that consumes a stream."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .._backoff import Backoff
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


async def consume_batches(
    consumer: StreamConsumer[T],
    handle_batch: Callable[[list[Entry[T]]], Awaitable[None]],
    stop: asyncio.Event,
    *,
    burst: bool = False,
    read_ahead: bool = False,
) -> None:
    """Hand each batch read from ``consumer`` to ``handle_batch``, which acknowledges what it
    has handled, until ``stop`` is set (with ``burst``: until no entry is left). An unreachable
    broker is waited out with backoff.

    With ``read_ahead``, the next batch is read while one is handled, so a slow handler (an
    upload) never waits for Redis; batches are still handled one after the other, in order.
    """
    backoff = Backoff()
    ahead: asyncio.Future[list[Entry[T]]] | None = None
    try:
        while not stop.is_set():
            try:
                if ahead is None:
                    entries = await consumer.read()
                else:
                    reading, ahead = ahead, None
                    entries = await reading
                if entries:
                    # not while recovering our own pending entries: they include this batch
                    if read_ahead and not consumer.recovering:
                        ahead = asyncio.ensure_future(consumer.read())
                    await handle_batch(entries)
            except BrokerUnavailable as exc:
                if stop.is_set():
                    return
                log.warning("%s; retrying", exc)
                await backoff.wait(stop)
                continue
            backoff.reset()
            if burst and not entries:
                return
    finally:
        if ahead is not None:
            # entries it was handed stay pending: taken over after the idle time
            ahead.cancel()
            with contextlib.suppress(asyncio.CancelledError, BrokerUnavailable):
                await ahead


async def consume(
    consumer: StreamConsumer[T],
    handle: Callable[[Entry[T]], Awaitable[None]],
    stop: asyncio.Event,
    *,
    burst: bool = False,
) -> None:
    """Hand each entry to ``handle`` and acknowledge it once handled.

    An entry whose handler raises stays pending: it is delivered again after the idle time, and
    dead-lettered after too many deliveries; the entries after it go on being handled.
    """

    async def handle_each(entries: list[Entry[T]]) -> None:
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

    await consume_batches(consumer, handle_each, stop, burst=burst)
