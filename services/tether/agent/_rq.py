"""The ``rq`` run-launcher backend: run attempts become RQ jobs that plain ``rq worker``
processes execute, on this host or any other that reaches the agent's Redis.

One job per attempt, with a fixed id, so a redelivered launch enqueues nothing new. Each job is
tracked in ``tether:rq:jobs`` until its exit is reported: the work horse reports it itself
(:mod:`tether.runworker._rq`); a job that ended without doing so (its horse was killed, RQ's
stop-job, a cancel while queued) or whose RQ worker was lost (its alive key lapsed) is
reported by whichever launcher notices first. RQ's client is synchronous, so its calls run in
a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from typing import Any, cast

import msgspec
import redis
from rq import Queue, Worker
from rq.command import send_stop_job_command
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from ..broker import keys
from ..wire import LaunchRun, RunWorkerExited

log = logging.getLogger(__name__)

# the job function, as RQ workers import it
JOB_FUNCTION = "tether.runworker.run_rq_attempt"
# a finished job's record is kept this long for `rq info` and the like
RESULT_TTL = 3600
FAILURE_TTL = 7 * 24 * 3600

_WAITING = {JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED, JobStatus.CREATED}
_EXIT_KILLED = 128 + signal.SIGKILL
_EXIT_CANCELED = 128 + signal.SIGTERM


class _Tracked(msgspec.Struct, frozen=True, array_like=True):
    run_id: str
    attempt: int
    enqueued_at: float


class RqRuns:
    def __init__(self, redis_url: str, *, worker_url: str = "") -> None:
        """``worker_url`` is the broker URL the jobs' run workers write their output with
        (default ``redis_url``): it is stored in the job, which every RQ worker can read."""
        self.worker_url = worker_url or redis_url
        self._redis = redis.Redis.from_url(redis_url)
        self._stopping: set[asyncio.Task[None]] = set()

    async def enqueue(self, launch: LaunchRun, traceparent: str) -> tuple[str, str]:
        """Enqueue the attempt's job (unless it exists); returns its id and its RQ queue."""
        return await asyncio.to_thread(self._enqueue, launch, traceparent)

    async def stop(self, run_id: str, attempt: int, grace: float) -> bool:
        """Stop the attempt's job; False if it has ended already. A queued job is canceled; a
        started one's run worker sees the cancel key within a second and interrupts the step
        (SIGTERM); after ``grace`` seconds, RQ's stop-job kills its work horse."""
        job_id = keys.rq_job_id(run_id, attempt)
        status = await asyncio.to_thread(self._status, job_id)
        if status in _WAITING:
            await asyncio.to_thread(self._cancel, job_id)
            return True
        if status != JobStatus.STARTED:
            return False
        task = asyncio.ensure_future(self._stop_after(job_id, grace))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)
        return True

    async def ended_unreported(self) -> list[RunWorkerExited]:
        """The exits of tracked jobs that ended without reporting it or whose RQ worker was
        lost, each claimed by this call alone (no other launcher reports it too)."""
        exits = await asyncio.to_thread(self._ended_unreported)
        claimed = []
        for exited in exits:
            job_id = keys.rq_job_id(exited.run_id, exited.attempt)
            if await asyncio.to_thread(self._redis.hdel, keys.RQ_JOBS, job_id):
                claimed.append(exited)
        return claimed

    def close(self) -> None:
        for task in self._stopping:
            task.cancel()
        self._redis.close()

    def _enqueue(self, launch: LaunchRun, traceparent: str) -> tuple[str, str]:
        job_id = keys.rq_job_id(launch.run_id, launch.attempt)
        queue = Queue(keys.rq_queue(launch.location.queue), connection=self._redis)
        # tracked before it exists, so no job can end unnoticed
        self._redis.hsetnx(keys.RQ_JOBS, job_id, msgspec.msgpack.encode(
            _Tracked(launch.run_id, launch.attempt, time.time())))
        if not Job.exists(job_id, connection=self._redis):
            queue.enqueue_call(
                JOB_FUNCTION, args=(msgspec.json.encode(launch).decode(), self.worker_url,
                                    traceparent),
                job_id=job_id, timeout=-1, result_ttl=RESULT_TTL, failure_ttl=FAILURE_TTL,
                description=f"tether run {launch.run_id} attempt {launch.attempt} "
                            f"({launch.job_name})")
        return job_id, queue.name

    def _status(self, job_id: str) -> JobStatus | None:
        try:
            return Job.fetch(job_id, connection=self._redis).get_status()
        except NoSuchJobError:
            return None

    def _cancel(self, job_id: str) -> None:
        try:
            Job.fetch(job_id, connection=self._redis).cancel()
        except (NoSuchJobError, InvalidJobOperation) as exc:
            log.info("job %s not canceled: %s", job_id, exc)

    async def _stop_after(self, job_id: str, grace: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while loop.time() < deadline:
            if await asyncio.to_thread(self._status, job_id) != JobStatus.STARTED:
                return
            await asyncio.sleep(0.2)
        log.warning("job %s still runs %.0f s after its cancel: stopping its work horse",
                    job_id, grace)
        try:
            await asyncio.to_thread(send_stop_job_command, self._redis, job_id)
        except (NoSuchJobError, InvalidJobOperation) as exc:
            log.info("job %s not stopped: %s", job_id, exc)

    def _ended_unreported(self) -> list[RunWorkerExited]:
        entries = cast("dict[bytes, bytes]", self._redis.hgetall(keys.RQ_JOBS))
        tracked = {job_id.decode(): msgspec.msgpack.decode(value, type=_Tracked)
                   for job_id, value in entries.items()}
        if not tracked:
            return []
        ids = list(tracked)
        jobs = Job.fetch_many(ids, connection=self._redis)
        alive = self._redis.mget([keys.rq_alive_key(job_id) for job_id in ids])
        now = time.time()
        exits = []
        for job_id, job, beat in zip(ids, jobs, alive, strict=True):
            about = tracked[job_id]
            settled = now - about.enqueued_at > keys.RQ_ALIVE_SECONDS
            verdict = _verdict(job, beat is not None, settled, now)
            if verdict is not None:
                code, why = verdict
                exits.append(RunWorkerExited(run_id=about.run_id, attempt=about.attempt,
                                             exit_code=code, stderr_tail=why))
        return exits


def _verdict(job: Job | None, alive: bool, settled: bool,
             now: float) -> tuple[int, str] | None:
    """The exit code and explanation of a job that ended unreported; None if it has not."""
    if job is None:
        return (_EXIT_KILLED, "the RQ job is gone (expired or deleted)") if settled else None
    status = job.get_status(refresh=False)
    worker = f" on RQ worker {job.worker_name}" if job.worker_name else ""
    match status:
        case JobStatus.FINISHED:
            # the horse returned but could not report: its return value is the exit code
            code = job.return_value()
            return (code if isinstance(code, int) else 0), ""
        case JobStatus.FAILED:
            result = job.latest_result()
            why = result.exc_string if result is not None and result.exc_string else ""
            return _EXIT_KILLED, f"the RQ job failed{worker}: {why or 'its work horse died'}"
        case JobStatus.STOPPED:
            return _EXIT_KILLED, f"the RQ job was stopped{worker} (stop-job: SIGKILL)"
        case JobStatus.CANCELED:
            return _EXIT_CANCELED, "the run was canceled before it started"
        case JobStatus.STARTED:
            started = job.started_at.timestamp() if job.started_at else 0.0
            if not alive and now - started > keys.RQ_ALIVE_SECONDS:
                return _EXIT_KILLED, (f"the RQ worker running this run was lost{worker}: "
                                      f"no sign of life for {keys.RQ_ALIVE_SECONDS} s")
    return None


class RqWorker(Worker):
    """An RQ worker that, with ``stop_runs``, interrupts the run it executes when it is asked
    to stop (SIGTERM, Ctrl-C), as a launcher with ``stop_runs_on_exit`` does: the step sees
    ``KeyboardInterrupt``, its ``finally`` blocks run, and the worker exits once the run has.
    Without it, RQ's warm shutdown lets the run finish first."""

    def __init__(self, *args: Any, stop_runs: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stop_runs = stop_runs

    def request_stop(self, signum: int, frame: Any) -> None:
        if self.stop_runs and self.horse_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.horse_pid, signal.SIGTERM)
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]
