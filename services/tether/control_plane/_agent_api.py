"""The agent API: msgpack bodies in and out, one typed decoder per body type.

The agent only ever calls out: it long-polls ``claim`` for work and uploads events, compute
logs and results. Every upload answers 200 only after its transaction has committed, so the
agent may ack its stream entries as soon as it has the receipt.

An agent token serves one deployment: every call works in the store scoped to it, so a
claim leases only that deployment's work, and an upload about another deployment's run,
work item, location or tick is rejected (counted in the receipt, like a fenced one) as if
it did not exist. The heartbeat's reply names the deployment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import anyio
import msgspec
from anyio import to_thread
from starlette.requests import Request
from starlette.responses import Response

from tether import _telemetry as telemetry
from tether.wire import (
    MSGPACK_MEDIA_TYPE,
    AgentHeartbeat,
    AssetMaterialization,
    ClaimRequest,
    ClaimResponse,
    EventBatch,
    HeartbeatReply,
    JsonValue,
    LocationLoaded,
    LogBatch,
    ResultBatch,
    TablePreview,
    TickEvaluated,
    WorkItem,
)

from ._auth import require_token
from ._nesting import check_depth
from ._state import AppState
from .errors import InputTooDeep
from .storage import PROD, Store

# A long-poll held longer than this risks proxies' idle timeouts; the agent simply re-polls.
MAX_WAIT_SECONDS = 30.0
# How often a waiting claim looks at the database for work another process enqueued (the
# daemons' ticks and admitted runs), or whose lease expired; work enqueued in this process
# wakes it at once. One indexed read: cheap enough that a tick due now waits for no more.
RECHECK_SECONDS = 0.1
# The most items one claim leases, whatever the agent asks for.
MAX_CLAIM_ITEMS = 1000

_claim_decoder = msgspec.msgpack.Decoder(ClaimRequest)
_events_decoder = msgspec.msgpack.Decoder(EventBatch)
_logs_decoder = msgspec.msgpack.Decoder(LogBatch)
_results_decoder = msgspec.msgpack.Decoder(ResultBatch)
_heartbeat_decoder = msgspec.msgpack.Decoder(AgentHeartbeat)
_encode = msgspec.msgpack.Encoder().encode

T = TypeVar("T")


class AgentApi:
    def __init__(self, state: AppState) -> None:
        self._state = state

    async def _decode(self, request: Request,
                      decoder: msgspec.msgpack.Decoder[T]) -> tuple[Store, T]:
        """The store of the token's deployment, and the decoded body."""
        token = await require_token(request, self._state.store, "agent")
        # every agent token has a deployment (tokens.create); prod for older ones
        store = self._state.store.scoped(token.deployment or PROD)
        limit = self._state.settings.max_input_depth
        # msgspec.DecodeError and InputTooDeep become 400s in the app's exception handlers
        try:
            body = decoder.decode(await request.body())
        except RecursionError:
            raise InputTooDeep("the request body", limit) from None
        for what, value in _free_form(body):
            check_depth(value, limit, what)
        return store, body

    async def claim(self, request: Request) -> Response:
        store, body = await self._decode(request, _claim_decoder)
        items = await self._claim_within(request, store, body)
        return Response(_encode(ClaimResponse(items=items)), media_type=MSGPACK_MEDIA_TYPE)

    async def _claim_within(self, request: Request, store: Store,
                            body: ClaimRequest) -> list[WorkItem]:
        state = self._state
        deadline = anyio.current_time() + max(0.0, min(body.wait_seconds, MAX_WAIT_SECONDS))

        def claim() -> list[WorkItem]:
            return store.claim_work(
                body.agent_id, body.queues, min(body.max_items, MAX_CLAIM_ITEMS),
                state.settings.lease_seconds,
            )

        wake = state.signal.current()
        items = await to_thread.run_sync(claim)
        if state.stopping:
            return items
        while not items:
            remaining = deadline - anyio.current_time()
            if remaining <= 0:
                break
            signalled = False
            with anyio.move_on_after(min(RECHECK_SECONDS, remaining)):
                await wake.wait()
                signalled = True
            if state.stopping or await request.is_disconnected():
                # nobody would receive the items (or the server is going away): leave
                # them for the next poll
                break
            wake = state.signal.current()
            if signalled or await to_thread.run_sync(
                store.has_pending_work, body.queues, body.agent_id
            ):
                items = await to_thread.run_sync(claim)
        return items

    async def heartbeat(self, request: Request) -> Response:
        store, body = await self._decode(request, _heartbeat_decoder)
        await to_thread.run_sync(store.record_heartbeat, body)
        reply = HeartbeatReply(stored=1, deployment=store.deployment)
        return Response(_encode(reply), media_type=MSGPACK_MEDIA_TYPE)

    async def events(self, request: Request) -> Response:
        store, body = await self._decode(request, _events_decoder)
        return await self._store(request, "events", store.store_events, body.events)

    async def logs(self, request: Request) -> Response:
        store, body = await self._decode(request, _logs_decoder)
        return await self._store(request, "logs", store.store_logs, body.chunks)

    async def results(self, request: Request) -> Response:
        store, body = await self._decode(request, _results_decoder)
        return await self._store(request, "results", store.store_results, body.results)

    async def _store(self, request: Request, kind: str,
                     store: Callable[[list[T]], msgspec.Struct], batch: list[T]) -> Response:
        with telemetry.span(f"store {kind}", parent=request.headers.get("traceparent", ""),
                            attributes={"tether.entries": len(batch)}):
            receipt = await to_thread.run_sync(store, batch)
        return Response(_encode(receipt), media_type=MSGPACK_MEDIA_TYPE)


def _free_form(body: object) -> Iterator[tuple[str, Any]]:
    """The parts of an upload whose shape the wire types leave open (JSON-like values), which
    alone can nest deeper than the types do."""
    if isinstance(body, EventBatch):
        for event in body.events:
            if isinstance(event, AssetMaterialization):
                # the typed values' open parts: a JSON value, a table preview's cells
                for value in event.metadata.values():
                    if isinstance(value, JsonValue | TablePreview):
                        yield (f"the metadata of event {event.seq} of run {event.run_id}",
                               value.data if isinstance(value, JsonValue) else value.rows)
    elif isinstance(body, ResultBatch):
        for result in body.results:
            if isinstance(result, LocationLoaded):
                for job in result.snapshot.jobs:
                    yield f"the run config schema of job {job.name}", job.run_config_schema
            elif isinstance(result, TickEvaluated):
                for run in result.outcome.run_requests:
                    yield f"the run config asked for by tick {result.tick_id}", run.run_config
                    yield f"the tags asked for by tick {result.tick_id}", run.tags
