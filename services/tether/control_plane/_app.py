"""The control plane's ASGI app and its process entry point."""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType

import msgspec
import uvicorn
from anyio import to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tether._metrics import REQUEST_DURATION
from tether._tls import server_certificate
from tether.errors import Unauthorized
from tether.settings import Settings
from tether.wire import ApiError
from tether.workspace import load_workspace

from ._agent_api import AgentApi
from ._body_limit import AGENT_PREFIX, BodyLimit
from ._graphql import GraphQLApi
from ._state import AppState
from .alerts import policies_from_file
from .errors import RateLimited, RequestRefused, StorageError, UnstorableInput
from .storage import Actor, QueueLimits, Store
from .ui import web_ui_routes

logger = logging.getLogger("tether.control_plane")


# the audit log's name for the deploys of the workspace file at start-up
_WORKSPACE = Actor(kind="system", name="workspace", via="startup")
_ALERTS_FILE = Actor(kind="system", name="alerts-file", via="startup")


def _open_store(settings: Settings) -> Store:
    """Connect, migrate and deploy the workspace's locations (blocking: runs in a thread)."""
    store = Store.from_url(settings.resolved_database_url,
                           limits=QueueLimits.from_settings(settings),
                           ended_run_grace=settings.ended_run_grace_seconds)
    try:
        store.migrate()
        if settings.workspace:
            for spec in load_workspace(settings.workspace):
                store.deploy_location(spec, actor=_WORKSPACE)
        if settings.alerts_file:
            store.load_alert_policies(policies_from_file(settings.alerts_file),
                                      actor=_ALERTS_FILE)
    except BaseException:
        store.close()
        raise
    return store


def create_app(settings: Settings) -> Starlette:
    """The control plane: ``/healthz``, the agent API under ``/agent/v1``, ``/graphql`` and
    the web UI (``/runs``, ``/jobs``, ... and ``/static``).
    The store opens (and migrates) when the app starts, and closes when it stops."""
    return _build_app(settings)[0]


def _build_app(settings: Settings) -> tuple[Starlette, AppState]:
    state = AppState(settings)
    agent = AgentApi(state)
    graphql = GraphQLApi(state)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        state.start(await to_thread.run_sync(_open_store, settings))
        # locations deployed at start-up are waiting for an agent
        state.signal.notify()
        try:
            yield
        finally:
            store = state.stop()
            if store is not None:
                await to_thread.run_sync(store.close)

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/agent/v1/claim", agent.claim, methods=["POST"]),
            Route("/agent/v1/events", agent.events, methods=["POST"]),
            Route("/agent/v1/logs", agent.logs, methods=["POST"]),
            Route("/agent/v1/results", agent.results, methods=["POST"]),
            Route("/agent/v1/heartbeat", agent.heartbeat, methods=["POST"]),
            Route("/graphql", graphql.handle, methods=["POST"]),
            *web_ui_routes(state, graphql),
        ],
        exception_handlers={
            Unauthorized: _unauthorized,
            msgspec.DecodeError: _undecodable,
            StorageError: _storage_unavailable,
            UnstorableInput: _unstorable,
            RequestRefused: _refused,
        },
        lifespan=lifespan,
        middleware=[Middleware(_RequestTiming),
                    Middleware(BodyLimit, limit_for=_body_limits(settings))],
    )
    return app, state


def _body_limits(settings: Settings) -> Callable[[str], int]:
    """The body limit of a path: the agent API uploads batches of thousands of events; the
    rest (GraphQL, the web UI's forms) gets the general one."""
    agent, general = settings.max_agent_request_bytes, settings.max_request_bytes

    def limit_for(path: str) -> int:
        return agent if path.startswith(AGENT_PREFIX) else general

    return limit_for


class _RequestTiming:
    """Records each request's handling time by operation: the API route's last path segment
    (``claim``, ``events``, ..., ``graphql``), or ``ui`` for the web UI's pages."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send)
        finally:
            operation = _operation(scope["path"])
            REQUEST_DURATION.record(time.perf_counter() - started, {"operation": operation})


_API_PREFIXES = ("/agent/", "/graphql", "/healthz")


def _operation(path: str) -> str:
    # the web UI's paths hold run ids and names: one label for all of them keeps the
    # metric's label set small
    if not path.startswith(_API_PREFIXES):
        return "static" if path.startswith("/static/") else "ui"
    return path.rstrip("/").rpartition("/")[2] or "root"


def error_response(message: str, status_code: int, headers: dict[str, str] | None = None
                   ) -> Response:
    return Response(msgspec.json.encode(ApiError(error=message)), status_code=status_code,
                    media_type="application/json", headers=headers)


async def _unauthorized(_request: Request, exc: Exception) -> Response:
    return error_response(str(exc), 401, headers={"WWW-Authenticate": "Bearer"})


async def _undecodable(_request: Request, exc: Exception) -> Response:
    return error_response(f"cannot decode the request body: {exc}", 400)


async def _refused(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestRefused)
    headers = ({"Retry-After": str(max(1, round(exc.retry_after)))}
               if isinstance(exc, RateLimited) else None)
    return error_response(f"{exc}; nothing from this request was stored", exc.status_code,
                          headers=headers)


async def _unstorable(_request: Request, exc: Exception) -> Response:
    logger.error("refused by the database: %s", exc)
    return error_response(f"{exc}; this batch can never be stored (nothing was stored)", 422)


async def _storage_unavailable(_request: Request, exc: Exception) -> Response:
    logger.error("storage error: %s", exc)
    # agents wait at least this long before retrying, on top of their own backoff
    return error_response(f"{exc}; retry later (nothing from this request was stored)", 503,
                          headers={"Retry-After": "1"})


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, state: AppState) -> None:
        super().__init__(config)
        self._state = state

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # uvicorn waits for in-flight requests before shutting down; release the claim
        # long-polls first, or a stop would take up to their full wait
        self._state.request_shutdown()
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # over TLS, closing a connection sends close_notify and asyncio waits up to 30 s for
        # the client's answer, which a client's idle pooled connection never reads: drop the
        # idle ones at once (nothing is in flight on them), or a stop would take that long
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            cycle = getattr(connection, "cycle", None)
            idle = cycle is None or cycle.response_complete
            if idle and transport is not None and transport.get_extra_info("sslcontext"):
                transport.abort()
        await super().shutdown(sockets)


def serve(settings: Settings) -> None:
    """Run the control plane on ``settings.host:settings.port`` until SIGINT/SIGTERM, over
    HTTPS when ``settings`` name a certificate and key."""
    certificate = server_certificate(settings)
    cert_file, key_file = certificate or (None, None)
    app, state = _build_app(settings)
    # no access log: agents long-poll and upload many times a second, and the line per
    # request would drown the events worth reading
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=settings.log_level.lower(),
        access_log=False, ssl_certfile=cert_file, ssl_keyfile=key_file,
    )
    server = _Server(config, state)
    if threading.current_thread() is not threading.main_thread():
        server.run()
        return
    # uvicorn re-raises the signal that stopped it once it has shut down; a stop that was
    # asked for and completed gracefully is a normal return (exit code 0) for this process
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stopped(_sig: int, _frame: FrameType | None) -> None:
    pass
