"""What the store's queries return: plain frozen records decoded from rows, never Row objects
(so callers need not know the schema, and nothing holds a connection)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal, NamedTuple

from tether.partitions import range_of
from tether.wire import ErrorInfo, LocationSnapshot, LocationSpec, MetadataValue

from ._projection import RunStatus

TokenKind = Literal["agent", "user"]
Role = Literal["viewer", "launcher", "admin"]


class WorkStatus(StrEnum):
    PENDING = "PENDING"
    CLAIMED = "CLAIMED"
    DONE = "DONE"


class LocationStatus(StrEnum):
    LOADING = "LOADING"
    LOADED = "LOADED"
    ERROR = "ERROR"


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    job_name: str
    location: str
    status: RunStatus
    attempt: int
    run_config: dict[str, Any]
    tags: dict[str, Any]
    created_at: float
    updated_at: float
    start_time: float | None
    end_time: float | None
    error: ErrorInfo | None
    steps_succeeded: int
    steps_failed: int
    # the steps the run executes, upstream first; None: every step of its job
    step_selection: list[str] | None = None
    # for a step the selection leaves out, the run whose stored output its steps load
    input_runs: dict[str, str] = field(default_factory=dict)
    # the partition of its job the run is of; None: not partitioned (or a ranged run)
    partition: str | None = None

    @property
    def partition_range(self) -> PartitionRange | None:
        """The first and last partition of a ranged run (its
        ``tether/partition_range_start``/``end`` tags); None: not ranged."""
        found = range_of(self.tags)
        return None if found is None else PartitionRange(*found)


class PartitionRange(NamedTuple):
    start: str
    end: str


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    run_id: str
    attempt: int
    # None for events the control plane recorded itself
    seq: int | None
    type: str
    timestamp: float
    step_key: str | None
    level: str
    message: str
    error: ErrorInfo | None


@dataclass(frozen=True, slots=True)
class LogRecord:
    id: int
    run_id: str
    attempt: int
    stream: str
    seq: int
    step_key: str | None
    data: str


@dataclass(frozen=True, slots=True)
class LocationRecord:
    name: str
    spec: LocationSpec
    status: LocationStatus
    # the last snapshot an agent loaded; kept while a reload is in progress
    snapshot: LocationSnapshot | None
    # the user's traceback of the last failed load
    error: str | None
    updated_at: float
    # grows with every deploy; status and error describe this one
    generation: int = 0
    # after a failed load: when the agent loads it again, unless its files change first
    next_retry_at: float | None = None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    kind: TokenKind
    role: Role
    name: str
    created_at: float
    # None: it never expires
    expires_at: float | None = None
    # an agent token's deployment (None for a user token)
    deployment: str | None = None


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A token as the settings page lists it (never the token itself)."""

    id: int
    kind: TokenKind
    role: Role
    name: str
    created_at: float
    revoked_at: float | None
    expires_at: float | None = None
    # to within a minute (see ``_tokens.LAST_USED_RESOLUTION``); None: never used
    last_used_at: float | None = None
    # an agent token's deployment (None for a user token)
    deployment: str | None = None


ActorKind = Literal["user", "agent", "cli", "system"]
Outcome = Literal["ok", "refused"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for a change, as the audit log records it: a token (its id, name, kind and
    role), or the CLI or the control plane itself (no token); ``via`` is the door it came
    through (graphql, ui, cli, startup) and ``client`` the peer's address."""

    kind: ActorKind
    name: str
    via: str
    token_id: int | None = None
    role: Role | None = None
    client: str = ""

    @classmethod
    def of_token(cls, token: TokenInfo, *, via: str, client: str = "") -> Actor:
        return cls(kind=token.kind, name=token.name or f"token {token.id}", via=via,
                   token_id=token.id, role=token.role, client=client)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: float
    actor: Actor
    # e.g. run.launch, run.cancel, location.deploy, token.revoke
    action: str
    # what it acted on: a run id, a location's name, a token's id, ...
    target: str
    outcome: Outcome
    # what else a reader needs: the job launched, why it was refused, ...
    detail: str


@dataclass(frozen=True, slots=True)
class SessionInfo:
    token: TokenInfo
    csrf: str
    expires_at: float


@dataclass(frozen=True, slots=True)
class Materialization:
    asset_key: str
    run_id: str
    timestamp: float
    # what the asset reported about it, by label
    metadata: dict[str, MetadataValue]


@dataclass(frozen=True, slots=True)
class CheckEvaluation:
    """One result of an asset check, from its ASSET_CHECK_EVALUATION event."""

    asset_key: str
    check_name: str
    run_id: str
    step_key: str | None
    timestamp: float
    passed: bool
    # ERROR or WARN
    severity: str
    blocking: bool
    description: str
    metadata: dict[str, MetadataValue]


@dataclass(frozen=True, slots=True)
class CheckSummary:
    """An asset's checks by their latest results: how many passed, which failed (with ERROR
    or WARN severity) and how many were never evaluated."""

    total: int
    passed: int
    failed: tuple[str, ...]
    warned: tuple[str, ...]
    never: int

    @classmethod
    def of(cls, check_names: Sequence[str],
           outcomes: Mapping[str, tuple[bool, str]]) -> CheckSummary:
        """The summary of checks ``check_names`` from the newest outcome of each that has
        one: ``(passed, severity)`` by check name."""
        found = [outcomes[name] + (name,) for name in check_names if name in outcomes]
        return cls(total=len(check_names),
                   passed=sum(1 for passed, _, _ in found if passed),
                   failed=tuple(name for passed, severity, name in found
                                if not passed and severity == "ERROR"),
                   warned=tuple(name for passed, severity, name in found
                                if not passed and severity != "ERROR"),
                   never=len(check_names) - len(found))

    @property
    def state(self) -> str:
        """FAILED (an ERROR check failed), WARNING (a WARN check failed), PASSED (every
        check passed) or PENDING (some never evaluated, none failed)."""
        if self.failed:
            return "FAILED"
        if self.warned:
            return "WARNING"
        return "PASSED" if self.passed == self.total else "PENDING"

    @property
    def text(self) -> str:
        """In words: ``2/3 checks passed; failed (ERROR): orders_positive``."""
        parts = [f"{self.passed}/{self.total} check{'s' if self.total != 1 else ''} passed"]
        if self.failed:
            parts.append(f"failed (ERROR): {', '.join(self.failed)}")
        if self.warned:
            parts.append(f"failed (WARN): {', '.join(self.warned)}")
        if self.never:
            parts.append(f"{self.never} not evaluated yet")
        return "; ".join(parts)


@dataclass(frozen=True, slots=True)
class StepSpan:
    """One step of a run attempt as its events tell it, for the run page's timeline."""

    step_key: str
    attempt: int
    start: float | None
    end: float | None
    # STARTED, RETRYING (an attempt failed, the next one is to come), SUCCESS, FAILURE,
    # SKIPPED or CANCELED
    status: str
    # how many times the step started in this run attempt (more than 1 after STEP_RETRY)
    step_attempts: int = 1


@dataclass(frozen=True, slots=True)
class LaunchRequest:
    """A run asked for. With ``origin`` and ``run_key``, a run that origin already created
    with that key is not created again."""

    job_name: str
    location: str | None
    run_config: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, Any] = field(default_factory=dict)
    traceparent: str = ""
    origin: str | None = None
    run_key: str | None = None
    # the steps to run (each with those upstream of it); None: all of them
    step_selection: list[str] | None = None
    # for a step the selection leaves out, the run whose stored output its steps load
    input_runs: dict[str, str] = field(default_factory=dict)
    # the partition to run (checked against the job's partitions); None: not partitioned
    partition: str | None = None


@dataclass(frozen=True, slots=True)
class NewRun:
    """A launch request that passed the checks: the run to create."""

    request: LaunchRequest
    run_id: str
    job_name: str
    location: LocationSpec


@dataclass(frozen=True, slots=True)
class ExistingRun:
    """A launch request whose origin created its run with that key already."""

    request: LaunchRequest
    run_id: str
