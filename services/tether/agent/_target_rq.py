"""The RQ launch target: each run attempt becomes an RQ job (see :mod:`._rq`) that an
``rq worker`` on any host executes; exits no run worker reported are found by polling."""

from __future__ import annotations

from ..wire import EnqueuedJob, LaunchHolder, LaunchRun, RunWorkerExited, StartedHolder
from ._rq import RqRuns
from ._target_process import cancel_local
from ._targets import Cancel, Started, redis_call


class RqTarget:
    # how often the jobs that ended unreported are looked for
    check_interval: float | None = 2.0

    def __init__(self, rq: RqRuns, *, agent_id: str, terminate_grace: float) -> None:
        self.rq = rq
        self.agent_id = agent_id
        self.terminate_grace = terminate_grace

    async def start(self, launch: LaunchRun, traceparent: str) -> Started:
        job_id, _ = await redis_call(self.rq.enqueue(launch, traceparent))
        # its exit is reported by its run worker, or found by ended_unreported
        return Started(EnqueuedJob(self.agent_id, job_id))

    def adopt(self, pid: int, launch: LaunchRun) -> StartedHolder | None:
        # the attempt's job has a fixed id: a redelivered launch enqueues nothing new
        return None

    async def cancel(self, run_id: str, attempt: int, holder: LaunchHolder | None) -> Cancel:
        if isinstance(holder, EnqueuedJob):
            return Cancel(found=await redis_call(
                self.rq.stop(run_id, attempt, self.terminate_grace)))
        return cancel_local(holder, self.agent_id, run_id, self.terminate_grace)

    async def ended_unreported(self) -> list[RunWorkerExited]:
        return await redis_call(self.rq.ended_unreported())

    async def close(self) -> None:
        self.rq.close()
