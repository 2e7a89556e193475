"""Work the control plane hands to an agent, and the claim protocol around it."""

from __future__ import annotations

from typing import Any

import msgspec

from ._automation import TickKind
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
    # the run's tags: a container launcher takes its resources from them (tether/cpu,
    # tether/memory)
    tags: dict[str, str] = {}


class TerminateRun(msgspec.Struct, kw_only=True, frozen=True, tag="terminate_run"):
    run_id: str
    attempt: int


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


class RemoveLocation(msgspec.Struct, kw_only=True, frozen=True, tag="remove_location"):
    """Stop serving the location (its deploys up to ``generation``)."""

    name: str
    generation: int = 0


WorkPayload = LaunchRun | TerminateRun | LoadLocation | RemoveLocation | EvaluateTick


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
