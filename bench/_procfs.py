"""Memory and CPU time of a process tree from /proc, for benchmarks on Linux.

Standard library only: the Dagster side of ``dagster_side_by_side.py`` imports it too, from
Dagster's own virtualenv.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

__all__ = ["PeakRss", "cpu_seconds", "rss_bytes", "tree_pids"]

_PROC = Path("/proc")


def tree_pids(root: int) -> list[int]:
    """``root`` and every living descendant of it."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        try:
            threads = os.listdir(_PROC / str(pid) / "task")
        except OSError:
            continue  # exited while we looked
        # each thread lists the children it forked; a multithreaded server forks from several
        for tid in threads:
            try:
                children = (_PROC / str(pid) / "task" / tid / "children").read_text()
            except OSError:
                continue
            todo.extend(int(child) for child in children.split())
    return found


def rss_bytes(pids: list[int]) -> int:
    """The sum of the resident set sizes (VmRSS) of ``pids`` that still exist."""
    total = 0
    for pid in pids:
        try:
            status = (_PROC / str(pid) / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
                break
    return total


def cpu_seconds(pids: list[int]) -> float:
    """The CPU time (user and system) ``pids`` have used, with that of the children they have
    reaped: over a whole process tree, what the tree has used so far. Unlike a wall-clock
    rate, this does not change when other work shares the machine."""
    ticks = 0
    for pid in pids:
        try:
            stat = (_PROC / str(pid) / "stat").read_text()
        except OSError:
            continue
        # the fields after the command name, which may hold spaces, start after its ")"
        fields = stat[stat.rindex(")") + 2:].split()
        ticks += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


class PeakRss:
    """The highest sum of VmRSS over the process tree ``roots()`` names, sampled in a thread
    every ``interval`` seconds while the block runs (``.peak`` in bytes afterwards)."""

    def __init__(self, roots: Callable[[], list[int]], interval: float = 0.05) -> None:
        self._roots = roots
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.peak = 0

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            pids = {pid for root in self._roots() for pid in tree_pids(root)}
            pids.discard(os.getpid())
            self.peak = max(self.peak, rss_bytes(sorted(pids)))
            if self._stop.wait(self._interval):
                return
