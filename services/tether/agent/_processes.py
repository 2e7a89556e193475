"""Child processes of agent workers: their environment, output forwarding with a kept tail,
and termination of their whole process group."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import pwd
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

from ..errors import ConfigError

# user code gets none of the agent's own settings (its tokens, its database, its config file,
# its broker URL): a run worker is handed a broker URL of its own, a restricted user (see
# tether.broker._acl), and code servers and zygotes need none
PASSED_SETTINGS = frozenset({"TETHER_LOG_LEVEL", "TETHER_LOG_FORMAT"})


# Linux capabilities (<linux/capability.h>) that running processes as another user takes:
# start them as it, signal them, and give the warm zygotes their socket folder
_CAP_CHOWN = 0
_CAP_KILL = 5
_CAP_SETGID = 6
_CAP_SETUID = 7
_CAPABILITIES = "CAP_SETUID, CAP_SETGID, CAP_KILL and CAP_CHOWN"


@dataclass(frozen=True)
class RunUser:
    """The OS user that the processes running user code (run workers, warm zygotes, code
    servers) are started as (``TETHER_RUN_USER``): they then cannot read the agent's files
    or, the agent being another user, its processes' environment and memory."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str

    @classmethod
    def lookup(cls, name: str) -> RunUser:
        """The user ``name`` (or a numeric uid), checked to be one this process can start
        processes as."""
        try:
            entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
        except KeyError:
            raise ConfigError(f"TETHER_RUN_USER={name}: no such user on this host") from None
        user = cls(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid,
                   groups=tuple(os.getgrouplist(entry.pw_name, entry.pw_gid)),
                   home=entry.pw_dir)
        if user.switches and not _can_switch_user():
            raise ConfigError(f"TETHER_RUN_USER={name}: running processes as another user "
                              f"needs root, or the capabilities {_CAPABILITIES}")
        return user

    @property
    def switches(self) -> bool:
        """Whether its processes run as another user than this one."""
        return self.uid != os.geteuid()

    def environment(self) -> dict[str, str]:
        return {"HOME": self.home, "USER": self.name, "LOGNAME": self.name}

    def popen_options(self) -> dict[str, Any]:
        """``subprocess.Popen`` arguments that start the process as this user, with its own
        groups (never the agent's: root's group would open root's group-readable files)."""
        if not self.switches:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": list(self.groups)}

    def give(self, path: Path) -> None:
        """Make this user the owner of ``path`` (a folder its processes create files in)."""
        if self.switches:
            os.chown(path, self.uid, self.gid)

    def prepare_storage(self, storage_dir: Path, data_dir: Path) -> None:
        """Make ``storage_dir`` (where run workers store step outputs) a folder this user
        owns. It cannot lie inside the agent's data folder, which is private to the agent."""
        if not self.switches:
            return
        storage_dir, data_dir = storage_dir.resolve(), data_dir.resolve()
        if storage_dir.is_relative_to(data_dir):
            raise ConfigError(
                f"TETHER_RUN_USER={self.name}: run workers store step outputs in {storage_dir}, "
                f"inside the agent's data folder {data_dir}, which only the agent may enter; "
                f"set TETHER_STORAGE_DIR to a folder outside it (the launcher creates it and "
                f"gives it to {self.name})")
        storage_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.give(storage_dir)


def _can_switch_user() -> bool:
    if os.geteuid() == 0:
        return True
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return False
    effective = next((int(line.split()[1], 16) for line in status.splitlines()
                      if line.startswith("CapEff:")), 0)
    needed = sum(1 << cap for cap in (_CAP_CHOWN, _CAP_KILL, _CAP_SETGID, _CAP_SETUID))
    return effective & needed == needed


def child_environment(base: Mapping[str, str], extra: Mapping[str, str],
                      run_user: RunUser | None = None) -> dict[str, str]:
    """The environment of a process that runs user code: ``base`` without Tether's settings
    (but those in ``PASSED_SETTINGS``), the run user's ``HOME``, ``USER`` and ``LOGNAME``,
    then ``extra``."""
    env = {k: v for k, v in base.items()
           if not k.startswith("TETHER_") or k in PASSED_SETTINGS}
    if run_user is not None:
        env.update(run_user.environment())
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
    argv: list[str], *, env: dict[str, str], cwd: str | None, prefix: str,
    run_user: RunUser | None = None,
) -> tuple[asyncio.subprocess.Process, OutputTail]:
    """Start ``argv`` in its own session (so it and its children can be signalled as one
    group), as ``run_user`` if given, forwarding its stdout and stderr with ``prefix``;
    returns it and its stderr tail."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
        limit=1 << 20,
        **(run_user.popen_options() if run_user is not None else {}),
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
