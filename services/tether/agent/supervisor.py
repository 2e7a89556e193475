"""The supervisor: keeps one long-lived code server per code location it owns, reconciled
against the desired set, and reports what each location defines (or why it failed to load).

- The desired set lives in the agent's broker (:mod:`._code_registry`). The control plane's
  LoadLocation and RemoveLocation work items reach a supervisor through the poller and the
  ``work:code`` stream; handling one (:mod:`._code_work`) only updates the desired set and
  wakes the reconcile loop, which does the work. The supervisor never calls the control
  plane. Ticks of schedules and sensors come the same way and are evaluated in the code
  servers it serves (:mod:`._ticks`).
- A location is served by the supervisor that owns it (a renewed lock), so N supervisor
  copies never start two servers for one location.
- A new deploy starts the new server and switches to it only once it answers (blue/green);
  the old one is stopped afterwards. Runs do not use code servers, so they keep going.
- A server that dies or stops answering its health check (gRPC Ping) is restarted, waiting
  longer after each failure (exponential backoff, reset after a stable run). A server that
  could not start, or in which the location's code failed to load, is retried the same way
  and at once when the location's files change (:mod:`._retries`), each failure reported
  with the time of the next attempt, and the location reported LOADED as soon as it loads.
- Code servers outlive the supervisor (own session, output to a file). A supervisor that
  starts adopts the healthy servers of its dead predecessor and stops the others; one that
  stops stops its servers and those on its host that no live supervisor serves.
- An agent serving several deployments serves each deployment's locations apart: two may
  have a location of the same name with different code. Everything here is keyed by the
  served location (:func:`keys.served_location`), a deployment's location.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
import redis.asyncio as aioredis

from .. import _metrics as metrics
from .. import _telemetry as telemetry
from .._backoff import Backoff
from ..broker import StreamConsumer, keys, publish
from ..errors import BrokerUnavailable, CodeServerError
from ..wire import (
    AgentResult,
    CodeServerRecord,
    CodeServerStatus,
    DesiredLocation,
    ErrorInfo,
    LocationLoadFailed,
    LocationSnapshot,
    WorkItem,
)
from ._code_registry import CodeRegistry
from ._code_server_containers import CodeServerContainers
from ._code_servers import (
    MAX_FAILED_PINGS,
    CodeServer,
    adopt,
    ask,
    check_health,
    query_snapshot,
    spawn_code_server,
    stop_orphans,
    stop_unserved,
    wait_ready,
)
from ._code_work import CodeWork
from ._processes import RunUser
from ._retries import Retries, clock
from ._status import reporting_status
from ._worker import consume_batches

if TYPE_CHECKING:
    from ._code_servers_kubernetes import KubernetesCodeServers

log = logging.getLogger(__name__)

HEALTH_INTERVAL = 1.0
# a server that lived this long before dying starts the restart backoff afresh
STABLE_SECONDS = 60.0
# a replaced server keeps answering this long after its successor took over
DRAIN_SECONDS = 1.0


class Supervisor:
    def __init__(self, *, redis: aioredis.Redis, consumer: str, base_env: Mapping[str, str],
                 log_dir: Path, start_timeout: float = 30.0, host: str = "127.0.0.1",
                 stop_servers_on_exit: bool = True, hostname: str | None = None,
                 health_interval: float = HEALTH_INTERVAL,
                 run_user: RunUser | None = None,
                 retries: Retries | None = None, agent_kind: str = "process",
                 docker_host: str = "", agent_id: str = "",
                 kubernetes: KubernetesCodeServers | None = None) -> None:
        """``agent_kind`` "docker" (the agent's, or a location's): the location's code server
        is a container from its image, on the Docker Engine at ``docker_host``.
        ``kubernetes``: where the locations of the kubernetes agent kind get their code
        servers."""
        self.redis = redis
        self.agent_kind = agent_kind
        # reached on first use only: a process agent needs no Docker Engine
        self.containers = CodeServerContainers(docker_host=docker_host, agent_id=agent_id,
                                               base_env=dict(base_env))
        self.kubernetes = kubernetes
        # the OS user code servers run as (None: the supervisor's own)
        self.run_user = run_user
        self.base_env = dict(base_env)
        self.log_dir = log_dir
        self.start_timeout = start_timeout
        self.host = host
        self.hostname = hostname or socket.gethostname()
        self.stop_servers_on_exit = stop_servers_on_exit
        self.health_interval = health_interval
        self.consumer = StreamConsumer(redis, stream=keys.WORK_CODE,
                                       group=keys.GROUP_SUPERVISORS, consumer=consumer,
                                       message_type=WorkItem)
        self.registry = CodeRegistry(redis, consumer=consumer, host=self.hostname)
        self.servers: dict[str, CodeServer] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self.retries = retries or Retries()
        self._restart_count: dict[str, int] = {}
        self._wake = asyncio.Event()
        self.work = CodeWork(redis=redis, consumer=self.consumer, registry=self.registry,
                             servers=self.servers, changed=self._wake)
        # replaced servers being stopped
        self._stopping: set[asyncio.Future[None]] = set()
        # pids of the servers this supervisor is stopping (not orphans, though recorded)
        self._retiring: set[int] = set()

    async def run(self, stop: asyncio.Event, *, burst: bool = False) -> None:
        log.info("supervisor %s ready", self.consumer.consumer)
        metrics.observe(metrics.CODE_SERVERS_RUNNING,
                        lambda: [(int(status.running), {"location": status.location})
                                 for status in self.status()])
        reconciling = asyncio.ensure_future(self._reconcile_loop(stop))
        try:
            async with reporting_status(self.redis, kind="supervisor",
                                        consumer=self.consumer.consumer,
                                        details=lambda: {"code_servers": self.status()}):
                await consume_batches(self.consumer, self.work.handle_batch, stop, burst=burst)
                if burst:
                    await self.reconcile()
                    await self._settle()
        finally:
            reconciling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reconciling
            await self._shutdown()

    def status(self) -> list[CodeServerStatus]:
        return [
            CodeServerStatus(location=server.name, deployment=server.record.deployment,
                             pid=server.pid, address=server.record.address,
                             running=server.alive, restarts=self._restart_count.get(name, 0))
            for name, server in sorted(self.servers.items())
        ]

    async def snapshot(self, name: str, *, timeout: float = 30.0) -> LocationSnapshot:
        """What the code server of served location ``name`` answers, waiting through a
        restart (a server that died is being replaced) for at most ``timeout`` seconds."""
        return await ask(self.servers, name, timeout, lambda client, remaining:
                         client.get_snapshot(timeout=min(remaining, 10.0)))

    # -- reconciling -----------------------------------------------------------------------

    async def _reconcile_loop(self, stop: asyncio.Event) -> None:
        backoff = Backoff()
        while not stop.is_set():
            self._wake.clear()
            try:
                await self.reconcile()
                backoff.reset()
            except BrokerUnavailable as exc:
                log.warning("%s; retrying", exc)
                await backoff.wait(stop)
                continue
            wake = asyncio.ensure_future(self._wake.wait())
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({wake, stopped}, timeout=self.health_interval,
                               return_when=asyncio.FIRST_COMPLETED)
            wake.cancel()
            stopped.cancel()

    async def reconcile(self) -> None:
        """One pass: for each served location that is desired, served here or recorded on
        this host, start its convergence unless one is still running."""
        desired = await self.registry.desired()
        recorded: dict[str, list[CodeServerRecord]] = {}
        for record in await self.registry.servers(self.hostname):
            served = keys.served_location(record.deployment, record.location)
            recorded.setdefault(served, []).append(record)
        for name in sorted(set(desired) | set(self.servers) | set(recorded)):
            task = self._tasks.get(name)
            if task is not None and not task.done():
                continue
            self._tasks[name] = asyncio.ensure_future(
                self._converge(name, desired.get(name), recorded.get(name, [])))

    async def _settle(self) -> None:
        tasks = [task for task in self._tasks.values() if not task.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _converge(self, name: str, want: DesiredLocation | None,
                        recorded: list[CodeServerRecord]) -> None:
        try:
            if not await self.registry.own(name):
                # another supervisor serves it; a server of ours for it is left over
                if name in self.servers:
                    await self._retire(name)
                return
            if want is None:
                self.retries.forget(name)
                server = self.servers.get(name)
                await self._retire(name)
                if self.kubernetes is not None:
                    namespace = getattr(server, "namespace", "") or self.kubernetes.api.namespace
                    # a served location is <deployment>/<location>, or the default
                    # deployment's location
                    deployment, _, location = name.rpartition("/")
                    await self.kubernetes.stop_others(location, namespace, keep=None,
                                                      deployment=deployment)
                await stop_orphans(self.registry,
                                   [r for r in recorded if r.pid not in self._retiring],
                                   self.containers)
                await self.registry.disown(name)
                return
            if name not in self.servers:
                adopted = (adopt(recorded, want.generation) if self.kubernetes is None
                           or not self._on_kubernetes(want) else
                           await self.kubernetes.adopt(want.spec, want.generation,
                                                       want.deployment))
                if adopted is not None:
                    if adopted.record.container_id:
                        await self.containers.adopted(adopted)
                    self.servers[name] = adopted
            if self.kubernetes is not None and self._on_kubernetes(want):
                served = self.servers.get(name)
                await self.kubernetes.stop_others(
                    want.spec.name, self.kubernetes.namespace_of(want.spec),
                    keep=None if served is None else served.record.generation,
                    deployment=want.deployment)
            await stop_orphans(self.registry, [r for r in recorded if r.pid != self._pid_of(name)
                                               and r.pid not in self._retiring],
                               self.containers)
            await self._serve(name, want)
        except BrokerUnavailable as exc:
            log.warning("code location %s: %s; retrying", name, exc)
        except Exception:
            log.exception("reconciling code location %s failed; retrying", name)

    def _on_kubernetes(self, want: DesiredLocation) -> bool:
        return (want.spec.agent_kind or self.agent_kind) == "kubernetes"

    def _pid_of(self, name: str) -> int | None:
        server = self.servers.get(name)
        return None if server is None else server.pid

    async def _serve(self, name: str, want: DesiredLocation) -> None:
        server = self.servers.get(name)
        if server is not None and server.record.generation == want.generation:
            if await check_health(server):
                if (not server.load_failed
                        and time.monotonic() - server.started > STABLE_SECONDS):
                    # a server that only serves its load error is no stable run
                    self.retries.stable(name)
                if want.work_id:
                    # adopted, or the answer to a redelivered item: report what it serves
                    result = await query_snapshot(server, want.generation, self.start_timeout)
                    if isinstance(result, LocationLoadFailed):
                        server.load_failed = True
                        result = msgspec.structs.replace(
                            result, next_retry_at=self.retries.next_retry_at(name))
                    await self._report(want, result)
                if server.load_failed and await self.retries.due(name, want.spec, want.generation):
                    # what was missing (a file, a service) may be there now
                    log.info("loading code location %s again", name)
                    await self._replace(name, want)
                return
            if not await self.retries.due(name, want.spec, want.generation):
                return
            reason = (f"exited ({server.exit_description()})" if not server.alive
                      else f"stopped answering ({MAX_FAILED_PINGS} failed health checks)")
            log.warning("code server of %s %s; restarting", name, reason)
            self._restart_count[name] = self._restart_count.get(name, 0) + 1
            metrics.CODE_SERVER_RESTARTS.add(1, {"location": name})
            self.retries.failed(name, want.generation)
            await self._replace(name, want)
            return
        if await self.retries.due(name, want.spec, want.generation):
            await self._replace(name, want)

    async def _replace(self, name: str, want: DesiredLocation) -> None:
        """Start a server of ``want``; once it answers, make it the location's server and
        stop the previous one (blue/green). A start or a load that fails is retried with
        backoff; the previous server, if it still runs, keeps serving meanwhile."""
        with contextlib.ExitStack() as stack:
            if want.work_id:
                stack.enter_context(telemetry.span(
                    "supervisor.load", parent=want.traceparent,
                    attributes={"tether.location": name}))
            await self.retries.attempting(name, want.spec, want.generation)
            try:
                new = await self._start(want)
            except CodeServerError as exc:
                retry_at = self.retries.failed(name, want.generation)
                log.warning("%s; retrying at %s", exc, clock(retry_at))
                # the message says it all (with the server's output); our own stack would
                # only hide it
                await self._report(want, LocationLoadFailed(
                    location=want.spec.name, generation=want.generation, next_retry_at=retry_at,
                    error=ErrorInfo(class_name="CodeServerError", message=str(exc))))
                return
            result = await query_snapshot(new, want.generation, self.start_timeout)
            if isinstance(result, LocationLoadFailed):
                new.load_failed = True
                retry_at = self.retries.failed(name, want.generation)
                log.info("code location %s: next load at %s", name, clock(retry_at))
                result = msgspec.structs.replace(result, next_retry_at=retry_at)
            old = self.servers.get(name)
            self.servers[name] = new
            # reported before the old server is stopped: its stop changes nothing for users,
            # and it goes on in the background, so a next deploy need not wait for it
            await self._report(want, result)
            if old is not None and old.record.address == new.record.address:
                # the same Kubernetes Deployment and Service, with a fresh pod
                await old.client.close()
            elif old is not None:
                self._stopping.add(asyncio.ensure_future(self._stop(old, drain=DRAIN_SECONDS)))

    async def _start(self, want: DesiredLocation) -> CodeServer:
        spec = want.spec
        log.info("starting a code server for %s (deploy %d)",
                 keys.served_location(want.deployment, spec.name), want.generation)
        kind = spec.agent_kind or self.agent_kind
        if kind == "kubernetes":
            if self.kubernetes is None:
                raise CodeServerError(
                    f"code location {spec.name} runs on agent kind kubernetes, which this "
                    "agent does not offer: set TETHER_AGENT_KIND=kubernetes or "
                    "TETHER_KUBERNETES_API_URL")
            return await self._start_on_kubernetes(self.kubernetes, want)
        if kind == "docker":
            server = await self.containers.spawn(spec, generation=want.generation,
                                                 host=self.host, hostname=self.hostname,
                                                 log_dir=self.log_dir)
        elif kind == "process":
            server = await spawn_code_server(spec, generation=want.generation, host=self.host,
                                             hostname=self.hostname, base_env=self.base_env,
                                             log_dir=self.log_dir, run_user=self.run_user)
        else:
            raise CodeServerError(f"code location {spec.name} asks for agent kind {kind!r}, "
                                  "which this supervisor cannot serve (it serves process, "
                                  "docker and kubernetes)")
        # whose location it serves: adopted after a restart as that deployment's server
        server.record = msgspec.structs.replace(server.record, deployment=want.deployment)
        # recorded before it answers: if this supervisor dies now, its successor stops it
        await self.registry.record_server(server.record)
        try:
            ready = await wait_ready(server, self.start_timeout)
        except BaseException:
            # cancelled while starting (a shutdown): the process must not outlive us
            await self._stop(server)
            raise
        if ready:
            log.info("code server of %s ready on %s (pid %d)", spec.name,
                     server.record.address, server.pid)
            return server
        exit_code = server.child.returncode if server.child is not None else None
        await self._stop(server)
        what = (f"exited with code {exit_code} before answering" if exit_code is not None
                else f"did not answer within {self.start_timeout:g} s "
                "(TETHER_CODE_SERVER_START_TIMEOUT)")
        raise CodeServerError(
            f"the code server of {spec.name} {what}; the end of its output:\n"
            f"{server.log.tail()}"
        )

    async def _start_on_kubernetes(self, kubernetes: KubernetesCodeServers,
                                   want: DesiredLocation) -> CodeServer:
        server = await kubernetes.start(want.spec, want.generation, want.deployment)
        try:
            ready = await kubernetes.wait_ready(server, self.start_timeout)
        except BaseException:
            # cancelled while starting (a shutdown): its objects outlive us, and the next
            # supervisor adopts them (or deletes them if they are not the deploy it serves)
            await server.client.close()
            raise
        if ready:
            log.info("code server of %s ready on %s", want.spec.name, server.record.address)
            return server
        await self._stop(server)
        what = (f"cannot start ({server.start_failure})" if server.start_failure else
                f"did not answer within {self.start_timeout:g} s "
                "(TETHER_CODE_SERVER_START_TIMEOUT)")
        raise CodeServerError(f"the code server of {want.spec.name} on Kubernetes "
                              f"({server.record.address}) {what}")

    async def _report(self, want: DesiredLocation, result: AgentResult) -> None:
        """Publish ``result``, completing the work item of ``want`` if it has one."""
        if want.work_id:
            result = msgspec.structs.replace(result, work_id=want.work_id, epoch=want.epoch)
        await publish(self.redis, keys.OUT_RESULTS, [result],
                      telemetry.current_traceparent() or want.traceparent, want.deployment)
        if want.work_id:
            await self.registry.mark_reported(want)

    async def _retire(self, name: str) -> None:
        server = self.servers.pop(name, None)
        if server is not None:
            log.info("stopping the code server of %s (pid %d): no longer served here", name,
                     server.pid)
            await self._stop(server)

    async def _stop(self, server: CodeServer, *, drain: float = 0.0) -> None:
        self._retiring.add(server.pid)
        try:
            if drain and server.alive:
                # a client that looked the location up just before the switch still gets
                # its answer from the old server
                await asyncio.sleep(drain)
            await server.stop()
            with contextlib.suppress(BrokerUnavailable):
                await self.registry.forget_server(server.record)
        finally:
            self._retiring.discard(server.pid)
        self._stopping = {future for future in self._stopping if not future.done()}

    async def _shutdown(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), *self._stopping, return_exceptions=True)
        servers = list(self.servers.values())
        self.servers.clear()
        owned = {server.served for server in servers}
        if self.stop_servers_on_exit:
            await asyncio.gather(*(self._stop(server) for server in servers))
            with contextlib.suppress(BrokerUnavailable):
                owned |= await stop_unserved(self.registry, self.hostname,
                                             skip=self._retiring, containers=self.containers)
        else:
            for server in servers:
                await server.client.close()
                await server.log.close(delete=False)
        # let a successor take over at once rather than when the ownership expires
        with contextlib.suppress(BrokerUnavailable):
            for name in owned:
                await self.registry.disown(name)
        self.containers.close()
