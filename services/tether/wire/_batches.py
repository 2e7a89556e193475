"""Bodies of the agent API's upload calls: one msgspec decode per request."""

from __future__ import annotations

import msgspec

from ._events import LogChunk, RunEvent
from ._results import AgentResult


class EventBatch(msgspec.Struct, kw_only=True, frozen=True):
    events: list[RunEvent]


class LogBatch(msgspec.Struct, kw_only=True, frozen=True):
    chunks: list[LogChunk]


class ResultBatch(msgspec.Struct, kw_only=True, frozen=True):
    results: list[AgentResult]


# the content type of every agent-API body
MSGPACK_MEDIA_TYPE = "application/msgpack"


class ApiError(msgspec.Struct, kw_only=True, frozen=True):
    """The JSON body of every non-GraphQL error answer: what is wrong and what to do."""

    error: str


class BatchReceipt(msgspec.Struct, kw_only=True, frozen=True):
    """How many items the control plane stored now, and how many it had already."""

    stored: int
    duplicates: int = 0
    # items refused because a newer attempt of their run exists (fencing)
    rejected: int = 0
