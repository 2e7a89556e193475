"""Waiting in tests for what a test observes, never for a fixed time: ``eventually()`` asks
again until the answer is truthy or the deadline passes (temporalio's ``assert_eventually``)."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

T = TypeVar("T")


def eventually(check: Callable[[], T], *, what: str, timeout: float = 60.0,
               every: float = 0.1, meanwhile: Callable[[], object] | None = None,
               detail: Callable[[], str] | None = None) -> T:
    """``check()``'s first truthy value, asked every ``every`` seconds; an ``AssertionError``
    naming ``what`` (and ``detail()``, e.g. the processes' logs) once ``timeout`` seconds have
    passed. ``meanwhile`` runs between tries, to fail early (e.g. when a process died)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        if meanwhile is not None:
            meanwhile()
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}"
                         + (f"\n{detail()}" if detail is not None else ""))


async def eventually_async(check: Callable[[], Awaitable[T]], *, what: str,
                           timeout: float = 20.0, every: float = 0.05) -> T:
    """``eventually()`` for an event loop: ``await check()`` until its value is truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if loop.time() >= deadline:
            break
        await asyncio.sleep(every)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def launched_once_loaded(launch: Callable[[], subprocess.CompletedProcess[str]],
                         timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """``launch()``'s answer (a ``tether run launch`` through the CLI), asked again while it
    says the code location is not loaded: right after start-up it may still be loading."""
    def answered() -> subprocess.CompletedProcess[str] | None:
        launched = launch()
        loading = launched.returncode != 0 and "not loaded" in launched.stderr.lower()
        return None if loading else launched

    return eventually(answered, timeout=timeout, every=0.5, what="the code location to load")


def holds(check: Callable[[], object], *, seconds: float, what: str,
          every: float = 0.1) -> None:
    """That ``check()`` stays truthy, asked every ``every`` seconds for ``seconds``: the
    proof that something does not happen needs time to pass, and this watches it pass
    rather than sleeping through it."""
    deadline = time.monotonic() + seconds
    while True:
        assert check(), f"no longer {what}"
        if time.monotonic() >= deadline:
            return
        time.sleep(every)


def wait_serving(url: str, *, meanwhile: Callable[[], object], timeout: float = 30.0) -> None:
    """Until the control plane at ``url`` answers its health check; ``meanwhile`` asserts
    that its process still runs."""
    def healthy() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=1).text == "ok"
        except httpx.HTTPError:
            return False

    eventually(healthy, timeout=timeout, what="the control plane to become healthy",
               meanwhile=meanwhile)
