"""The run projection as a pure fold: a run's status and counters from its events.

No I/O here. The store folds each batch of newly stored events into the ``runs`` row, and
``Store.rebuild_run`` folds the whole stored log from scratch; both use :func:`fold`, which is
what makes the row a projection of the log rather than a second source of truth.

Status only moves forward (QUEUED < STARTING < STARTED < CANCELING < terminal) and a terminal
status never changes, so batches that arrive out of order cannot undo a run's outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from tether.wire import ErrorInfo, RunEvent, RunFailure, StepFailure, event_type


class RunStatus(StrEnum):
    QUEUED = "QUEUED"
    STARTING = "STARTING"
    STARTED = "STARTED"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    CANCELING = "CANCELING"
    CANCELED = "CANCELED"


TERMINAL_STATUSES = frozenset({RunStatus.SUCCESS, RunStatus.FAILURE, RunStatus.CANCELED})

_RANK = {
    RunStatus.QUEUED: 0,
    RunStatus.STARTING: 1,
    RunStatus.STARTED: 2,
    RunStatus.CANCELING: 3,
    RunStatus.SUCCESS: 4,
    RunStatus.FAILURE: 4,
    RunStatus.CANCELED: 4,
}

# Event types the control plane records itself (no seq): they are folded like any other.
RUN_QUEUED = "RUN_QUEUED"
RUN_STARTING = "RUN_STARTING"
RUN_LAUNCHED = "RUN_LAUNCHED"
RUN_FAILURE = "RUN_FAILURE"
RUN_CANCELING = "RUN_CANCELING"
RUN_CANCELED = "RUN_CANCELED"
# an agent acted on a cancel; the run's status follows from its worker's end
RUN_TERMINATING = "RUN_TERMINATING"

# event type -> the status it moves the run to
_STATUS_OF_EVENT = {
    RUN_QUEUED: RunStatus.QUEUED,
    RUN_STARTING: RunStatus.STARTING,
    "RUN_START": RunStatus.STARTED,
    RUN_CANCELING: RunStatus.CANCELING,
    "RUN_SUCCESS": RunStatus.SUCCESS,
    RUN_FAILURE: RunStatus.FAILURE,
    RUN_CANCELED: RunStatus.CANCELED,
}


@dataclass(frozen=True, slots=True)
class Fact:
    """What the fold needs from one event, whether a wire event or a control-plane one."""

    type: str
    timestamp: float
    error: ErrorInfo | None = None


@dataclass(frozen=True, slots=True)
class Projection:
    status: RunStatus = RunStatus.QUEUED
    start_time: float | None = None
    end_time: float | None = None
    error: ErrorInfo | None = None
    steps_succeeded: int = 0
    steps_failed: int = 0

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


def advance(current: RunStatus, target: RunStatus) -> RunStatus:
    """``target`` if it is further along than ``current``; a terminal status is final."""
    if current in TERMINAL_STATUSES or _RANK[target] <= _RANK[current]:
        return current
    return target


# the event types that can change a projection; the others (log lines, step starts, ...) are
# most of a run's events, and folding them is a no-op
_FOLDED = frozenset(_STATUS_OF_EVENT) | {"RUN_START", "STEP_SUCCESS", "STEP_FAILURE"}


def moves_projection(fact: Fact) -> bool:
    """Whether folding ``fact`` can change a projection at all."""
    return fact.type in _FOLDED


def apply(projection: Projection, fact: Fact) -> Projection:
    if not moves_projection(fact):
        return projection
    status, end_time, error = projection.status, projection.end_time, projection.error
    target = _STATUS_OF_EVENT.get(fact.type)
    if target is RunStatus.FAILURE and projection.status is RunStatus.CANCELING:
        # the failure is the interruption the cancel asked for
        target = RunStatus.CANCELED
    if target is not None:
        status = advance(projection.status, target)
        if status != projection.status and status in TERMINAL_STATUSES:
            end_time = fact.timestamp
            error = fact.error if status == RunStatus.FAILURE else None
    start_time = projection.start_time
    if fact.type == "RUN_START" and start_time is None:
        # kept even when RUN_START arrives after the outcome: the start did happen
        start_time = fact.timestamp
    return Projection(
        status=status,
        start_time=start_time,
        end_time=end_time,
        error=error,
        steps_succeeded=projection.steps_succeeded + (fact.type == "STEP_SUCCESS"),
        steps_failed=projection.steps_failed + (fact.type == "STEP_FAILURE"),
    )


def fold(projection: Projection, facts: Iterable[Fact]) -> Projection:
    for fact in facts:
        projection = apply(projection, fact)
    return projection


def fact_of(event: RunEvent) -> Fact:
    """The fold's view of a wire event."""
    error: ErrorInfo | None = None
    if isinstance(event, RunFailure):
        error = event.error or ErrorInfo(class_name="RunFailure", message=event.message)
    elif isinstance(event, StepFailure):
        error = event.error
    return Fact(type=event_type(event), timestamp=event.timestamp, error=error)
