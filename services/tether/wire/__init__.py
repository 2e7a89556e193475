"""Every message that crosses a process boundary, as msgspec Structs.

Stream entries, agent-API bodies and gRPC payloads are msgpack encodings of these types; the
JSON Schema of each union is exported to ``schemas/`` (see :func:`export_schemas`).
"""

from ._agents import AgentHeartbeat, CodeServerStatus, WorkerStatus
from ._batches import MSGPACK_MEDIA_TYPE, ApiError, BatchReceipt, EventBatch, LogBatch, ResultBatch
from ._common import ErrorInfo
from ._dead_letter import DeadLetter
from ._events import (
    EVENT_TYPES,
    AssetMaterialization,
    LogChunk,
    LogLevel,
    LogMessage,
    LogStream,
    RunEvent,
    RunFailure,
    RunStart,
    RunSuccess,
    SpanBatch,
    StepFailure,
    StepSkipped,
    StepStart,
    StepSuccess,
    event_message,
    event_type,
)
from ._location import LocationSpec
from ._results import (
    EXIT_DUPLICATE_ATTEMPT,
    EXIT_INTERRUPTED,
    EXIT_RUN_FAILED,
    EXIT_RUN_SUCCEEDED,
    REPORTED_EXIT_CODES,
    AgentResult,
    LocationLoaded,
    LocationLoadFailed,
    RunLaunched,
    RunLaunchFailed,
    RunTerminated,
    RunWorkerExited,
)
from ._schemas import SCHEMA_TYPES, export_schemas, schema_documents
from ._snapshot import (
    AssetSnapshot,
    JobSnapshot,
    LocationSnapshot,
    OpInputSnapshot,
    OpNodeSnapshot,
)
from ._work import (
    ClaimRequest,
    ClaimResponse,
    LaunchRun,
    LoadLocation,
    TerminateRun,
    WorkItem,
    WorkPayload,
)
from ._zygote import ForkExit, ForkReply, ForkRequest

__all__ = [
    "EVENT_TYPES",
    "EXIT_DUPLICATE_ATTEMPT",
    "EXIT_INTERRUPTED",
    "EXIT_RUN_FAILED",
    "EXIT_RUN_SUCCEEDED",
    "MSGPACK_MEDIA_TYPE",
    "REPORTED_EXIT_CODES",
    "SCHEMA_TYPES",
    "AgentHeartbeat",
    "AgentResult",
    "ApiError",
    "AssetMaterialization",
    "AssetSnapshot",
    "BatchReceipt",
    "ClaimRequest",
    "ClaimResponse",
    "CodeServerStatus",
    "DeadLetter",
    "ErrorInfo",
    "EventBatch",
    "ForkExit",
    "ForkReply",
    "ForkRequest",
    "JobSnapshot",
    "LaunchRun",
    "LoadLocation",
    "LocationLoadFailed",
    "LocationLoaded",
    "LocationSnapshot",
    "LocationSpec",
    "LogBatch",
    "LogChunk",
    "LogLevel",
    "LogMessage",
    "LogStream",
    "OpInputSnapshot",
    "OpNodeSnapshot",
    "ResultBatch",
    "RunEvent",
    "RunFailure",
    "RunLaunchFailed",
    "RunLaunched",
    "RunStart",
    "RunSuccess",
    "RunTerminated",
    "RunWorkerExited",
    "SpanBatch",
    "StepFailure",
    "StepSkipped",
    "StepStart",
    "StepSuccess",
    "TerminateRun",
    "WorkItem",
    "WorkPayload",
    "WorkerStatus",
    "event_message",
    "event_type",
    "export_schemas",
    "schema_documents",
]
