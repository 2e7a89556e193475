"""Work the control plane hands to an agent, and the claim protocol around it."""

from __future__ import annotations

from typing import Any

import msgspec

from ._automation import MaterializationRecord, RunStatusChange, TickKind
from ._location import LocationSpec


class LaunchRun(msgspec.Struct, kw_only=True, frozen=True, tag="launch_run"):
    run_id: str
    attempt: int
    job_name: str
    location: LocationSpec
    run_config: dict[str, Any] = {}
    # the steps to run, upstream first (a re-execution from failure); None: every step
    step_selection: list[str] | None = None
    # for a step the selection leaves out, the run whose stored output its downstream steps
    # load (absent: this run)
    input_runs: dict[str, str] = {}
    # the partition the run is of; None: the job is not partitioned
    partition: str | None = None
    # the keys of each dynamic partitions definition the job's assets (and the assets they
    # read) are partitioned by, when the run was handed over: the run worker maps partitions
    # with them and never asks the control plane
    dynamic_partitions: dict[str, list[str]] = {}
    # the limit of each concurrency pool the control plane limits (set when the launch is
    # claimed): a step of one of these pools waits for a slot (``GrantSlot``) before it starts
    pool_limits: dict[str, int] = {}
    # the run's tags as text (a container's limits come from ``tether/cpu``, ``tether/memory``)
    tags: dict[str, str] = {}
    # the deployment the run belongs to, as the agent token that claimed it serves it (set
    # by the agent's launcher; its run worker tags what it writes with it, so the uploader
    # reports the run with that deployment's token); "": the agent's only deployment
    deployment: str = ""


class TerminateRun(msgspec.Struct, kw_only=True, frozen=True, tag="terminate_run"):
    run_id: str
    attempt: int


class GrantSlot(msgspec.Struct, kw_only=True, frozen=True, tag="grant_slot"):
    """A step of a run attempt may start: the control plane gave it a slot of ``pool``. The
    launcher marks it where the run worker looks (``tether:slot:<run>:<attempt>:<step>``)."""

    run_id: str
    attempt: int
    step_key: str
    pool: str


class LoadLocation(msgspec.Struct, kw_only=True, frozen=True, tag="load_location"):
    """Serve ``location`` (start, or replace blue/green). ``generation`` grows with every
    deploy of the location; results name it, so a late answer about an older deploy never
    overwrites the status of a newer one."""

    location: LocationSpec
    generation: int = 0


class EvaluateTick(msgspec.Struct, kw_only=True, frozen=True, tag="evaluate_tick"):
    """Evaluate one tick of schedule or sensor ``name`` in its location's code server: a
    schedule's tick due at ``scheduled_time``, a sensor's with the ``cursor`` it saved."""

    tick_id: int
    kind: TickKind
    name: str
    location: LocationSpec
    scheduled_time: float | None = None
    cursor: str | None = None
    last_tick_time: float | None = None
    # a run status or asset sensor's news since its cursor: storage events up to
    # ``events_until`` (the cursor it keeps when the tick succeeds)
    run_changes: list[RunStatusChange] = []
    materializations: list[MaterializationRecord] = []
    events_until: int = 0


class RemoveLocation(msgspec.Struct, kw_only=True, frozen=True, tag="remove_location"):
    """Stop serving the location (its deploys up to ``generation``)."""

    name: str
    generation: int = 0


WorkPayload = LaunchRun | TerminateRun | GrantSlot | LoadLocation | RemoveLocation | EvaluateTick


class WorkItem(msgspec.Struct, kw_only=True, frozen=True):
    """A claimed unit of work. ``epoch`` counts the claims of this item; a result names the
    epoch it answers, and ``lease_until`` (epoch seconds) is when the claim lapses."""

    work_id: str
    epoch: int
    lease_until: float
    payload: WorkPayload
    # W3C traceparent of the span that created the work, so one trace follows it
    traceparent: str = ""
    # when the control plane enqueued it (epoch seconds), for the claim latency metric
    enqueued_at: float = 0.0


class ClaimRequest(msgspec.Struct, kw_only=True, frozen=True):
    agent_id: str
    queues: list[str] = msgspec.field(default_factory=lambda: ["default"])
    max_items: int = 16
    # how long the control plane may hold the request open while no work is ready
    wait_seconds: float = 20.0


class ClaimResponse(msgspec.Struct, kw_only=True, frozen=True):
    items: list[WorkItem] = []
