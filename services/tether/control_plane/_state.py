"""What the web app's handlers share: the settings, the store and the work signal, which
exist only between start-up and shutdown (the lifespan)."""

from __future__ import annotations

import asyncio

from tether.settings import Settings

from ._signal import WorkSignal
from .storage import Store


class AppState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store: Store | None = None
        self._signal: WorkSignal | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stopping = False

    def start(self, store: Store) -> None:
        self._store = store
        # created inside the running event loop, which its events belong to
        self._signal = WorkSignal()
        self._loop = asyncio.get_running_loop()
        self.stopping = False

    def stop(self) -> Store | None:
        store, self._store, self._signal, self._loop = self._store, None, None, None
        return store

    def request_shutdown(self) -> None:
        """Answer every held claim now, so a graceful shutdown need not wait out the
        long-polls. Safe to call from a signal handler or another thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._release_waiters)

    def _release_waiters(self) -> None:
        self.stopping = True
        if self._signal is not None:
            self._signal.notify()

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the control plane app is not started (lifespan not run)")
        return self._store

    @property
    def signal(self) -> WorkSignal:
        if self._signal is None:
            raise RuntimeError("the control plane app is not started (lifespan not run)")
        return self._signal
