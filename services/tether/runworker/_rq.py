"""The run worker as an RQ job, for the ``rq`` run-launcher backend.

Plain ``rq worker`` processes, on any host that reaches the agent's Redis and has the code
location's code, execute the run attempts the launchers enqueue. RQ forks a work horse per job
in a process group of its own; the horse executes the attempt exactly as ``tether api
execute-run`` does (same events, same capture, same exit codes) and reports its exit itself.

The job's arguments carry the run workers' restricted broker URL (see ``tether.broker._acl``),
which the run worker writes its output with; the bookkeeping around it (the cancel check, the
alive key, the exit report) goes through the RQ worker's own connection, which RQ needs anyway.
User code runs in the work horse, so that connection's user bounds what it can do: give RQ
workers a broker user limited to what they need (see the README).

While the attempt executes, a thread refreshes its alive key, so the launchers notice an RQ
worker that was lost, and watches for a cancel, which it turns into SIGTERM to the horse: the
step sees ``KeyboardInterrupt`` and its ``finally`` blocks run. RQ's stop-job command (SIGKILL
to the horse's group) is the launcher's last resort once the grace period is over.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import msgspec
import redis
from redis.exceptions import RedisError

from .._backoff import Backoff
from ..broker import entry_fields, keys
from ..errors import TetherError
from ..settings import load_settings
from ..wire import LaunchRun, RunWorkerExited
from ._execute import execute_run

# the exit code of an attempt canceled while its job waited in the RQ queue (as for SIGTERM)
EXIT_CANCELED_BEFORE_START = 128 + signal.SIGTERM
# how long the exit report waits for an unreachable broker before giving up (the launchers
# then report the job as lost)
REPORT_TIMEOUT = 300.0


def run_attempt(launch_json: str, redis_url: str, traceparent: str = "") -> int:
    """Execute one run attempt in this RQ work horse, writing its output with ``redis_url``;
    returns the run worker's exit code."""
    # imported here: every run worker imports this module, and only RQ's need RQ
    from rq import get_current_job

    launch = msgspec.json.decode(launch_json, type=LaunchRun)
    job = get_current_job()
    if job is None:
        raise TetherError("tether.runworker.run_rq_attempt runs as an RQ job only")
    # the RQ worker's connection; RQ closes it, once it has recorded the job's end
    client = job.connection
    if client.exists(keys.canceled_key(launch.run_id, launch.attempt)):
        code, tail = EXIT_CANCELED_BEFORE_START, "the run was canceled before it started"
    else:
        os.environ.update(launch.location.env)
        if launch.location.working_directory:
            os.chdir(launch.location.working_directory)
        done = threading.Event()
        threading.Thread(target=_keep_alive, args=(client, launch, done),
                         name="tether-rq-alive", daemon=True).start()
        try:
            # this host's storage folder: shared with the other hosts (e.g. an NFS mount),
            # wherever it is mounted here
            storage_dir = load_settings().resolved_storage_dir
            code, tail = execute_run(launch, redis_url=redis_url, traceparent=traceparent,
                                     storage_dir=storage_dir), ""
        finally:
            done.set()
    _report_exit(client, RunWorkerExited(run_id=launch.run_id, attempt=launch.attempt,
                                         exit_code=code, stderr_tail=tail), traceparent,
                 launch.deployment)
    return code


def _keep_alive(client: redis.Redis, launch: LaunchRun, done: threading.Event) -> None:
    alive = keys.rq_alive_key(keys.rq_job_id(launch.run_id, launch.attempt))
    canceled = keys.canceled_key(launch.run_id, launch.attempt)
    signalled = False
    while not done.is_set():
        try:
            pipe = client.pipeline(transaction=False)
            pipe.set(alive, os.getpid(), ex=keys.RQ_ALIVE_SECONDS)
            pipe.exists(canceled)
            _, cancel = pipe.execute()
        except RedisError:
            cancel = False  # the run worker's writer reports an unreachable broker
        if cancel and not signalled:
            # the execute_run handler turns it into KeyboardInterrupt in the main thread
            os.kill(os.getpid(), signal.SIGTERM)
            signalled = True
        done.wait(keys.RQ_ALIVE_INTERVAL)


def _report_exit(client: redis.Redis, exited: RunWorkerExited, traceparent: str,
                 deployment: str) -> None:
    """Append the exit to the results stream, then stop tracking the job (so the launchers
    report nothing for it)."""
    job_id = keys.rq_job_id(exited.run_id, exited.attempt)
    backoff = Backoff(maximum=5.0)
    deadline = time.monotonic() + REPORT_TIMEOUT
    while True:
        try:
            fields = entry_fields(exited, traceparent, deployment)
            client.xadd(keys.OUT_RESULTS, fields)  # type: ignore[arg-type]
            client.hdel(keys.RQ_JOBS, job_id)
            client.delete(keys.rq_alive_key(job_id))
            return
        except RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(backoff.next_delay())
