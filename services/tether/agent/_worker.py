"""One lifecycle for every agent worker: run until SIGTERM/SIGINT, then stop gracefully; the
one loop that consumes a stream; and the one rule for when a handled entry is acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

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
    in_flight: int = 0,
    linger: float = 0.0,
) -> None:
    """Hand each batch read from ``consumer`` to ``handle_batch``, which acknowledges what it
    has handled, until ``stop`` is set (with ``burst``: until no entry is left). An unreachable
    broker is waited out with backoff.

    With ``linger``, a batch smaller than the consumer's ``count`` waits ``linger`` seconds
    and takes the entries that came meanwhile (up to ``count`` more) before it is handed
    over: for a destination where a request costs much more than an entry (the
    OpenTelemetry endpoint). The entries stay pending meanwhile, as they do while a batch is
    handled.

    With ``in_flight`` 0, batches are read and handled one after the other. With ``in_flight``
    N, the next batch is read while up to N batches are being handled at once, so a handler
    that waits on the network (an upload) never waits for Redis, and a second upload travels
    while the control plane stores the first; handlers must then not rely on each other's
    order.
    """
    backoff = Backoff()
    ahead: asyncio.Future[list[Entry[T]]] | None = None
    handling: set[asyncio.Task[None]] = set()
    try:
        while not stop.is_set():
            try:
                _raise_failures(handling)
                if consumer.recovering:
                    # our own pending entries, read again next, include the batches in hand
                    await _finish(handling)
                if ahead is None:
                    entries = await consumer.read()
                else:
                    reading, ahead = ahead, None
                    entries = await reading
                if entries:
                    if linger and len(entries) < consumer.count:
                        entries += await _more(consumer, linger, stop)
                    if in_flight and not consumer.recovering:
                        ahead = asyncio.ensure_future(consumer.read())
                    while len(handling) >= max(in_flight, 1):
                        await asyncio.wait(handling, return_when=asyncio.FIRST_COMPLETED)
                        _raise_failures(handling)
                    handling.add(asyncio.ensure_future(handle_batch(entries)))
                    if not in_flight:
                        await _finish(handling)
                elif burst:
                    await _finish(handling)
                    return
            except BrokerUnavailable as exc:
                if stop.is_set():
                    return
                log.warning("%s; retrying", exc)
                await backoff.wait(stop)
                continue
            backoff.reset()
    finally:
        if ahead is not None:
            # entries it was handed stay pending: taken over after the idle time
            ahead.cancel()
            with contextlib.suppress(asyncio.CancelledError, BrokerUnavailable):
                await ahead
        # the handlers see ``stop`` and leave what they have not stored pending
        await asyncio.gather(*handling, return_exceptions=True)


async def _more(consumer: StreamConsumer[T], linger: float,
                stop: asyncio.Event) -> list[Entry[T]]:
    """The entries that came within ``linger`` seconds, read at once when they are over (one
    read per batch, not one per entry, which is the point of lingering)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=linger)
    # 1 ms: a block of 0 would wait for ever
    return [] if stop.is_set() else await consumer.read(block_ms=1)


def _raise_failures(handling: set[asyncio.Task[None]]) -> None:
    """Forget the handlers that are done, raising the first one's error, if any."""
    for task in [task for task in handling if task.done()]:
        handling.discard(task)
        task.result()


async def _finish(handling: set[asyncio.Task[None]]) -> None:
    if handling:
        await asyncio.wait(handling)
    _raise_failures(handling)


class Settlement(Generic[T]):
    """Decides, for every worker, when entries read from ``consumer`` are acknowledged: once
    their handling has returned. Handling that raises leaves its entries pending, and only
    them: they are delivered again after the idle time, and dead-lettered after too many
    deliveries, while the worker goes on. An unreachable broker is no entry's fault: it
    propagates, the loop waits it out, and the consumer reads its own pending entries again."""

    def __init__(self, consumer: StreamConsumer[T]) -> None:
        self.consumer = consumer
        self._handled: list[bytes] = []

    async def handle(self, entries: Sequence[Entry[T]], handling: Awaitable[object]) -> None:
        """Await ``handling``, the handling of ``entries``; once it returned, they are
        acknowledged by the next :meth:`ack`."""
        try:
            await handling
        except BrokerUnavailable:
            raise
        except Exception:
            what = ("entry " if len(entries) == 1 else "entries ") + ", ".join(
                entry.entry_id.decode() for entry in entries)
            log.exception("handling %s of %s failed; left pending", what, self.consumer.stream)
            return
        self._handled += [entry.entry_id for entry in entries]

    async def ack(self) -> None:
        """Acknowledge the entries handled since the last call, in one round trip."""
        handled, self._handled = self._handled, []
        await self.consumer.ack(handled)


async def consume(
    consumer: StreamConsumer[T],
    handle: Callable[[Entry[T]], Awaitable[None]],
    stop: asyncio.Event,
    *,
    burst: bool = False,
) -> None:
    """Hand each entry to ``handle`` and acknowledge it once handled (:class:`Settlement`);
    an entry whose handler raises stays pending and the entries after it go on being handled.
    """

    async def handle_each(entries: list[Entry[T]]) -> None:
        settlement = Settlement(consumer)
        for entry in entries:
            await settlement.handle([entry], handle(entry))
            await settlement.ack()

    await consume_batches(consumer, handle_each, stop, burst=burst)
