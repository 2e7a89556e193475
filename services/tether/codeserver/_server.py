"""The code server: loads one code location once and answers the agent's queries over gRPC.

Loading happens before the server listens, so a ready server answers every query from memory.
A location whose code fails to load is still served: Ping reports ``load_error`` and
GetSnapshot returns the error with the user's traceback, which the UI shows. EvaluateTicks runs
a schedule's or sensor's function for one tick, in a thread, so the server keeps answering.
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
from ..sdk import (
    Definitions,
    evaluate_schedule,
    evaluate_sensor,
    load_definitions,
    snapshot_definitions,
)
from ..wire import ErrorInfo, EvaluateTick, LocationSpec, TickOutcome
from ._proto import codeserver_pb2, codeserver_pb2_grpc

# protoc's service module has no type hints; calls into it go through an untyped alias
_service: Any = codeserver_pb2_grpc
# long enough for an in-flight GetSnapshot to finish, short enough for a supervisor's grace
_STOP_GRACE_SECONDS = 3.0


_tick_decoder = msgspec.msgpack.Decoder(EvaluateTick)
_encode = msgspec.msgpack.Encoder().encode


class LoadedLocation(msgspec.Struct, frozen=True):
    """The outcome of loading a location: msgpack of its snapshot, or of its load error, and
    the definitions themselves, which tick evaluations call into."""

    name: str
    snapshot: bytes | None = None
    error: bytes | None = None
    defs: Definitions | None = None


def load_location(spec: LocationSpec) -> LoadedLocation:
    """Load ``spec`` and encode what the server will answer; never raises for user errors."""
    try:
        defs = load_definitions(spec)
        snapshot = snapshot_definitions(defs, spec.name)
    except CodeLocationLoadError as exc:
        cause = exc.__cause__
        error = ErrorInfo(
            class_name=type(cause).__name__ if cause is not None else type(exc).__name__,
            message=str(exc),
            stack=exc.user_traceback,
        )
        return LoadedLocation(spec.name, error=msgspec.msgpack.encode(error))
    return LoadedLocation(spec.name, snapshot=msgspec.msgpack.encode(snapshot), defs=defs)


def evaluate_tick(loaded: LoadedLocation, tick: EvaluateTick) -> TickOutcome:
    """One tick of one of the location's schedules or sensors; never raises for user errors."""
    defs = loaded.defs
    if defs is None:
        return _tick_error("CodeLocationLoadError",
                           f"code location {loaded.name!r} failed to load; fix and redeploy it")
    if tick.kind == "schedule":
        schedule = defs.schedules.get(tick.name)
        if schedule is None:
            return _unknown(tick, sorted(defs.schedules))
        return evaluate_schedule(schedule, tick.scheduled_time or 0.0)
    sensor = defs.sensors.get(tick.name)
    if sensor is None:
        return _unknown(tick, sorted(defs.sensors))
    return evaluate_sensor(sensor, tick.cursor, tick.last_tick_time,
                           run_changes=tick.run_changes,
                           materializations=tick.materializations,
                           events_until=tick.events_until)


def _unknown(tick: EvaluateTick, known: list[str]) -> TickOutcome:
    return _tick_error("UnknownDefinition",
                       f"the loaded code of location {tick.location.name!r} has no {tick.kind} "
                       f"named {tick.name!r}; known: {', '.join(known) or 'none'}")


def _tick_error(class_name: str, message: str) -> TickOutcome:
    return TickOutcome(error=ErrorInfo(class_name=class_name, message=message))


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

    async def EvaluateTicks(
        self, request: codeserver_pb2.EvaluateTicksRequest, context: grpc.aio.ServicerContext
    ) -> codeserver_pb2.EvaluateTicksReply:
        try:
            ticks = [_tick_decoder.decode(raw) for raw in request.ticks]
        except msgspec.DecodeError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"undecodable tick: {exc}")
            raise  # abort raises; this keeps type checkers aware
        parents = list(request.traceparents)
        if len(parents) != len(ticks):
            parents = [""] * len(ticks)
        outcomes = await asyncio.gather(*(self._evaluate(tick, parent)
                                          for tick, parent in zip(ticks, parents, strict=True)))
        return codeserver_pb2.EvaluateTicksReply(outcomes=[_encode(o) for o in outcomes])

    async def _evaluate(self, tick: EvaluateTick, traceparent: str) -> TickOutcome:
        with telemetry.span(f"code_server.{tick.kind}_tick", parent=traceparent,
                            attributes={"tether.location": self._loaded.name,
                                        f"tether.{tick.kind}": tick.name}):
            # the user's function may block: it runs in a thread (one slow function holds up
            # only its own tick), and the server keeps serving
            return await asyncio.to_thread(evaluate_tick, self._loaded, tick)

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
