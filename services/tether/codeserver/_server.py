"""The code server: loads one code location once and answers the agent's queries over gRPC.

Loading happens before the server listens, so a ready server answers every query from memory.
A location whose code fails to load is still served: Ping reports ``load_error`` and
GetSnapshot returns the error with the user's traceback, which the UI shows.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

import grpc
import msgspec

from .. import _telemetry as telemetry
from ..errors import CodeLocationLoadError, CodeServerError
from ..sdk import load_definitions, snapshot_definitions
from ..wire import ErrorInfo, LocationSpec
from ._proto import codeserver_pb2, codeserver_pb2_grpc

# protoc's service module has no type hints; calls into it go through an untyped alias
_service: Any = codeserver_pb2_grpc
# long enough for an in-flight GetSnapshot to finish, short enough for a supervisor's grace
_STOP_GRACE_SECONDS = 3.0


class LoadedLocation(msgspec.Struct, frozen=True):
    """The outcome of loading a location: msgpack of its snapshot, or of its load error."""

    name: str
    snapshot: bytes | None = None
    error: bytes | None = None


def load_location(spec: LocationSpec) -> LoadedLocation:
    """Load ``spec`` and encode what the server will answer; never raises for user errors."""
    try:
        snapshot = snapshot_definitions(load_definitions(spec), spec.name)
    except CodeLocationLoadError as exc:
        cause = exc.__cause__
        error = ErrorInfo(
            class_name=type(cause).__name__ if cause is not None else type(exc).__name__,
            message=str(exc),
            stack=exc.user_traceback,
        )
        return LoadedLocation(spec.name, error=msgspec.msgpack.encode(error))
    return LoadedLocation(spec.name, snapshot=msgspec.msgpack.encode(snapshot))


class _CodeServerServicer(codeserver_pb2_grpc.CodeServerServicer):
    def __init__(self, loaded: LoadedLocation) -> None:
        self._loaded = loaded
        self._pid = os.getpid()

    async def Ping(
        self, request: codeserver_pb2.PingRequest, context: grpc.aio.ServicerContext
    ) -> codeserver_pb2.PingReply:
        return codeserver_pb2.PingReply(
            pid=self._pid, location=self._loaded.name, load_error=self._loaded.error is not None
        )

    async def GetSnapshot(
        self, request: codeserver_pb2.GetSnapshotRequest, context: grpc.aio.ServicerContext
    ) -> codeserver_pb2.GetSnapshotReply:
        traceparent = dict(context.invocation_metadata() or ()).get("traceparent", "")
        with telemetry.span("code_server.get_snapshot", parent=str(traceparent),
                            attributes={"tether.location": self._loaded.name}):
            return self._snapshot_reply()

    def _snapshot_reply(self) -> codeserver_pb2.GetSnapshotReply:
        if self._loaded.error is not None:
            return codeserver_pb2.GetSnapshotReply(error=self._loaded.error)
        return codeserver_pb2.GetSnapshotReply(snapshot=self._loaded.snapshot)


def serve(spec: LocationSpec, *, host: str = "127.0.0.1", port: int) -> None:
    """Load the location, then serve it on ``host:port`` until SIGTERM or SIGINT.

    ``port=0`` picks a free port (the ready line on stderr names it). Stops gracefully: calls
    in flight get a few seconds to finish.
    """
    loaded = load_location(spec)
    asyncio.run(_serve(loaded, host, port))


async def _serve(loaded: LoadedLocation, host: str, port: int) -> None:
    server = grpc.aio.server()
    _service.add_CodeServerServicer_to_server(_CodeServerServicer(loaded), server)
    display_host = f"[{host}]" if ":" in host and not host.startswith("[") else host
    try:
        bound = server.add_insecure_port(f"{display_host}:{port}")
    except RuntimeError as exc:
        raise CodeServerError(
            f"code server for location {loaded.name!r} cannot listen on {display_host}:{port}: "
            f"{exc}"
        ) from exc
    if bound == 0:
        raise CodeServerError(
            f"code server for location {loaded.name!r} cannot listen on {display_host}:{port}"
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await server.start()
    status = " (location failed to load)" if loaded.error is not None else ""
    print(
        f"code server for location {loaded.name} listening on {display_host}:{bound} "
        f"(pid {os.getpid()}){status}",
        file=sys.stderr,
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await server.stop(_STOP_GRACE_SECONDS)
