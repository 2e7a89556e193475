"""The supervisor: keeps one long-lived code server per code location and reports what each
location defines (or why it failed to load) to the control plane.

A (re)deploy starts the new server and switches to it only once it answers; the old one is
stopped afterwards. A server that dies is restarted, waiting longer after each death that
follows a short life, and its location is reported again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

import msgspec
import redis.asyncio as aioredis

from .. import _metrics as metrics
from .. import _telemetry as telemetry
from .._backoff import Backoff
from .._net import free_port
from ..broker import Entry, StreamConsumer, keys, publish
from ..codeserver import CodeServerClient, code_server_command
from ..errors import BrokerUnavailable, CodeLocationLoadError, CodeServerError
from ..wire import (
    AgentResult,
    CodeServerStatus,
    ErrorInfo,
    EvaluateTick,
    LaunchRun,
    LoadLocation,
    LocationLoaded,
    LocationLoadFailed,
    LocationSpec,
    TerminateRun,
    WorkItem,
)
from . import _ticks
from ._processes import OutputTail, child_environment, spawn, terminate_group
from ._status import reporting_status
from ._worker import consume

log = logging.getLogger(__name__)

HEALTH_INTERVAL = 1.0
# a server that lived this long before dying starts the restart backoff afresh
STABLE_SECONDS = 60.0


@dataclass
class _CodeServer:
    spec: LocationSpec
    process: asyncio.subprocess.Process
    stderr: OutputTail
    client: CodeServerClient
    started_at: float

    async def stop(self) -> None:
        await self.client.close()
        await terminate_group(self.process, grace=5.0)


class Supervisor:
    def __init__(self, *, redis: aioredis.Redis, consumer: str, base_env: Mapping[str, str],
                 start_timeout: float = 30.0, host: str = "127.0.0.1") -> None:
        self.redis = redis
        self.base_env = base_env
        self.start_timeout = start_timeout
        self.host = host
        self.consumer = StreamConsumer(redis, stream=keys.WORK_CODE,
                                       group=keys.GROUP_SUPERVISORS, consumer=consumer,
                                       message_type=WorkItem)
        self.servers: dict[str, _CodeServer] = {}
        self._restarts: dict[str, Backoff] = {}
        self._restart_count: dict[str, int] = {}
        self._next_restart: dict[str, float] = {}

    async def run(self, stop: asyncio.Event, *, burst: bool = False) -> None:
        log.info("supervisor %s ready", self.consumer.consumer)
        metrics.observe(metrics.CODE_SERVERS_RUNNING,
                        lambda: [(int(status.running), {"location": status.location})
                                 for status in self.status()])
        health = asyncio.ensure_future(self._watch_health(stop))
        try:
            async with reporting_status(self.redis, kind="supervisor",
                                        consumer=self.consumer.consumer,
                                        details=lambda: {"code_servers": self.status()}):
                await consume(self.consumer, self.handle, stop, burst=burst)
        finally:
            health.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await health
            await asyncio.gather(*(server.stop() for server in self.servers.values()))
            self.servers.clear()

    def status(self) -> list[CodeServerStatus]:
        return [
            CodeServerStatus(location=name, pid=server.process.pid,
                             address=server.client.address,
                             running=server.process.returncode is None,
                             restarts=self._restart_count.get(name, 0))
            for name, server in sorted(self.servers.items())
        ]

    async def handle(self, entry: Entry[WorkItem]) -> None:
        item = entry.message
        match item.payload:
            case LoadLocation(location=spec):
                with telemetry.span("supervisor.load", parent=entry.traceparent,
                                    attributes={"tether.location": spec.name}) as traceparent:
                    result = await self.load(spec)
                    result = msgspec.structs.replace(result, work_id=item.work_id,
                                                     epoch=item.epoch)
                    await publish(self.redis, keys.OUT_RESULTS, [result], traceparent)
            case EvaluateTick() as tick:
                with telemetry.span(f"supervisor.{tick.kind}_tick", parent=entry.traceparent,
                                    attributes={"tether.location": tick.location.name,
                                                f"tether.{tick.kind}": tick.name}
                                    ) as traceparent:
                    def client_of(name: str = tick.location.name) -> CodeServerClient | None:
                        server = self.servers.get(name)
                        return server.client if server is not None else None

                    answer = await _ticks.evaluate(item.work_id, item.epoch, tick, client_of,
                                                   traceparent=traceparent)
                    await publish(self.redis, keys.OUT_RESULTS, [answer], traceparent)
            case LaunchRun() | TerminateRun():
                log.error("work item %s belongs to the launcher; ignored", item.work_id)

    async def load(self, spec: LocationSpec) -> AgentResult:
        """Start a code server for ``spec``, replace the location's current one once the new
        one answers, and return what it loaded."""
        log.info("loading code location %s", spec.name)
        try:
            server = await self._start(spec)
        except CodeServerError as exc:
            return LocationLoadFailed(location=spec.name, error=ErrorInfo.from_exception(exc))
        result = await self._snapshot(server)
        old = self.servers.get(spec.name)
        self.servers[spec.name] = server
        if old is not None:
            await old.stop()
        return result

    async def _start(self, spec: LocationSpec) -> _CodeServer:
        port = free_port(self.host)
        env = child_environment(self.base_env, spec.env)
        # the env is in the process environment; argv is visible to every local user
        argv = code_server_command(msgspec.structs.replace(spec, env={}), port, spec.python)
        try:
            process, stderr = await spawn(argv, env=env, cwd=spec.working_directory,
                                          prefix=f"[code-server {spec.name}] ")
        except OSError as exc:
            raise CodeServerError(f"cannot start the code server of {spec.name}: {exc}") from exc
        server = _CodeServer(spec=spec, process=process, stderr=stderr,
                             client=CodeServerClient(f"{self.host}:{port}"),
                             started_at=time.monotonic())
        try:
            ready = await self._wait_ready(server)
        except BaseException:
            # cancelled while starting (a shutdown): the process must not outlive us
            await server.stop()
            raise
        if ready:
            log.info("code server of %s ready on port %d (pid %d)", spec.name, port,
                     process.pid)
            return server
        await server.stop()
        tail = await stderr.text()
        raise CodeServerError(
            f"the code server of {spec.name} did not start within {self.start_timeout:g} s "
            f"(exit code {process.returncode}); the end of its stderr:\n{tail}"
        )

    async def _wait_ready(self, server: _CodeServer) -> bool:
        """True once the server answers as the location's server, False if it exits or
        the start timeout passes first."""
        ready = asyncio.ensure_future(server.client.wait_until_ready(self.start_timeout))
        exited = asyncio.ensure_future(server.process.wait())
        try:
            await asyncio.wait({ready, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
            exited.cancel()
        if not ready.done() or ready.cancelled() or ready.exception() is not None:
            return False
        ping = ready.result()
        # a port that was free when picked may have been taken by another process since
        return ping.pid == server.process.pid and ping.location == server.spec.name

    async def _snapshot(self, server: _CodeServer) -> AgentResult:
        name = server.spec.name
        try:
            snapshot = await server.client.get_snapshot(
                timeout=self.start_timeout, traceparent=telemetry.current_traceparent())
        except CodeLocationLoadError as exc:
            log.warning("code location %s failed to load: %s", name, exc)
            return LocationLoadFailed(location=name, error=ErrorInfo(
                class_name="CodeLocationLoadError", message=str(exc),
                stack=exc.user_traceback))
        except CodeServerError as exc:
            return LocationLoadFailed(location=name, error=ErrorInfo.from_exception(exc))
        log.info("code location %s loaded: %d job(s), %d asset(s)", name, len(snapshot.jobs),
                 len(snapshot.assets))
        return LocationLoaded(location=name, snapshot=snapshot)

    async def _watch_health(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.sleep(HEALTH_INTERVAL)
            now = time.monotonic()
            for name, server in list(self.servers.items()):
                if server.process.returncode is None or now < self._next_restart.get(name, 0):
                    continue
                backoff = self._restarts.setdefault(name, Backoff(initial=1.0, maximum=60.0))
                if now - server.started_at > STABLE_SECONDS:
                    backoff.reset()
                log.warning("code server of %s exited with code %s; restarting", name,
                            server.process.returncode)
                self._restart_count[name] = self._restart_count.get(name, 0) + 1
                metrics.CODE_SERVER_RESTARTS.add(1, {"location": name})
                result = await self.load(server.spec)
                self._next_restart[name] = time.monotonic() + backoff.next_delay()
                try:
                    await publish(self.redis, keys.OUT_RESULTS, [result])
                except BrokerUnavailable as exc:
                    log.warning("could not report the reload of %s: %s", name, exc)
