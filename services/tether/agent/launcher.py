"""The launcher: starts one run worker process per run attempt, and stops it on request.

A run attempt is launched at most once, whichever launcher copy gets the entry and however
often it is delivered: the ``launched`` key is set with NX before the process starts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import msgspec
import redis.asyncio as aioredis

from ..broker import StreamConsumer, keys, publish
from ..wire import (
    ErrorInfo,
    LaunchRun,
    LoadLocation,
    RunLaunched,
    RunLaunchFailed,
    RunWorkerExited,
    TerminateRun,
    WorkItem,
)
from ._processes import OutputTail, child_environment, spawn, terminate_group
from ._worker import consume

log = logging.getLogger(__name__)

# credentials that must never reach user code
SECRET_VARIABLES = ("TETHER_AGENT_TOKEN", "TETHER_TOKEN")


class Launcher:
    def __init__(
        self,
        *,
        redis: aioredis.Redis,
        redis_url: str,
        agent_id: str,
        consumer: str,
        stop_runs_on_exit: bool = False,
        terminate_grace: float = 10.0,
    ) -> None:
        self.redis = redis
        self.redis_url = redis_url
        self.agent_id = agent_id
        self.stop_runs_on_exit = stop_runs_on_exit
        self.terminate_grace = terminate_grace
        self.consumer = StreamConsumer(
            redis,
            stream=keys.WORK_RUNS,
            group=keys.GROUP_LAUNCHERS,
            consumer=consumer,
            message_type=WorkItem,
        )
        self.running: dict[tuple[str, int], asyncio.subprocess.Process] = {}
        self._watchers: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event, *, burst: bool = False) -> None:
        """Handle entries until ``stop`` is set (or, with ``burst``, until none are left)."""
        log.info("launcher %s ready", self.consumer.consumer)
        try:
            await consume(self.consumer,
                          lambda entry: self.handle(entry.message, entry.traceparent),
                          stop, burst=burst)
        finally:
            await self._shutdown()

    async def handle(self, item: WorkItem, traceparent: str) -> None:
        match item.payload:
            case LaunchRun() as launch:
                await self.launch(item, launch, traceparent)
            case TerminateRun() as terminate:
                await self.terminate(terminate)
            case LoadLocation():
                log.error("work item %s belongs to the supervisor; ignored", item.work_id)

    async def launch(self, item: WorkItem, launch: LaunchRun, traceparent: str) -> None:
        guard = keys.launched_key(launch.run_id, launch.attempt)
        first = await self.redis.set(guard, self.consumer.consumer, nx=True,
                                     ex=keys.LAUNCH_GUARD_SECONDS)
        if not first:
            log.info("run %s attempt %d was launched already; entry skipped",
                     launch.run_id, launch.attempt)
            return
        argv = [
            launch.location.python or sys.executable,
            "-m", "tether", "api", "execute-run",
            "--launch-json", msgspec.json.encode(launch).decode(),
        ]
        env = child_environment(
            dict(os.environ),
            {**launch.location.env, "TETHER_REDIS_URL": self.redis_url,
             "TRACEPARENT": traceparent},
            drop=SECRET_VARIABLES,
        )
        try:
            process, stderr_tail = await spawn(
                argv, env=env, cwd=launch.location.working_directory,
                prefix=f"[run {launch.run_id[:8]}] ",
            )
        except OSError as exc:
            await self.redis.delete(guard)
            log.error("could not start the run worker of %s: %s", launch.run_id, exc)
            await self._report(RunLaunchFailed(
                work_id=item.work_id, epoch=item.epoch, run_id=launch.run_id,
                attempt=launch.attempt, error=ErrorInfo.from_exception(exc),
            ), traceparent)
            return
        key = (launch.run_id, launch.attempt)
        self.running[key] = process
        log.info("launched run %s attempt %d (pid %d)", launch.run_id, launch.attempt,
                 process.pid)
        await self._report(RunLaunched(
            work_id=item.work_id, epoch=item.epoch, run_id=launch.run_id,
            attempt=launch.attempt, pid=process.pid, agent_id=self.agent_id,
        ), traceparent)
        watcher = asyncio.ensure_future(self._watch(key, process, stderr_tail, traceparent))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    async def terminate(self, request: TerminateRun) -> None:
        process = self.running.get((request.run_id, request.attempt))
        if process is None:
            log.warning("run %s attempt %d is not running here", request.run_id,
                        request.attempt)
            return
        await terminate_group(process, self.terminate_grace)

    async def _watch(self, key: tuple[str, int], process: asyncio.subprocess.Process,
                     stderr_tail: OutputTail, traceparent: str) -> None:
        exit_code = await process.wait()
        tail = await stderr_tail.text()
        self.running.pop(key, None)
        log.info("run %s attempt %d exited with code %d", key[0], key[1], exit_code)
        await self._report(RunWorkerExited(
            run_id=key[0], attempt=key[1], exit_code=exit_code, stderr_tail=tail[-4000:],
        ), traceparent)

    async def _report(self, result: object, traceparent: str) -> None:
        await publish(self.redis, keys.OUT_RESULTS, [result], traceparent)

    async def _shutdown(self) -> None:
        if self.stop_runs_on_exit and self.running:
            log.info("stopping %d run(s) before exit", len(self.running))
            await asyncio.gather(*(terminate_group(p, self.terminate_grace)
                                   for p in list(self.running.values())))
        if self.stop_runs_on_exit:
            # let the exit reports of the runs just stopped reach the stream
            await asyncio.gather(*self._watchers, return_exceptions=True)
