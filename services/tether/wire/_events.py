"""Run events and compute-log chunks, written by a run worker and stored by the control plane.

Every event of one run attempt carries ``seq``, numbered 1, 2, 3 ... by the run worker; the
control plane stores each ``(run_id, attempt, seq)`` once, so redelivery is harmless.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from .._durations import format_duration
from ._common import ErrorInfo
from ._metadata import MetadataValue


class _Event(msgspec.Struct, kw_only=True, frozen=True, tag_field="type"):
    run_id: str
    attempt: int
    seq: int
    timestamp: float
    step_key: str | None = None


class RunStart(_Event, frozen=True, tag="RUN_START"):
    job_name: str
    pid: int = 0


class RunSuccess(_Event, frozen=True, tag="RUN_SUCCESS"):
    pass


class RunFailure(_Event, frozen=True, tag="RUN_FAILURE"):
    message: str
    error: ErrorInfo | None = None


class RunCanceled(_Event, frozen=True, tag="RUN_CANCELED"):
    """The run stopped because it was canceled (the control plane records an event of this
    type too, with no seq, for a run canceled before any agent had it)."""

    message: str = ""


class StepStart(_Event, frozen=True, tag="STEP_START"):
    # 2 and up: the step runs again after a STEP_RETRY (within the same run attempt)
    step_attempt: int = 1


class StepSlotRequested(_Event, frozen=True, tag="STEP_SLOT_REQUESTED"):
    """The step takes a slot of concurrency pool ``pool``, which lets ``limit`` steps execute
    at once across all runs: it waits until the control plane grants it one (its STEP_START
    follows), and holds it until the step ends."""

    pool: str
    limit: int


class StepRetry(_Event, frozen=True, tag="STEP_RETRY"):
    """A step attempt failed and the step will run again (its retry policy, or the op raised
    RetryRequested): the step is not finished."""

    duration: float
    error: ErrorInfo
    # the step attempt that failed (1 for the first run of the step)
    step_attempt: int = 1
    # seconds before the next attempt starts
    delay: float = 0.0


class StepSuccess(_Event, frozen=True, tag="STEP_SUCCESS"):
    duration: float


class StepFailure(_Event, frozen=True, tag="STEP_FAILURE"):
    duration: float
    error: ErrorInfo


class StepCanceled(_Event, frozen=True, tag="STEP_CANCELED"):
    """The step was interrupted by a cancel of its run (its ``finally`` blocks ran)."""

    duration: float = 0.0


class StepSkipped(_Event, frozen=True, tag="STEP_SKIPPED"):
    reason: str


class AssetMaterialization(_Event, frozen=True, tag="ASSET_MATERIALIZATION"):
    asset_key: str
    # what the asset reported about this materialization, by label
    metadata: dict[str, MetadataValue] = {}
    # the partition materialized; None: the asset is not partitioned
    partition: str | None = None


class AssetMaterializationPlanned(_Event, frozen=True, tag="ASSET_MATERIALIZATION_PLANNED"):
    """The run is to materialize this asset (partition), emitted after RUN_START for each
    asset step: the partition status shows it in progress until the run ends."""

    asset_key: str
    partition: str | None = None


CheckSeverity = Literal["ERROR", "WARN"]


class AssetCheckEvaluation(_Event, frozen=True, tag="ASSET_CHECK_EVALUATION"):
    """The result of one check of an asset (``@asset_check``, or a check spec the asset's own
    step reports on)."""

    asset_key: str
    check_name: str
    passed: bool
    severity: CheckSeverity = "ERROR"
    # a failed blocking ERROR check fails its step, so the asset's downstream steps do not run
    blocking: bool = False
    description: str = ""
    metadata: dict[str, MetadataValue] = {}


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class LogMessage(_Event, frozen=True, tag="LOG_MESSAGE"):
    level: LogLevel
    message: str


RunEvent = (
    RunStart
    | RunSuccess
    | RunFailure
    | RunCanceled
    | StepStart
    | StepSlotRequested
    | StepRetry
    | StepSuccess
    | StepFailure
    | StepCanceled
    | StepSkipped
    | AssetMaterialization
    | AssetCheckEvaluation
    | AssetMaterializationPlanned
    | LogMessage
)

EVENT_TYPES: tuple[type[_Event], ...] = RunEvent.__args__


def event_type(event: RunEvent) -> str:
    """The event's tag, e.g. ``"STEP_START"``."""
    return type(event).__struct_config__.tag  # type: ignore[return-value]


def event_message(event: RunEvent) -> str:
    """A one-line human description of an event, used by the CLI, the UI and the store."""
    match event:
        case RunStart():
            return f"Started run of {event.job_name} (pid {event.pid})"
        case RunSuccess():
            return "Run succeeded"
        case RunFailure():
            return event.message
        case RunCanceled():
            return event.message or "Run canceled"
        case StepStart():
            if event.step_attempt > 1:
                return f"Started step {event.step_key} (attempt {event.step_attempt})"
            return f"Started step {event.step_key}"
        case StepSlotRequested():
            return (f"Step {event.step_key} waits for a slot in pool {event.pool} "
                    f"(limit {event.limit})")
        case StepRetry():
            return (f"Step {event.step_key} attempt {event.step_attempt} failed "
                    f"({event.error.class_name}: {event.error.message}); retrying in "
                    f"{format_duration(event.delay)}")
        case StepSuccess():
            return f"Step {event.step_key} succeeded in {format_duration(event.duration)}"
        case StepFailure():
            return f"Step {event.step_key} failed: {event.error.class_name}: {event.error.message}"
        case StepCanceled():
            return f"Step {event.step_key} canceled after {format_duration(event.duration)}"
        case StepSkipped():
            return f"Skipped step {event.step_key}: {event.reason}"
        case AssetMaterialization():
            if event.partition is not None:
                return f"Materialized asset {event.asset_key} partition {event.partition}"
            return f"Materialized asset {event.asset_key}"
        case AssetCheckEvaluation():
            outcome = "passed" if event.passed else f"failed ({event.severity})"
            said = f": {event.description}" if event.description else ""
            return f"Check {event.check_name} of asset {event.asset_key} {outcome}{said}"
        case AssetMaterializationPlanned():
            what = f" partition {event.partition}" if event.partition is not None else ""
            return f"Planned to materialize asset {event.asset_key}{what}"
        case LogMessage():
            return event.message
    raise AssertionError(f"unhandled event {event!r}")


LogStream = Literal["stdout", "stderr"]


class LogChunk(msgspec.Struct, kw_only=True, frozen=True):
    """A piece of a run's stdout or stderr. ``seq`` numbers the chunks of one stream of one
    attempt, from 1, so the control plane stores each once and reassembles them in order."""

    run_id: str
    attempt: int
    stream: LogStream
    seq: int
    data: str
    step_key: str | None = None


SpanAttribute = str | int | float | bool


class SpanRecord(msgspec.Struct, kw_only=True, frozen=True):
    """One finished span of a run worker, as OTLP describes it: ids as raw bytes (16 for a
    trace, 8 for a span), times in nanoseconds since the epoch. ``error`` is the status
    description of a span that ended with an exception ("": it ended well)."""

    name: str
    trace_id: bytes
    span_id: bytes
    parent_id: bytes = b""
    start_ns: int
    end_ns: int
    attributes: dict[str, SpanAttribute] = {}
    # (trace id, span id) of each linked span
    links: list[tuple[bytes, bytes]] = []
    error: str = ""


class SpanBatch(msgspec.Struct, kw_only=True, frozen=True):
    """A run worker's finished spans, relayed through the agent's broker, with the resource
    attributes of the process that made them (``service.name``, ...). The run worker only
    talks to Redis; the uploader turns the batches into OTLP and sends them on to the
    OpenTelemetry endpoint."""

    spans: list[SpanRecord] = []
    resource: dict[str, str] = {}
    # what run workers of earlier versions send instead: their spans as one OTLP
    # ``ExportTraceServiceRequest`` in protobuf
    otlp: bytes = b""
