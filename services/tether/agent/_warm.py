"""The warm run launcher: one zygote per code location, which forks run workers on request.

A launch that the warm path cannot serve (no zygote yet and it fails to start, the
location's files changed since the zygote loaded them, a broken zygote) returns None, and
the launcher starts that run cold; a replacement zygote is started for the next launches.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import msgspec

from ..broker import keys
from ..runworker._frames import async_recv_frame, frame
from ..wire import ForkExit, ForkReply, ForkRequest, LaunchRun, LocationSpec
from ._processes import OutputTail, RunUser, child_environment, spawn, terminate_group

log = logging.getLogger(__name__)

_reply_decoder = msgspec.msgpack.Decoder(ForkReply)
_exit_decoder = msgspec.msgpack.Decoder(ForkExit)


class WarmRun:
    """A run worker forked by a zygote: what the launcher needs of a process (``pid``,
    ``returncode``, ``wait()``), with its exit code reported by the zygote."""

    def __init__(self, pid: int, exit_code: asyncio.Future[int]) -> None:
        self.pid = pid
        self._exit_code = exit_code

    @property
    def returncode(self) -> int | None:
        return self._exit_code.result() if self._exit_code.done() else None

    async def wait(self) -> int:
        return await asyncio.shield(self._exit_code)


@dataclass
class _Zygote:
    spec: LocationSpec
    socket_path: str
    process: asyncio.subprocess.Process
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    watcher: asyncio.Task[None] | None = None


class WarmPool:
    def __init__(self, *, base_env: Mapping[str, str], start_timeout: float = 30.0,
                 run_user: RunUser | None = None) -> None:
        self.base_env = base_env
        # Unix socket paths must stay short (108 bytes): a private folder under /tmp
        self.runtime_dir = Path(tempfile.mkdtemp(prefix="tether-warm-"))
        # The zygote itself runs as the run user, not only its forks: it imports the user's
        # code, which would otherwise run as the agent's user (root, to switch users). It
        # binds its socket in this folder, which holds nothing but the zygotes' sockets.
        self.run_user = run_user
        if run_user is not None:
            run_user.give(self.runtime_dir)
        self.start_timeout = start_timeout
        # by served location: two deployments' locations of one name have their own code
        self._zygotes: dict[str, _Zygote] = {}

    async def fork(self, launch: LaunchRun, env: dict[str, str], traceparent: str,
                   prefix: str) -> tuple[WarmRun, OutputTail] | None:
        """A run worker for ``launch`` forked from its location's zygote, with its stderr
        tail; None when the run must start cold."""
        zygote = await self._zygote_for(launch.location, launch.deployment)
        if zygote is None:
            return None
        loop = asyncio.get_running_loop()
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, zygote.socket_path)
            request = ForkRequest(launch=launch, env=env, traceparent=traceparent)
            socket.send_fds(sock, [frame(request)], [out_write, err_write])
            reply = _reply_decoder.decode(await async_recv_frame(loop, sock))
        except (OSError, ConnectionError, msgspec.DecodeError) as exc:
            log.warning("zygote of %s did not answer (%s); starting the run cold",
                        launch.location.name, exc)
            reply = ForkReply(error=str(exc))
        finally:
            os.close(out_write)
            os.close(err_write)
        if not reply.pid:
            sock.close()
            os.close(out_read)
            os.close(err_read)
            if reply.stale:
                log.info("code of %s changed since its zygote loaded it; starting the run "
                         "cold and a new zygote", launch.location.name)
            await self._retire(keys.served_location(launch.deployment, launch.location.name))
            return None
        await _forward(out_read, prefix, sys.stdout, keep=0)
        stderr = await _forward(err_read, prefix, sys.stderr)
        exit_code: asyncio.Future[int] = loop.create_future()
        task = asyncio.ensure_future(_wait_exit(loop, sock, exit_code))
        exit_code.add_done_callback(lambda _: task.cancel())
        return WarmRun(reply.pid, exit_code), stderr

    async def prepare(self, spec: LocationSpec, deployment: str = "") -> None:
        """Start the zygote of ``deployment``'s location ahead of its first run."""
        await self._zygote_for(spec, deployment)

    async def close(self) -> None:
        await asyncio.gather(*(self._retire(name) for name in list(self._zygotes)))
        shutil.rmtree(self.runtime_dir, ignore_errors=True)

    async def _zygote_for(self, spec: LocationSpec, deployment: str) -> _Zygote | None:
        served = keys.served_location(deployment, spec.name)
        zygote = self._zygotes.get(served)
        if zygote is not None and (zygote.spec != spec or zygote.process.returncode is not None):
            await self._retire(served)
            zygote = None
        if zygote is None:
            zygote = await self._start(spec, served)
            if zygote is None:
                return None
        try:
            await asyncio.wait_for(zygote.ready.wait(), timeout=self.start_timeout)
        except TimeoutError:
            log.warning("zygote of %s is not ready after %g s", served, self.start_timeout)
            await self._retire(served)
            return None
        return zygote if zygote.process.returncode is None else None

    async def _start(self, spec: LocationSpec, served: str) -> _Zygote | None:
        digest = hashlib.sha256(
            msgspec.json.encode([served, spec])).hexdigest()[:12]
        socket_path = str(self.runtime_dir / f"{digest}.sock")
        public = msgspec.structs.replace(spec, env={})
        argv = [spec.python or sys.executable, "-m", "tether", "api", "zygote",
                "--location-json", msgspec.json.encode(public).decode(),
                "--socket", socket_path]
        try:
            process, _ = await spawn(argv, env=child_environment(self.base_env, spec.env,
                                                                 self.run_user),
                                     cwd=spec.working_directory,
                                     prefix=f"[zygote {served}] ", run_user=self.run_user)
        except OSError as exc:
            log.warning("cannot start the zygote of %s: %s", served, exc)
            return None
        zygote = _Zygote(spec=spec, socket_path=socket_path, process=process)
        self._zygotes[served] = zygote
        zygote.watcher = asyncio.ensure_future(_watch_ready(zygote))
        return zygote

    async def _retire(self, name: str) -> None:
        zygote = self._zygotes.pop(name, None)
        if zygote is not None:
            await terminate_group(zygote.process, grace=5.0)


async def _watch_ready(zygote: _Zygote) -> None:
    """The zygote is ready once its socket exists (it binds after loading the code)."""
    while zygote.process.returncode is None:
        if os.path.exists(zygote.socket_path):
            zygote.ready.set()
            return
        await asyncio.sleep(0.01)
    zygote.ready.set()  # it died: waiters find it gone


async def _forward(fd: int, prefix: str, sink: TextIO, keep: int = 40) -> OutputTail:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    pipe = os.fdopen(fd, "rb", buffering=0)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
    return OutputTail(reader, prefix=prefix, sink=sink, keep=keep)


async def _wait_exit(loop: asyncio.AbstractEventLoop, sock: socket.socket,
                     exit_code: asyncio.Future[int]) -> None:
    try:
        code = _exit_decoder.decode(await async_recv_frame(loop, sock)).exit_code
    except (OSError, ConnectionError, msgspec.DecodeError):
        # the zygote went away before its child ended: the exit is unknown
        code = -1
    finally:
        sock.close()
    if not exit_code.done():
        exit_code.set_result(code)



