"""JSON Schema export of the wire unions into ``schemas/`` (a test keeps the files current)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from ._agents import AgentHeartbeat, HeartbeatReply
from ._batches import EventBatch, LogBatch, ResultBatch
from ._events import LogChunk, RunEvent
from ._results import AgentResult
from ._snapshot import LocationSnapshot
from ._work import ClaimRequest, ClaimResponse, WorkItem

SCHEMA_TYPES: dict[str, Any] = {
    "work_item": WorkItem,
    "claim_request": ClaimRequest,
    "claim_response": ClaimResponse,
    "run_event": RunEvent,
    "log_chunk": LogChunk,
    "agent_result": AgentResult,
    "event_batch": EventBatch,
    "log_batch": LogBatch,
    "result_batch": ResultBatch,
    "location_snapshot": LocationSnapshot,
    "agent_heartbeat": AgentHeartbeat,
    "heartbeat_reply": HeartbeatReply,
}


def schema_documents() -> dict[str, str]:
    """File name → JSON text, for every exported wire type."""
    return {
        f"{name}.schema.json": json.dumps(msgspec.json.schema(tp), indent=2, sort_keys=True) + "\n"
        for name, tp in SCHEMA_TYPES.items()
    }


def export_schemas(directory: Path) -> list[Path]:
    """Write every schema document into ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in schema_documents().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written
