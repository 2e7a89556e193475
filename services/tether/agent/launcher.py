"""The launcher: starts one run worker process per run attempt.

A run attempt is launched at most once, whichever launcher copy gets the entry and however
often it is delivered. The attempt's guard key is set with NX to ``launching:<token>`` before
the process starts (the token names this delivery, so a retried SET whose first reply was lost
still recognises its own guard), then to ``pid:<agent>:<pid>`` once it runs. A delivery that
finds a ``pid:`` guard reports the launch again, so the work item completes; one that finds
another's ``launching:`` guard leaves the launch to it (if that launcher died, the guard lapses
after ``LAUNCHING_TTL`` and the re-claimed item launches then, unless the worker that launcher
had started already holds the attempt: then that worker is recorded as the launch).

Where run workers start is the launch target's business (:mod:`._targets`): local processes
(cold, or forked from a warm zygote), or, with the ``rq`` backend, RQ jobs (guard
``rq:<agent>:<job id>``) that ``rq worker`` processes execute, or, with the ``kubernetes``
agent kind, Kubernetes Jobs (guard ``k8s:<agent>:<namespace>/<job>``). The guard, its
fencing and the reports are the launcher's, the same for every target. The guard's holders
are typed in :mod:`tether.wire` (``LaunchHolder``), which also reads and writes their stored
text.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING

import msgspec
import redis.asyncio as aioredis

from .. import _metrics as metrics
from .. import _telemetry as telemetry
from .._backoff import Backoff
from ..broker import Entry, StreamConsumer, keys, publish
from ..errors import BrokerUnavailable
from ..wire import (
    AgentResult,
    Canceled,
    EnqueuedJob,
    ErrorInfo,
    GrantSlot,
    KubernetesJob,
    LaunchHolder,
    Launching,
    LaunchRun,
    LoadLocation,
    RemoveLocation,
    RunLaunched,
    RunLaunchFailed,
    RunTerminated,
    RunWorkerExited,
    SlotGranted,
    StartedContainer,
    StartedHolder,
    StartedProcess,
    TerminateRun,
    WorkItem,
    decode_holder,
    encode_holder,
)
from ._processes import RunUser
from ._status import reporting_status
from ._target_kinds import TargetsByKind
from ._target_process import ProcessTarget
from ._target_warm import WarmTarget
from ._targets import LaunchTarget, RunHandle, redis_call
from ._warm import WarmPool
from ._worker import consume

if TYPE_CHECKING:
    from ._rq import RqRuns

log = logging.getLogger(__name__)

# longer than any spawn takes; after a launcher died mid-launch, the next delivery launches
LAUNCHING_TTL = 15


class Launcher:
    def __init__(
        self,
        *,
        redis: aioredis.Redis,
        redis_url: str,
        agent_id: str,
        consumer: str,
        base_env: Mapping[str, str],
        stop_runs_on_exit: bool = False,
        terminate_grace: float = 10.0,
        warm: WarmPool | None = None,
        rq: RqRuns | None = None,
        run_user: RunUser | None = None,
        storage_dir: str = "",
        agent_kind: str = "process",
        docker_host: str = "",
        kinds: Mapping[str, LaunchTarget] | None = None,
    ) -> None:
        """``warm``: runs fork from a per-location zygote; ``rq``: runs are RQ jobs; neither:
        every run worker starts cold as this launcher's child, as ``run_user`` if given.
        ``agent_kind`` "docker" (the agent's, or a location's): each run attempt is a
        container on the Docker Engine at ``docker_host``. ``kinds``: the targets of other
        agent kinds made already (e.g. "kubernetes"), chosen the same way."""
        self.redis = redis
        self.agent_id = agent_id
        self.stop_runs_on_exit = stop_runs_on_exit
        self.terminate_grace = terminate_grace
        self.target = TargetsByKind(agent_kind, {
            "process": lambda: _target(redis_url=redis_url, agent_id=agent_id,
                                       base_env=base_env, terminate_grace=terminate_grace,
                                       warm=warm, rq=rq, run_user=run_user,
                                       storage_dir=storage_dir),
            "docker": lambda: _docker_target(redis_url=redis_url, agent_id=agent_id,
                                             base_env=base_env, docker_host=docker_host,
                                             terminate_grace=terminate_grace,
                                             storage_dir=storage_dir),
        }, kinds)
        self.consumer = StreamConsumer(
            redis,
            stream=keys.WORK_RUNS,
            group=keys.GROUP_LAUNCHERS,
            consumer=consumer,
            message_type=WorkItem,
        )
        # the run workers this launcher watches until they exit
        self.running: dict[tuple[str, int], RunHandle] = {}
        self._watchers: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event, *, burst: bool = False) -> None:
        """Handle entries until ``stop`` is set (or, with ``burst``, until none are left)."""
        log.info("launcher %s ready", self.consumer.consumer)
        try:
            async with reporting_status(self.redis, kind="launcher",
                                        consumer=self.consumer.consumer,
                                        details=lambda: {"running_runs": len(self.running)}):
                interval = self.target.check_interval
                checking = (None if interval is None else
                            asyncio.ensure_future(self._report_unwatched_exits(stop, interval)))
                try:
                    await consume(self.consumer, self.handle, stop, burst=burst)
                finally:
                    if checking is not None:
                        checking.cancel()
                        await asyncio.gather(checking, return_exceptions=True)
        finally:
            await self._shutdown()

    async def handle(self, entry: Entry[WorkItem]) -> None:
        item = entry.message
        match item.payload:
            case LaunchRun() as launch:
                if entry.deployment:
                    # its run worker tags what it writes with it, for the uploader
                    launch = msgspec.structs.replace(launch, deployment=entry.deployment)
                token = f"{self.consumer.consumer}:{entry.entry_id.decode()}"
                with telemetry.span("launcher.launch", parent=entry.traceparent,
                                    attributes={"tether.run_id": launch.run_id,
                                                "tether.attempt": launch.attempt}) as parent:
                    await self.launch(item, launch, token, parent)
                # the entry id's first part is when the poller handed the claim over (ms)
                handed_over = int(entry.entry_id.split(b"-")[0]) / 1000
                metrics.LAUNCH_LATENCY.record(max(0.0, time.time() - handed_over))
            case TerminateRun() as terminate:
                with telemetry.span("launcher.terminate", parent=entry.traceparent,
                                    attributes={"tether.run_id": terminate.run_id}) as parent:
                    await self.terminate(item, terminate, parent, entry.deployment)
            case GrantSlot() as grant:
                await self.grant_slot(item, grant, entry.traceparent, entry.deployment)
            case LoadLocation() | RemoveLocation():
                log.error("work item %s belongs to the supervisor; ignored", item.work_id)

    async def launch(self, item: WorkItem, launch: LaunchRun, token: str,
                     traceparent: str) -> None:
        guard = keys.launched_key(launch.run_id, launch.attempt)
        holder = await self._acquire(guard, Launching(token))
        if holder is None:
            holder = await self._started_unrecorded(guard, launch)
        if holder is None and await redis_call(
                self.redis.exists(keys.canceled_key(launch.run_id, launch.attempt))) > 0:
            # canceled before it started: it never will
            holder = Canceled()
            await self._set_guard(guard, holder)
        match holder:
            case None:
                if launch.deployment:
                    # for the exit of a worker no launcher watches end (an RQ job, a lost pod)
                    await redis_call(self.redis.set(
                        keys.deployment_key(launch.run_id, launch.attempt), launch.deployment,
                        ex=keys.LAUNCH_GUARD_SECONDS))
                await self._start(item, launch, guard, traceparent)
            case Canceled():
                await self._report(RunLaunchFailed(
                    work_id=item.work_id, epoch=item.epoch, run_id=launch.run_id,
                    attempt=launch.attempt, error=ErrorInfo(
                        class_name="RunCanceled",
                        message="the run was canceled before it started"),
                ), traceparent, launch.deployment)
            case _:
                log.info("run %s attempt %d is launched already (%s); not launched again",
                         launch.run_id, launch.attempt, encode_holder(holder))
                # another delivery's launch in progress, or a holder of a newer launcher:
                # its launcher reports it
                if isinstance(holder, StartedProcess | EnqueuedJob | StartedContainer
                              | KubernetesJob):
                    await self._report(_launched(item, launch, holder), traceparent,
                                       launch.deployment)

    async def _start(self, item: WorkItem, launch: LaunchRun, guard: str,
                     traceparent: str) -> None:
        try:
            started = await self.target.start(launch, traceparent)
        except OSError as exc:
            await redis_call(self.redis.delete(guard))
            log.error("could not start the run worker of %s: %s", launch.run_id, exc)
            await self._report(RunLaunchFailed(
                work_id=item.work_id, epoch=item.epoch, run_id=launch.run_id,
                attempt=launch.attempt, error=ErrorInfo.from_exception(exc),
            ), traceparent, launch.deployment)
            return
        if started.run is not None:
            key = (launch.run_id, launch.attempt)
            self.running[key] = started.run
            # watch first: whatever happens to the reports below, the exit is reported
            self._background(self._watch(key, started.run, traceparent, launch.deployment))
        match started.holder:
            case StartedProcess(pid=pid):
                log.info("launched run %s attempt %d (pid %d)", launch.run_id, launch.attempt,
                         pid)
            case EnqueuedJob(job_id=job_id):
                log.info("enqueued run %s attempt %d as RQ job %s on %s", launch.run_id,
                         launch.attempt, job_id, keys.rq_queue(launch.location.queue))
            case StartedContainer(container_id=container_id):
                log.info("launched run %s attempt %d in container %s", launch.run_id,
                         launch.attempt, container_id[:12])
            case KubernetesJob(job=job):
                log.info("started run %s attempt %d as Kubernetes Job %s", launch.run_id,
                         launch.attempt, job)
        await self._set_guard(guard, started.holder)
        await self._report(_launched(item, launch, started.holder), traceparent,
                           launch.deployment)

    async def terminate(self, item: WorkItem, request: TerminateRun, traceparent: str,
                        deployment: str = "") -> None:
        """Stop a run attempt's worker, whichever launcher copy on this host started it, and
        make sure an attempt that has not started yet never does."""
        run_id, attempt = request.run_id, request.attempt
        await redis_call(self.redis.set(keys.canceled_key(run_id, attempt), "1",
                                              ex=keys.LAUNCH_GUARD_SECONDS))
        stored = await redis_call(self.redis.get(keys.launched_key(run_id, attempt)))
        own = self.running.get((run_id, attempt))
        stopping: Awaitable[object] | None
        if own is not None:
            found, stopping = True, own.stop(self.terminate_grace)
        else:
            holder = None if stored is None else decode_holder(stored)
            cancel = await self.target.cancel(run_id, attempt, holder)
            found, stopping = cancel.found, cancel.stopping
        log.info("terminating run %s attempt %d: %s", run_id, attempt,
                 "stopping its worker" if found else "no worker is running")
        if stopping is not None:
            # the grace period runs in the background: launches must not wait for it
            self._background(stopping)
        await self._report(RunTerminated(work_id=item.work_id, epoch=item.epoch, run_id=run_id,
                                         attempt=attempt, found=found), traceparent, deployment)

    async def grant_slot(self, item: WorkItem, grant: GrantSlot, traceparent: str,
                         deployment: str = "") -> None:
        """Let a pooled step start: its run worker (wherever it runs) waits for this key,
        which it may only ask EXISTS of. Idempotent, so a redelivered grant is harmless."""
        await redis_call(self.redis.set(
            keys.slot_key(grant.run_id, grant.attempt, grant.step_key), grant.pool,
            ex=keys.LAUNCH_GUARD_SECONDS))
        log.info("granted step %s of run %s attempt %d a slot of pool %s", grant.step_key,
                 grant.run_id, grant.attempt, grant.pool)
        await self._report(SlotGranted(work_id=item.work_id, epoch=item.epoch,
                                       run_id=grant.run_id, attempt=grant.attempt,
                                       step_key=grant.step_key), traceparent, deployment)

    async def _report_unwatched_exits(self, stop: asyncio.Event, interval: float) -> None:
        """Report the exits of run workers no launcher watched end (RQ jobs whose work horse
        was killed, stop-jobs, cancels while queued, lost RQ workers), every few seconds."""
        while not stop.is_set():
            try:
                for exited in await self.target.ended_unreported():
                    log.warning("run %s attempt %d ended unreported: %s", exited.run_id,
                                exited.attempt, exited.stderr_tail)
                    deployment = await redis_call(self.redis.get(
                        keys.deployment_key(exited.run_id, exited.attempt)))
                    if isinstance(deployment, bytes):
                        deployment = deployment.decode()
                    await self._report_until_stored(exited, "", deployment or "")
            except BrokerUnavailable as exc:
                log.warning("cannot check the RQ jobs: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def _acquire(self, guard: str, mine: Launching) -> LaunchHolder | None:
        """None if this delivery now holds the launch guard; else the guard's holder."""
        text = encode_holder(mine)
        if await redis_call(self.redis.set(guard, text, nx=True, ex=LAUNCHING_TTL)):
            return None
        stored = await redis_call(self.redis.get(guard))
        if stored is None:
            # it lapsed between the two calls: try once more
            return await self._acquire(guard, mine)
        holder = decode_holder(stored)
        return None if holder == mine else holder

    async def _started_unrecorded(self, guard: str, launch: LaunchRun) -> StartedHolder | None:
        """The guard of an attempt whose run worker started although no launcher recorded it
        (its launcher died between starting it and recording its pid, and its ``launching:``
        guard lapsed), now recorded; None if no worker ever took the attempt (or the target's
        run workers are not recorded so). Without this, the redelivery would start a second
        worker (which would find the attempt taken and do nothing), and a cancel would signal
        that one instead of the real one."""
        pid = await redis_call(
            self.redis.get(keys.executing_key(launch.run_id, launch.attempt)))
        if pid is None:
            return None
        holder = self.target.adopt(launch, int(pid))
        if holder is not None:
            await self._set_guard(guard, holder)
        return holder

    async def _set_guard(self, guard: str, holder: LaunchHolder) -> None:
        await redis_call(self.redis.set(guard, encode_holder(holder),
                                              ex=keys.LAUNCH_GUARD_SECONDS))

    async def _watch(self, key: tuple[str, int], run: RunHandle, traceparent: str,
                     deployment: str) -> None:
        exit_code = await run.wait()
        tail = await run.last_output()
        self.running.pop(key, None)
        log.info("run %s attempt %d exited with code %d", key[0], key[1], exit_code)
        await self._report_until_stored(RunWorkerExited(
            run_id=key[0], attempt=key[1], exit_code=exit_code, stderr_tail=tail),
            traceparent, deployment)

    async def _report_until_stored(self, exited: RunWorkerExited, traceparent: str,
                                   deployment: str = "") -> None:
        """An exit must reach the control plane even while the broker is away a while."""
        backoff = Backoff()
        while True:
            try:
                await self._report(exited, traceparent, deployment)
                return
            except BrokerUnavailable as exc:
                log.warning("exit of run %s not reported yet: %s", exited.run_id, exc)
                await backoff.wait()

    async def _report(self, result: AgentResult, traceparent: str,
                      deployment: str = "") -> None:
        await publish(self.redis, keys.OUT_RESULTS, [result], traceparent, deployment)

    def _background(self, work: Awaitable[object]) -> None:
        async def run() -> None:
            await work

        task = asyncio.ensure_future(run())
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _shutdown(self) -> None:
        await self.target.close()
        if not self.stop_runs_on_exit:
            return
        if self.running:
            log.info("stopping %d run(s) before exit", len(self.running))
            await asyncio.gather(*(run.stop(self.terminate_grace)
                                   for run in list(self.running.values())))
        # let the exit reports of the runs just stopped reach the stream
        await asyncio.gather(*self._watchers, return_exceptions=True)


def _launched(item: WorkItem, launch: LaunchRun, holder: StartedHolder) -> RunLaunched:
    """The launch report of the run worker ``holder`` names (sent again on redeliveries)."""
    match holder:
        case StartedProcess(agent_id=agent_id, pid=pid):
            return RunLaunched(work_id=item.work_id, epoch=item.epoch, run_id=launch.run_id,
                               attempt=launch.attempt, pid=pid, agent_id=agent_id)
        case EnqueuedJob(agent_id=agent_id, job_id=job_id):
            return RunLaunched(work_id=item.work_id, epoch=item.epoch, run_id=launch.run_id,
                               attempt=launch.attempt, pid=0, agent_id=agent_id,
                               rq_job_id=job_id, rq_queue=keys.rq_queue(launch.location.queue))
        case StartedContainer(agent_id=agent_id, container_id=container_id):
            return RunLaunched(work_id=item.work_id, epoch=item.epoch, run_id=launch.run_id,
                               attempt=launch.attempt, pid=0, agent_id=agent_id,
                               container_id=container_id)
        case KubernetesJob(agent_id=agent_id, job=job):
            return RunLaunched(work_id=item.work_id, epoch=item.epoch, run_id=launch.run_id,
                               attempt=launch.attempt, pid=0, agent_id=agent_id,
                               kubernetes_job=job)


def _target(*, redis_url: str, agent_id: str, base_env: Mapping[str, str],
            terminate_grace: float, warm: WarmPool | None, rq: RqRuns | None,
            run_user: RunUser | None, storage_dir: str) -> LaunchTarget:
    """The launch target the agent's run launcher setting chose."""
    if rq is not None:
        from ._target_rq import RqTarget

        return RqTarget(rq, agent_id=agent_id, terminate_grace=terminate_grace)
    if warm is not None:
        return WarmTarget(warm, agent_id=agent_id, redis_url=redis_url, base_env=base_env,
                          terminate_grace=terminate_grace, run_user=run_user,
                          storage_dir=storage_dir)
    return ProcessTarget(agent_id=agent_id, redis_url=redis_url, base_env=base_env,
                         terminate_grace=terminate_grace, run_user=run_user,
                         storage_dir=storage_dir)


def _docker_target(*, redis_url: str, agent_id: str, base_env: Mapping[str, str],
                   docker_host: str, terminate_grace: float, storage_dir: str) -> LaunchTarget:
    from ._docker import connect
    from ._target_docker import DockerTarget

    return DockerTarget(connect(docker_host), agent_id=agent_id, redis_url=redis_url,
                        base_env=base_env, terminate_grace=terminate_grace,
                        storage_dir=storage_dir)
