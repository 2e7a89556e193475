"""The supervisor: keeps one long-lived code server per code location and reports what each
location defines (or why it failed to load) to the control plane.

A (re)deploy starts the new server and switches to it only once it answers; the old one is
stopped afterwards. A server that dies is restarted with backoff and its location reported
again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field

import msgspec
import redis.asyncio as aioredis

from .._net import free_port
from ..broker import StreamConsumer, keys, publish
from ..codeserver import CodeServerClient, code_server_command
from ..errors import BrokerUnavailable, CodeLocationLoadError, CodeServerError
from ..wire import (
    AgentResult,
    ErrorInfo,
    LaunchRun,
    LoadLocation,
    LocationLoaded,
    LocationLoadFailed,
    LocationSpec,
    TerminateRun,
    WorkItem,
)
from ._processes import OutputTail, child_environment, spawn, terminate_group
from ._worker import consume
from .launcher import SECRET_VARIABLES

log = logging.getLogger(__name__)

HEALTH_INTERVAL = 1.0


@dataclass
class _CodeServer:
    spec: LocationSpec
    process: asyncio.subprocess.Process
    stderr: OutputTail
    client: CodeServerClient
    restarts: int = 0
    next_restart: float = field(default=0.0)

    async def stop(self) -> None:
        await self.client.close()
        await terminate_group(self.process, grace=5.0)


class Supervisor:
    def __init__(self, *, redis: aioredis.Redis, consumer: str, start_timeout: float = 30.0,
                 host: str = "127.0.0.1") -> None:
        self.redis = redis
        self.start_timeout = start_timeout
        self.host = host
        self.consumer = StreamConsumer(redis, stream=keys.WORK_CODE,
                                       group=keys.GROUP_SUPERVISORS, consumer=consumer,
                                       message_type=WorkItem)
        self.servers: dict[str, _CodeServer] = {}

    async def run(self, stop: asyncio.Event, *, burst: bool = False) -> None:
        log.info("supervisor %s ready", self.consumer.consumer)
        health = asyncio.ensure_future(self._watch_health(stop))
        try:
            await consume(self.consumer, lambda entry: self.handle(entry.message), stop,
                          burst=burst)
        finally:
            health.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await health
            await asyncio.gather(*(server.stop() for server in self.servers.values()))
            self.servers.clear()

    async def handle(self, item: WorkItem) -> None:
        match item.payload:
            case LoadLocation(location=spec):
                result = await self.load(spec)
                await self._report(result, item)
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
        env = child_environment(dict(os.environ), spec.env, drop=SECRET_VARIABLES)
        try:
            process, stderr = await spawn(
                code_server_command(spec, port, spec.python), env=env,
                cwd=spec.working_directory, prefix=f"[code-server {spec.name}] ",
            )
        except OSError as exc:
            raise CodeServerError(f"cannot start the code server of {spec.name}: {exc}") from exc
        client = CodeServerClient(f"{self.host}:{port}")
        server = _CodeServer(spec=spec, process=process, stderr=stderr, client=client)
        ready = asyncio.ensure_future(client.wait_until_ready(self.start_timeout))
        exited = asyncio.ensure_future(process.wait())
        await asyncio.wait({ready, exited}, return_when=asyncio.FIRST_COMPLETED)
        if ready.done() and ready.exception() is None:
            exited.cancel()
            log.info("code server of %s ready on port %d (pid %d)", spec.name, port, process.pid)
            return server
        ready.cancel()
        exited.cancel()
        await server.stop()
        tail = await stderr.text()
        raise CodeServerError(
            f"the code server of {spec.name} did not start within {self.start_timeout:g} s "
            f"(exit code {process.returncode}); the end of its stderr:\n{tail}"
        )

    async def _snapshot(self, server: _CodeServer) -> AgentResult:
        name = server.spec.name
        try:
            snapshot = await server.client.get_snapshot(timeout=self.start_timeout)
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
            for name, server in list(self.servers.items()):
                if server.process.returncode is None or time.monotonic() < server.next_restart:
                    continue
                log.warning("code server of %s exited with code %s; restarting", name,
                            server.process.returncode)
                result = await self.load(server.spec)
                replacement = self.servers[name]
                if replacement is server:
                    # the start failed: try again later, waiting longer each time
                    server.restarts += 1
                    server.next_restart = time.monotonic() + min(2 ** server.restarts, 60)
                try:
                    await publish(self.redis, keys.OUT_RESULTS, [result])
                except BrokerUnavailable as exc:
                    log.warning("could not report the reload of %s: %s", name, exc)

    async def _report(self, result: AgentResult, item: WorkItem) -> None:
        result = msgspec.structs.replace(result, work_id=item.work_id, epoch=item.epoch)
        await publish(self.redis, keys.OUT_RESULTS, [result], item.traceparent)

