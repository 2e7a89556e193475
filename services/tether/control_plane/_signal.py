"""Wakes the agents' claim long-polls of this process when work is enqueued here."""

from __future__ import annotations

import asyncio


class WorkSignal:
    """A broadcast that never loses a wake-up: a waiter takes :meth:`current` *before* it
    looks for work, so work enqueued between the look and the wait still wakes it.

    Work enqueued by another process is not signalled; the claim loop re-checks the
    database periodically for that (and for expired leases).
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def current(self) -> asyncio.Event:
        return self._event

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()
