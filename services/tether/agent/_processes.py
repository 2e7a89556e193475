"""Child processes of agent workers: their environment, output forwarding with a kept tail,
and termination of their whole process group."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import signal
import sys
from collections.abc import Mapping
from typing import Protocol, TextIO

# user code gets none of the agent's own settings (its tokens, its database, its config file)
# except the broker address a run worker writes to
PASSED_SETTINGS = frozenset({"TETHER_REDIS_URL", "TETHER_LOG_LEVEL", "TETHER_LOG_FORMAT"})


def child_environment(base: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of a process that runs user code: ``base`` without Tether's settings
    (but those in ``PASSED_SETTINGS``), plus ``extra``."""
    env = {k: v for k, v in base.items()
           if not k.startswith("TETHER_") or k in PASSED_SETTINGS}
    env.update(extra)
    return env


class RunProcess(Protocol):
    """A run worker as the launcher tracks it: a child process, or one a zygote forked."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...


class OutputTail:
    """Forwards a child's output stream line by line to ``sink`` with a prefix and keeps the
    last ``keep`` lines, to explain a child that dies."""

    def __init__(self, reader: asyncio.StreamReader, *, prefix: str, sink: TextIO,
                 keep: int = 40) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=keep)
        self._task = asyncio.ensure_future(self._pump(reader, prefix, sink))

    async def _pump(self, reader: asyncio.StreamReader, prefix: str, sink: TextIO) -> None:
        while True:
            try:
                line = await reader.readline()
            except ValueError:
                # a line longer than the buffer: forward it in pieces
                line = await reader.read(1 << 16)
            if not line:
                break
            text = line.decode(errors="replace").rstrip("\n")
            self.lines.append(text)
            print(f"{prefix}{text}", file=sink, flush=True)

    async def text(self) -> str:
        """The kept tail, after the stream has ended."""
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        return "\n".join(self.lines)


async def spawn(
    argv: list[str], *, env: dict[str, str], cwd: str | None, prefix: str
) -> tuple[asyncio.subprocess.Process, OutputTail]:
    """Start ``argv`` in its own session (so it and its children can be signalled as one
    group), forwarding its stdout and stderr with ``prefix``; returns it and its stderr tail."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        limit=1 << 20,
    )
    assert process.stdout is not None and process.stderr is not None
    OutputTail(process.stdout, prefix=prefix, sink=sys.stdout, keep=0)
    return process, OutputTail(process.stderr, prefix=prefix, sink=sys.stderr)


async def terminate_group(process: RunProcess, grace: float) -> int:
    """SIGTERM the process's whole group, SIGKILL it after ``grace`` seconds; returns the
    exit code."""
    if process.returncode is None:
        _signal_group(process.pid, signal.SIGTERM)
        try:
            return await asyncio.wait_for(process.wait(), timeout=grace)
        except TimeoutError:
            _signal_group(process.pid, signal.SIGKILL)
    return await process.wait()


async def terminate_foreign_group(pid: int, grace: float) -> None:
    """Like :func:`terminate_group`, for a process that is not our child (another launcher
    copy on this host started it), so it is watched by polling rather than waited for."""
    _signal_group(pid, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    while _alive(pid):
        if loop.time() > deadline:
            _signal_group(pid, signal.SIGKILL)
            return
        await asyncio.sleep(0.05)


def runs_on_this_host(pid: int, marker: str) -> bool:
    """Whether ``pid`` is a live process whose command line contains ``marker`` (a run id):
    a pid alone may have been reused by an unrelated process."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return marker.encode() in file.read()
    except OSError:
        return False


def is_running(pid: int) -> bool:
    """Whether ``pid`` is a live process of this host (not a zombie waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/status") as file:
            return "\nState:\tZ" not in file.read()
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
