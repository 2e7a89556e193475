"""When the supervisor tries a location's code server again: after a failed load, a server
that could not start, or one that died.

Each location waits longer after each failure (backoff with jitter, capped at
``MAX_RETRY_SECONDS``), starting afresh with each deploy and after a stable run. A failed
location is also retried at once when its files change: a fix saved, a module or a config
file that was not there yet, the location's interpreter appearing. Those files are watched by
a cheap poll of their mtimes, only while a retry is pending.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

from .._backoff import Backoff
from ..wire import LocationSpec

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 300.0
# the files whose change retries a failed location: its source and its configuration (not
# logs or databases, which change all the time)
WATCHED_SUFFIXES = frozenset({".py", ".pth", ".toml", ".cfg", ".ini", ".json", ".yaml", ".yml",
                              ".env"})
# folders never walked: hidden ones (.git, .venv, .tether), caches and installed packages
SKIPPED_FOLDERS = frozenset({"__pycache__", "node_modules", "site-packages", "venv"})
# a working directory this big is watched only in part (the names looked at, watched or not):
# a poll must stay cheap
MAX_LOOKED_AT = 20_000


@dataclass
class _Plan:
    generation: int
    backoff: Backoff
    # time.monotonic() of the next attempt, and the same moment as wall-clock time
    due_at: float = 0.0
    due_at_wall: float = 0.0
    # the location's files as the last attempt found them (None: not looked at)
    files: int | None = None


class Retries:
    def __init__(self, *, first: float = FIRST_RETRY_SECONDS,
                 maximum: float = MAX_RETRY_SECONDS) -> None:
        """``first``: the longest wait before the first retry; each failure doubles it,
        up to ``maximum``."""
        self.first = first
        self.maximum = maximum
        self._plans: dict[str, _Plan] = {}

    def _plan(self, name: str, generation: int) -> _Plan:
        plan = self._plans.get(name)
        if plan is None or plan.generation != generation:
            # a new deploy: its failures start a backoff of their own
            plan = self._plans[name] = _Plan(generation, Backoff(initial=self.first,
                                                                 maximum=self.maximum))
        return plan

    async def attempting(self, name: str, spec: LocationSpec, generation: int) -> None:
        """An attempt starts: remember the files it loads from, so that a change made
        while it fails (or after) retries it at once."""
        self._plan(name, generation).files = await asyncio.to_thread(fingerprint, spec)

    def failed(self, name: str, generation: int) -> float:
        """The attempt failed (or the server died): when the next one is due, as wall-clock
        time (what users are shown)."""
        plan = self._plan(name, generation)
        delay = plan.backoff.next_delay()
        plan.due_at = time.monotonic() + delay
        plan.due_at_wall = time.time() + delay
        return plan.due_at_wall

    def stable(self, name: str) -> None:
        """The location's server has run well for a while: the next failure is retried
        soon again."""
        plan = self._plans.get(name)
        if plan is not None:
            plan.backoff.reset()

    def next_retry_at(self, name: str) -> float:
        """The wall-clock time of the location's next attempt (0: none is planned)."""
        plan = self._plans.get(name)
        return plan.due_at_wall if plan is not None else 0.0

    def forget(self, name: str) -> None:
        self._plans.pop(name, None)

    async def due(self, name: str, spec: LocationSpec, generation: int) -> bool:
        """Whether to try deploy ``generation`` of the location now: it is a new deploy, its
        retry time has come, or its files changed since the last attempt."""
        plan = self._plans.get(name)
        if plan is None or plan.generation != generation or time.monotonic() >= plan.due_at:
            return True
        if plan.files is None:
            return False
        return await asyncio.to_thread(fingerprint, spec) != plan.files


def clock(timestamp: float) -> str:
    """A retry time as the logs give it."""
    return time.strftime("%H:%M:%S", time.localtime(timestamp))


def fingerprint(spec: LocationSpec) -> int:
    """A hash of the names, sizes and mtimes of the location's watched files (and of its
    interpreter): any file added, removed or changed changes it."""
    stamps: list[tuple[str, int, int]] = []
    roots = [Path(spec.working_directory or os.getcwd())]
    if spec.python_file:
        roots.append((roots[0] / spec.python_file).parent)
    budget = MAX_LOOKED_AT
    for root in dict.fromkeys(roots):
        budget = _walk(str(root), stamps, budget)
    if spec.python:
        _stamp(spec.python, stamps)
    return hash(tuple(sorted(stamps)))


def _walk(root: str, stamps: list[tuple[str, int, int]], budget: int) -> int:
    """Stamp the watched files under ``root``, looking at ``budget`` names at most; returns
    what is left of the budget."""
    for folder, folders, files in os.walk(root):
        folders[:] = sorted(name for name in folders
                            if not name.startswith(".") and name not in SKIPPED_FOLDERS)
        budget -= len(folders) + len(files)
        for name in files:
            if os.path.splitext(name)[1] in WATCHED_SUFFIXES:
                _stamp(os.path.join(folder, name), stamps)
        if budget <= 0:
            break
    return budget


def _stamp(path: str, stamps: list[tuple[str, int, int]]) -> None:
    try:
        info = os.stat(path)
    except OSError:
        return
    stamps.append((path, info.st_size, info.st_mtime_ns))
