"""The launcher: starts one run worker process per run attempt.

A run attempt is launched at most once, whichever launcher copy gets the entry and however
often it is delivered. The attempt's guard key is set with NX to ``launching:<token>`` before
the process starts (the token names this delivery, so a retried SET whose first reply was lost
still recognises its own guard), then to ``pid:<agent>:<pid>`` once it runs. A delivery that
finds a ``pid:`` guard reports the launch again, so the work item completes; one that finds
another's ``launching:`` guard leaves the launch to it (if that launcher died, the guard lapses
after ``LAUNCHING_TTL`` and the re-claimed item launches then, unless the worker that launcher
had started already holds the attempt: then that worker is recorded as the launch).

Run workers start as local processes (cold, or forked from a warm zygote), or, with the ``rq``
backend, as RQ jobs (guard ``rq:<agent>:<job id>``) that ``rq worker`` processes execute.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from .. import _metrics as metrics
from .. import _telemetry as telemetry
from .._backoff import Backoff
from ..broker import Entry, StreamConsumer, keys, publish
from ..errors import BrokerUnavailable
from ..wire import (
    ErrorInfo,
    LaunchRun,
    LoadLocation,
    RemoveLocation,
    RunLaunched,
    RunLaunchFailed,
    RunTerminated,
    RunWorkerExited,
    TerminateRun,
    WorkItem,
)
from ._processes import (
    OutputTail,
    RunProcess,
    RunUser,
    child_environment,
    runs_on_this_host,
    spawn,
    terminate_foreign_group,
    terminate_group,
)
from ._status import reporting_status
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
    ) -> None:
        self.redis = redis
        # where run workers store step outputs (the default IO manager's folder)
        self.storage_dir = storage_dir
        self.redis_url = redis_url
        self.agent_id = agent_id
        self.base_env = base_env
        self.stop_runs_on_exit = stop_runs_on_exit
        self.terminate_grace = terminate_grace
        # the warm backend: runs fork from a per-location zygote (None: every run starts cold)
        self.warm = warm
        # the rq backend: runs are RQ jobs (None: run workers are this launcher's children)
        self.rq = rq
        # the OS user run workers run as (None: the launcher's own)
        self.run_user = run_user
        self.consumer = StreamConsumer(
            redis,
            stream=keys.WORK_RUNS,
            group=keys.GROUP_LAUNCHERS,
            consumer=consumer,
            message_type=WorkItem,
        )
        self.running: dict[tuple[str, int], RunProcess] = {}
        self._watchers: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event, *, burst: bool = False) -> None:
        """Handle entries until ``stop`` is set (or, with ``burst``, until none are left)."""
        log.info("launcher %s ready", self.consumer.consumer)
        try:
            async with reporting_status(self.redis, kind="launcher",
                                        consumer=self.consumer.consumer,
                                        details=lambda: {"running_runs": len(self.running)}):
                checking = (None if self.rq is None else
                            asyncio.ensure_future(self._report_lost_rq_jobs(self.rq, stop)))
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
                    await self.terminate(item, terminate, parent)
            case LoadLocation() | RemoveLocation():
                log.error("work item %s belongs to the supervisor; ignored", item.work_id)

    async def launch(self, item: WorkItem, launch: LaunchRun, token: str,
                     traceparent: str) -> None:
        guard = keys.launched_key(launch.run_id, launch.attempt)
        holder = await self._acquire(guard, token)
        if holder is None and self.rq is None:
            holder = await self._started_unrecorded(guard, launch)
        if holder is None and await self._redis_call(
                self.redis.exists(keys.canceled_key(launch.run_id, launch.attempt))):
            # canceled before it started: it never will
            await self._redis_call(self.redis.set(guard, "canceled",
                                                  ex=keys.LAUNCH_GUARD_SECONDS))
            holder = "canceled"
        if holder == "canceled":
            await self._report(RunLaunchFailed(
                work_id=item.work_id, epoch=item.epoch, run_id=launch.run_id,
                attempt=launch.attempt, error=ErrorInfo(
                    class_name="RunCanceled", message="the run was canceled before it started"),
            ), traceparent)
            return
        if holder is not None:
            log.info("run %s attempt %d is launched already (%s); not launched again",
                     launch.run_id, launch.attempt, holder)
            if holder.startswith("pid:"):
                _, agent_id, pid = holder.split(":", 2)
                await self._report(RunLaunched(
                    work_id=item.work_id, epoch=item.epoch, run_id=launch.run_id,
                    attempt=launch.attempt, pid=int(pid), agent_id=agent_id), traceparent)
            elif holder.startswith("rq:"):
                _, agent_id, job_id = holder.split(":", 2)
                await self._report(RunLaunched(
                    work_id=item.work_id, epoch=item.epoch, run_id=launch.run_id,
                    attempt=launch.attempt, pid=0, agent_id=agent_id, rq_job_id=job_id,
                    rq_queue=keys.rq_queue(launch.location.queue)), traceparent)
            return
        if self.rq is not None:
            await self._enqueue(self.rq, item, launch, guard, traceparent)
            return
        # the location's env is set in the process environment; argv is visible to every
        # local user, so it carries the launch without it
        public = msgspec.structs.replace(
            launch, location=msgspec.structs.replace(launch.location, env={}))
        argv = [
            launch.location.python or sys.executable,
            "-m", "tether", "api", "execute-run",
            "--launch-json", msgspec.json.encode(public).decode(),
        ]
        env = child_environment(self.base_env, {
            **launch.location.env, "TETHER_REDIS_URL": self.redis_url,
            "TRACEPARENT": traceparent,
            **({"TETHER_STORAGE_DIR": self.storage_dir} if self.storage_dir else {}),
        }, self.run_user)
        prefix = f"[run {launch.run_id[:8]}] "
        try:
            forked = None
            if self.warm is not None:
                forked = await self.warm.fork(launch, env, traceparent, prefix)
            process, stderr_tail = forked or await spawn(
                argv, env=env, cwd=launch.location.working_directory, prefix=prefix,
                run_user=self.run_user)
        except OSError as exc:
            await self._redis_call(self.redis.delete(guard))
            log.error("could not start the run worker of %s: %s", launch.run_id, exc)
            await self._report(RunLaunchFailed(
                work_id=item.work_id, epoch=item.epoch, run_id=launch.run_id,
                attempt=launch.attempt, error=ErrorInfo.from_exception(exc),
            ), traceparent)
            return
        key = (launch.run_id, launch.attempt)
        self.running[key] = process
        # watch first: whatever happens to the reports below, the exit is reported
        watcher = asyncio.ensure_future(self._watch(key, process, stderr_tail, traceparent))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        log.info("launched run %s attempt %d (pid %d)", launch.run_id, launch.attempt,
                 process.pid)
        await self._redis_call(self.redis.set(
            guard, f"pid:{self.agent_id}:{process.pid}", ex=keys.LAUNCH_GUARD_SECONDS))
        await self._report(RunLaunched(
            work_id=item.work_id, epoch=item.epoch, run_id=launch.run_id,
            attempt=launch.attempt, pid=process.pid, agent_id=self.agent_id,
        ), traceparent)

    async def terminate(self, item: WorkItem, request: TerminateRun, traceparent: str) -> None:
        """Stop a run attempt's worker, whichever launcher copy on this host started it, and
        make sure an attempt that has not started yet never does."""
        run_id, attempt = request.run_id, request.attempt
        await self._redis_call(self.redis.set(keys.canceled_key(run_id, attempt), "1",
                                              ex=keys.LAUNCH_GUARD_SECONDS))
        stopping: Awaitable[Any] | None = None
        own = self.running.get((run_id, attempt))
        holder = await self._redis_call(self.redis.get(keys.launched_key(run_id, attempt)))
        parts = (holder or b"").decode().split(":")
        if own is not None:
            stopping = terminate_group(own, self.terminate_grace)
        elif (len(parts) == 3 and parts[0] == "pid" and parts[1] == self.agent_id
                and runs_on_this_host(int(parts[2]), run_id)):
            stopping = terminate_foreign_group(int(parts[2]), self.terminate_grace)
        found = stopping is not None
        if parts[0] == "rq" and self.rq is not None:
            found = await self._redis_call(self.rq.stop(run_id, attempt, self.terminate_grace))
        log.info("terminating run %s attempt %d: %s", run_id, attempt,
                 "stopping its worker" if found else "no worker is running")
        if stopping is not None:
            # the grace period runs in the background: launches must not wait for it
            task = asyncio.ensure_future(stopping)
            self._watchers.add(task)
            task.add_done_callback(self._watchers.discard)
        await self._report(RunTerminated(work_id=item.work_id, epoch=item.epoch, run_id=run_id,
                                         attempt=attempt, found=found), traceparent)

    async def _enqueue(self, rq: RqRuns, item: WorkItem, launch: LaunchRun, guard: str,
                       traceparent: str) -> None:
        job_id, queue = await self._redis_call(rq.enqueue(launch, traceparent))
        log.info("enqueued run %s attempt %d as RQ job %s on %s", launch.run_id,
                 launch.attempt, job_id, queue)
        await self._redis_call(self.redis.set(guard, f"rq:{self.agent_id}:{job_id}",
                                              ex=keys.LAUNCH_GUARD_SECONDS))
        await self._report(RunLaunched(
            work_id=item.work_id, epoch=item.epoch, run_id=launch.run_id,
            attempt=launch.attempt, pid=0, agent_id=self.agent_id, rq_job_id=job_id,
            rq_queue=queue), traceparent)

    async def _report_lost_rq_jobs(self, rq: RqRuns, stop: asyncio.Event,
                                   interval: float = 2.0) -> None:
        """Report the exits of RQ jobs that ended without reporting it (a killed work horse,
        a stop-job, a cancel while queued) or whose RQ worker was lost, every few seconds."""
        while not stop.is_set():
            try:
                for exited in await self._redis_call(rq.ended_unreported()):
                    log.warning("run %s attempt %d ended unreported: %s", exited.run_id,
                                exited.attempt, exited.stderr_tail)
                    await self._report_until_stored(exited, "")
            except BrokerUnavailable as exc:
                log.warning("cannot check the RQ jobs: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def _acquire(self, guard: str, token: str) -> str | None:
        """None if this delivery now holds the launch guard; else the guard's holder."""
        mine = f"launching:{token}"
        if await self._redis_call(self.redis.set(guard, mine, nx=True, ex=LAUNCHING_TTL)):
            return None
        holder = await self._redis_call(self.redis.get(guard))
        if holder is None:
            # it lapsed between the two calls: try once more
            return await self._acquire(guard, token)
        text = holder.decode()
        return None if text == mine else text

    async def _started_unrecorded(self, guard: str, launch: LaunchRun) -> str | None:
        """The guard of an attempt whose run worker started although no launcher recorded it
        (its launcher died between starting it and recording its pid, and its ``launching:``
        guard lapsed), now recorded; None if no worker ever took the attempt. Without this,
        the redelivery would start a second worker (which would find the attempt taken and
        do nothing), and a cancel would signal that one instead of the real one."""
        pid = await self._redis_call(
            self.redis.get(keys.executing_key(launch.run_id, launch.attempt)))
        if pid is None:
            return None
        holder = f"pid:{self.agent_id}:{int(pid)}"
        await self._redis_call(self.redis.set(guard, holder, ex=keys.LAUNCH_GUARD_SECONDS))
        return holder

    async def _watch(self, key: tuple[str, int], process: RunProcess,
                     stderr_tail: OutputTail, traceparent: str) -> None:
        exit_code = await process.wait()
        tail = await stderr_tail.text()
        self.running.pop(key, None)
        log.info("run %s attempt %d exited with code %d", key[0], key[1], exit_code)
        await self._report_until_stored(RunWorkerExited(
            run_id=key[0], attempt=key[1], exit_code=exit_code, stderr_tail=tail[-4000:]),
            traceparent)

    async def _report_until_stored(self, exited: RunWorkerExited, traceparent: str) -> None:
        """An exit must reach the control plane even while the broker is away a while."""
        backoff = Backoff()
        while True:
            try:
                await self._report(exited, traceparent)
                return
            except BrokerUnavailable as exc:
                log.warning("exit of run %s not reported yet: %s", exited.run_id, exc)
                await backoff.wait()

    async def _report(self, result: Any, traceparent: str) -> None:
        await publish(self.redis, keys.OUT_RESULTS, [result], traceparent)

    async def _redis_call(self, call: Any) -> Any:
        try:
            return await call
        except RedisError as exc:
            raise BrokerUnavailable(f"launcher cannot reach the broker: {exc}") from exc


    async def _shutdown(self) -> None:
        if self.rq is not None:
            self.rq.close()
        if self.warm is not None:
            await self.warm.close()
        if not self.stop_runs_on_exit:
            return
        if self.running:
            log.info("stopping %d run(s) before exit", len(self.running))
            await asyncio.gather(*(terminate_group(p, self.terminate_grace)
                                   for p in list(self.running.values())))
        # let the exit reports of the runs just stopped reach the stream
        await asyncio.gather(*self._watchers, return_exceptions=True)
