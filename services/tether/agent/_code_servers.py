"""Code server processes as the supervisor holds them: started by it, or adopted from a
supervisor that died.

A code server runs in its own session (so the supervisor's death does not take it along)
and writes its stdout and stderr to a log file rather than a pipe (so it does not lose its
output, or get EPIPE, once the supervisor that started it is gone). The supervisor follows
that file: it forwards the lines with a prefix and keeps the tail that explains a death.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TextIO, TypeVar

import msgspec

from .. import _telemetry as telemetry
from .._net import free_port
from ..broker import keys
from ..codeserver import CodeServerClient, PingInfo, code_server_command
from ..errors import CodeLocationLoadError, CodeServerError
from ..wire import (
    AgentResult,
    CodeServerRecord,
    ErrorInfo,
    LocationLoaded,
    LocationLoadFailed,
    LocationSpec,
)
from ._code_registry import CodeRegistry
from ._processes import (
    RunUser,
    child_environment,
    runs_on_this_host,
    terminate_foreign_group,
    terminate_group,
)

if TYPE_CHECKING:
    from ._code_server_containers import CodeServerContainers, ContainerProcess

log = logging.getLogger(__name__)

T = TypeVar("T")

# in every code server's command line (`python -m tether code-server serve ...`)
COMMAND_MARKER = "code-server"
PING_TIMEOUT = 2.0
# consecutive failed pings after which a running server counts as hung and is replaced
MAX_FAILED_PINGS = 3
_FOLLOW_INTERVAL = 0.2


class LogFollower:
    """Follows a log file: forwards each new line to ``sink`` with ``prefix`` and keeps the
    last ``keep`` lines. ``from_end`` skips what the file held already (an adopted server)."""

    def __init__(self, path: Path, *, prefix: str, sink: TextIO = sys.stderr, keep: int = 40,
                 from_end: bool = False) -> None:
        self.path = path
        self.lines: collections.deque[str] = collections.deque(maxlen=keep)
        self._prefix = prefix
        self._sink = sink
        self._offset = path.stat().st_size if from_end and path.exists() else 0
        self._partial = b""
        self._task = asyncio.ensure_future(self._follow())

    async def _follow(self) -> None:
        while True:
            self.read()
            await asyncio.sleep(_FOLLOW_INTERVAL)

    def read(self) -> None:
        """Take in what was written since the last read."""
        try:
            with self.path.open("rb") as file:
                file.seek(self._offset)
                data = file.read()
        except OSError:
            return
        if not data:
            return
        self._offset += len(data)
        *complete, self._partial = (self._partial + data).split(b"\n")
        for raw in complete:
            text = raw.decode(errors="replace")
            self.lines.append(text)
            print(f"{self._prefix}{text}", file=self._sink, flush=True)

    def tail(self) -> str:
        self.read()
        return "\n".join([*self.lines, self._partial.decode(errors="replace")]).rstrip()

    async def close(self, *, delete: bool) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self.read()
        if delete:
            with contextlib.suppress(OSError):
                self.path.unlink()


class ServerLog(Protocol):
    """Where a code server's output is followed (a log file, or a pod's log)."""

    def tail(self) -> str: ...

    async def close(self, *, delete: bool) -> None: ...


@dataclass(eq=False)
class CodeServer:
    """One code server of a location; ``child`` is None for a server adopted from a
    supervisor that died (it is not this process's child, so it is watched through /proc).
    A server in a container (``record.container_id``) is watched and stopped through the
    Docker Engine (``containers``)."""

    record: CodeServerRecord
    client: CodeServerClient
    log: ServerLog
    child: asyncio.subprocess.Process | ContainerProcess | None = None
    containers: CodeServerContainers | None = None
    failed_pings: int = 0
    # it answers, but the location's code failed to load in it (it is retried)
    load_failed: bool = False
    started: float = field(default_factory=time.monotonic)

    @property
    def name(self) -> str:
        return self.record.location

    @property
    def served(self) -> str:
        """The served location (its deployment's location) this server is of."""
        return keys.served_location(self.record.deployment, self.record.location)

    @property
    def pid(self) -> int:
        return self.record.pid

    @property
    def alive(self) -> bool:
        if self.child is not None:
            return self.child.returncode is None
        return is_code_server(self.pid, self.name)

    def exit_description(self) -> str:
        code = self.child.returncode if self.child is not None else None
        return f"exited with code {code}" if code is not None else "is gone"

    def served_by(self, ping: PingInfo) -> bool:
        """Whether ``ping`` is this server's answer (a port that was free when picked may
        have been taken by another process since). A server in a container answers with its
        pid in the container's namespace, not the host's."""
        return ping.location == self.name and (bool(self.record.container_id)
                                               or ping.pid == self.pid)

    async def stop(self, grace: float = 5.0) -> None:
        await self.client.close()
        if self.record.container_id and self.containers is not None:
            await self.containers.stop(self.record.container_id, grace)
        elif isinstance(self.child, asyncio.subprocess.Process):
            await terminate_group(self.child, grace)
        elif self.alive:
            await terminate_foreign_group(self.pid, grace)
        await self.log.close(delete=True)


def is_code_server(pid: int, location: str) -> bool:
    """Whether ``pid`` is a live code server of ``location`` (a pid alone may have been
    reused by another process since it was recorded)."""
    return (runs_on_this_host(pid, COMMAND_MARKER)
            and runs_on_this_host(pid, msgspec.json.encode({"name": location}).decode()[1:-1]))


async def spawn_code_server(spec: LocationSpec, *, generation: int, host: str, hostname: str,
                            base_env: dict[str, str], log_dir: Path,
                            run_user: RunUser | None = None) -> CodeServer:
    """Start a code server for ``spec`` (not waiting for it to answer), as ``run_user`` if
    given; it writes to a log file the supervisor opened (in its private data folder)."""
    port = free_port(host)
    log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    log_path = log_dir / f"{spec.name}-{generation}-{port}.log"
    env = child_environment(base_env, spec.env, run_user)
    # the env is in the process environment; argv is visible to every local user
    argv = code_server_command(msgspec.structs.replace(spec, env={}), port, spec.python)
    try:
        with log_path.open("ab") as log_file:
            process = await asyncio.create_subprocess_exec(
                *argv, env=env, cwd=spec.working_directory, stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
                **(run_user.popen_options() if run_user is not None else {}))
    except OSError as exc:
        raise CodeServerError(f"cannot start the code server of {spec.name}: {exc}") from exc
    record = CodeServerRecord(location=spec.name, generation=generation, pid=process.pid,
                              address=f"{host}:{port}", host=hostname, log_path=str(log_path),
                              started_at=time.time())
    return CodeServer(record=record, client=CodeServerClient(record.address),
                      log=LogFollower(log_path, prefix=f"[code-server {spec.name}] "),
                      child=process)


def adoptable(record: CodeServerRecord) -> CodeServer | None:
    """A handle on the recorded server when its process still runs, else None."""
    if not is_code_server(record.pid, record.location):
        return None
    return CodeServer(record=record, client=CodeServerClient(record.address),
                      log=LogFollower(Path(record.log_path),
                                      prefix=f"[code-server {record.location}] ",
                                      from_end=True))


def adopt(recorded: list[CodeServerRecord], generation: int) -> CodeServer | None:
    """A handle on the newest recorded server of ``generation`` that still runs (that of a
    supervisor that died), if any; its health is checked next, like any server's."""
    for record in sorted(recorded, key=lambda r: r.started_at, reverse=True):
        if record.generation != generation:
            continue
        server = adoptable(record)
        if server is not None:
            log.info("adopted the code server of %s (pid %d, %s)",
                     keys.served_location(record.deployment, record.location),
                     record.pid, record.address)
            return server
    return None


async def check_health(server: CodeServer) -> bool:
    """Whether the server runs and answers as the location's server (a gRPC Ping); it
    counts as hung only after ``MAX_FAILED_PINGS`` unanswered pings in a row."""
    if not server.alive:
        return False
    try:
        ping = await server.client.ping(timeout=PING_TIMEOUT)
    except CodeServerError:
        server.failed_pings += 1
        return server.failed_pings < MAX_FAILED_PINGS
    server.failed_pings = 0
    # an adopted server tells this way that the location's code failed to load in it
    server.load_failed = server.load_failed or ping.load_error
    return server.served_by(ping)


async def stop_recorded(record: CodeServerRecord, grace: float = 5.0,
                        containers: CodeServerContainers | None = None) -> None:
    """Stop a recorded server that nobody serves from (an orphan), if it still runs."""
    if record.container_id and containers is not None:
        await containers.stop(record.container_id, grace)
    elif is_code_server(record.pid, record.location):
        await terminate_foreign_group(record.pid, grace)
    with contextlib.suppress(OSError):
        os.unlink(record.log_path)


async def stop_orphans(registry: CodeRegistry, records: list[CodeServerRecord],
                       containers: CodeServerContainers | None = None) -> None:
    """Stop recorded servers that nobody serves from, and forget them."""
    for record in records:
        log.info("stopping orphaned code server of %s (pid %d)", record.location, record.pid)
        await stop_recorded(record, containers=containers)
        await registry.forget_server(record)


async def stop_unserved(registry: CodeRegistry, host: str, *, skip: set[int],
                        containers: CodeServerContainers | None = None) -> set[str]:
    """Stop the servers recorded on ``host`` (but those of ``skip``) that no live supervisor
    serves: those of a predecessor that was killed, which a supervisor that stops had no time
    to adopt (or even to look at). Returns the locations whose ownership this took."""
    taken = set()
    for record in await registry.servers(host):
        served = keys.served_location(record.deployment, record.location)
        if record.pid in skip or not await registry.own(served):
            continue
        taken.add(served)
        await stop_orphans(registry, [record], containers)
    return taken


async def wait_ready(server: CodeServer, timeout: float) -> bool:
    """True once a server it started answers as the location's server, False if it exits or
    ``timeout`` passes first."""
    assert server.child is not None
    ready = asyncio.ensure_future(server.client.wait_until_ready(timeout))
    exited = asyncio.ensure_future(server.child.wait())
    try:
        await asyncio.wait({ready, exited}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        ready.cancel()
        exited.cancel()
    if not ready.done() or ready.cancelled() or ready.exception() is not None:
        return False
    return server.served_by(ready.result())


async def ask(servers: Mapping[str, CodeServer], name: str, timeout: float,
              call: Callable[[CodeServerClient, float], Awaitable[T]]) -> T:
    """``call(client, seconds left)`` on the code server of location ``name`` in ``servers``
    (the supervisor's, which it updates meanwhile), waiting through a restart and retrying a
    failed call, for at most ``timeout`` seconds in all; raises CodeServerError with the last
    failure after that."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = "it has no code server here"
    while True:
        server = servers.get(name)
        remaining = deadline - loop.time()
        if server is not None and server.alive and remaining > 0:
            try:
                return await call(server.client, remaining)
            except CodeServerError as exc:
                last = str(exc)
        if loop.time() >= deadline:
            raise CodeServerError(f"code location {name}: no code server answered within "
                                  f"{timeout:g} s; last: {last}")
        await asyncio.sleep(0.05)


async def query_snapshot(server: CodeServer, generation: int, timeout: float) -> AgentResult:
    """What the server loaded, as the result the supervisor reports: the snapshot, or the
    user's load error with their traceback."""
    name = server.name
    try:
        snapshot = await server.client.get_snapshot(
            timeout=timeout, traceparent=telemetry.current_traceparent())
    except CodeLocationLoadError as exc:
        log.warning("code location %s failed to load: %s", name, exc)
        return LocationLoadFailed(location=name, generation=generation, error=ErrorInfo(
            class_name="CodeLocationLoadError", message=str(exc),
            stack=exc.user_traceback))
    except CodeServerError as exc:
        return LocationLoadFailed(location=name, generation=generation,
                                  error=ErrorInfo(class_name="CodeServerError",
                                                  message=str(exc)))
    log.info("code location %s loaded: %d job(s), %d asset(s)", name, len(snapshot.jobs),
             len(snapshot.assets))
    return LocationLoaded(location=name, snapshot=snapshot, generation=generation)
