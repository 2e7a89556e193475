"""What an agent reports back when it has acted on a work item, or when a run worker exits."""

from __future__ import annotations

import msgspec

from ._automation import TickOutcome
from ._common import ErrorInfo
from ._snapshot import LocationSnapshot


class _Result(msgspec.Struct, kw_only=True, frozen=True, tag_field="type"):
    # the work item this result completes (empty for results no work item asked for)
    work_id: str = ""
    epoch: int = 0


class RunLaunched(_Result, frozen=True, tag="run_launched"):
    """A run worker started (``pid`` on the agent's host), or, with the ``rq`` backend, the
    attempt was enqueued as RQ job ``rq_job_id`` on ``rq_queue``, or started in the Docker
    container ``container_id`` (``pid`` is then 0)."""

    run_id: str
    attempt: int
    pid: int
    agent_id: str = ""
    rq_job_id: str = ""
    rq_queue: str = ""
    container_id: str = ""
    # with the kubernetes agent kind: the Job (namespace/name) whose pod runs it
    kubernetes_job: str = ""


class RunLaunchFailed(_Result, frozen=True, tag="run_launch_failed"):
    run_id: str
    attempt: int
    error: ErrorInfo


# the run worker's exit codes: it wrote the run's terminal event (success, failure or cancel)
# and flushed it to the broker, so the control plane learns the outcome from the events
EXIT_RUN_SUCCEEDED = 0
EXIT_RUN_FAILED = 3
EXIT_RUN_CANCELED = 5
# another run worker already executes this attempt (and will report it): this one did nothing
EXIT_DUPLICATE_ATTEMPT = 4
# the run was interrupted (SIGTERM or Ctrl-C) before it wrote its terminal event
EXIT_INTERRUPTED = 130
REPORTED_EXIT_CODES = frozenset(
    {EXIT_RUN_SUCCEEDED, EXIT_RUN_FAILED, EXIT_RUN_CANCELED, EXIT_DUPLICATE_ATTEMPT})


class RunWorkerExited(_Result, frozen=True, tag="run_worker_exited"):
    """The run worker process ended. Any exit code outside ``REPORTED_EXIT_CODES`` (a crash,
    a kill, a failed flush) fails a run still in progress."""

    run_id: str
    attempt: int
    exit_code: int
    stderr_tail: str = ""


class RunTerminated(_Result, frozen=True, tag="run_terminated"):
    """A launcher acted on a termination: ``found`` says whether the run worker was running
    (then it was sent SIGTERM, and SIGKILL after the grace period). A run worker that had not
    started yet never will: its launch is reported as failed."""

    run_id: str
    attempt: int
    found: bool


class SlotGranted(_Result, frozen=True, tag="slot_granted"):
    """A launcher marked a step's pool slot granted, where the run worker looks."""

    run_id: str
    attempt: int
    step_key: str


class LocationLoaded(_Result, frozen=True, tag="location_loaded"):
    """A code server of the location's deploy ``generation`` answers with ``snapshot``
    (after a deploy, or after a restart, when ``work_id`` is empty)."""

    location: str
    snapshot: LocationSnapshot
    generation: int = 0


class LocationLoadFailed(_Result, frozen=True, tag="location_load_failed"):
    """The user's code failed to load (``error.stack`` is their traceback), or its code
    server did not start or died (the message ends with its stderr tail)."""

    location: str
    error: ErrorInfo
    generation: int = 0
    # when the agent loads it again (Unix time; 0: not planned), unless its files change first
    next_retry_at: float = 0.0


class LocationRemoved(_Result, frozen=True, tag="location_removed"):
    location: str
    generation: int = 0


class TickEvaluated(_Result, frozen=True, tag="tick_evaluated"):
    """The code server evaluated tick ``tick_id``: its outcome, or the error that kept it
    from being evaluated at all (the location not loaded, a timeout)."""

    tick_id: int
    outcome: TickOutcome


AgentResult = (
    RunLaunched
    | RunLaunchFailed
    | RunWorkerExited
    | RunTerminated
    | SlotGranted
    | LocationLoaded
    | LocationLoadFailed
    | TickEvaluated
    | LocationRemoved
)
