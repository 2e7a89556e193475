"""The asyncio client of a code server, used by the agent's supervisor.

gRPC errors are translated here, where they enter: an unreachable server or a missed deadline
is a :class:`~tether.errors.CodeServerError`; a location that failed to load is a
:class:`~tether.errors.CodeLocationLoadError` carrying the user's traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import grpc
import msgspec

from ..errors import CodeLocationLoadError, CodeServerError
from ..wire import ErrorInfo, EvaluateTick, LocationSnapshot, TickOutcome
from ._proto import codeserver_pb2, codeserver_pb2_grpc

# a code server that is starting refuses connections for a moment; gRPC's default reconnect
# backoff (1 s, growing) would make wait_until_ready notice it seconds late
_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 100),
    # gRPC's default 4 MiB would refuse the snapshot of a location of ~10,000 assets
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
]

# protoc's service module has no type hints; calls into it go through an untyped alias
_service: Any = codeserver_pb2_grpc

_snapshot_decoder = msgspec.msgpack.Decoder(LocationSnapshot)
_error_decoder = msgspec.msgpack.Decoder(ErrorInfo)
_outcome_decoder = msgspec.msgpack.Decoder(TickOutcome)
_encode = msgspec.msgpack.Encoder().encode


@dataclass(frozen=True, slots=True)
class PingInfo:
    pid: int
    location: str
    # the location's code failed to load; get_snapshot raises CodeLocationLoadError
    load_error: bool


class CodeServerClient:
    """Queries one code server at ``address`` (``host:port``).

    The gRPC channel is opened on first use, inside the running event loop, and closed by
    :meth:`close` (or ``async with``). Use one client from one event loop.
    """

    def __init__(self, address: str) -> None:
        self.address = address
        self._channel: Any = None
        self._stub: Any = None

    async def __aenter__(self) -> CodeServerClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._channel is not None:
            channel, self._channel, self._stub = self._channel, None, None
            await channel.close()

    async def ping(self, timeout: float = 5.0) -> PingInfo:
        """The server's pid and location; fails fast when nothing listens at the address."""
        reply = await self._call("Ping", codeserver_pb2.PingRequest(), timeout)
        return PingInfo(pid=reply.pid, location=reply.location, load_error=reply.load_error)

    async def wait_until_ready(self, timeout: float = 30.0) -> PingInfo:
        """Wait for the server to answer Ping, for at most ``timeout`` seconds."""
        # wait_for_ready keeps the call pending through refused connections until the deadline
        reply = await self._call("Ping", codeserver_pb2.PingRequest(), timeout, wait_for_ready=True)
        return PingInfo(pid=reply.pid, location=reply.location, load_error=reply.load_error)

    async def get_snapshot(self, timeout: float = 30.0, traceparent: str = "") -> LocationSnapshot:
        """What the location defines. Raises CodeLocationLoadError if its code failed to load.
        ``traceparent`` (gRPC metadata) puts the server's span in the caller's trace."""
        reply = await self._call("GetSnapshot", codeserver_pb2.GetSnapshotRequest(), timeout,
                                 metadata=(("traceparent", traceparent),) if traceparent else None)
        try:
            if reply.WhichOneof("result") == "error":
                error = _error_decoder.decode(reply.error)
                raise CodeLocationLoadError(error.message, user_traceback=error.stack)
            return _snapshot_decoder.decode(reply.snapshot)
        except msgspec.DecodeError as exc:
            raise CodeServerError(
                f"code server at {self.address} sent an undecodable snapshot: {exc}"
            ) from exc

    async def evaluate_tick(self, tick: EvaluateTick, timeout: float = 60.0,
                            traceparent: str = "") -> TickOutcome:
        """One tick of a schedule or sensor (see :meth:`evaluate_ticks`)."""
        [outcome] = await self.evaluate_ticks([tick], timeout, [traceparent])
        return outcome

    async def evaluate_ticks(self, ticks: Sequence[EvaluateTick], timeout: float = 60.0,
                             traceparents: Sequence[str] = ()) -> list[TickOutcome]:
        """Ticks of schedules and sensors, evaluated side by side by the users' functions in
        the code server, in one call: their outcomes, in order (a user's error is in its
        outcome). ``traceparents``: the span asking for each tick. Raises CodeServerError when
        the server does not answer within ``timeout``."""
        reply = await self._call("EvaluateTicks", codeserver_pb2.EvaluateTicksRequest(
            ticks=[_encode(tick) for tick in ticks],
            traceparents=list(traceparents) or [""] * len(ticks)), timeout)
        if len(reply.outcomes) != len(ticks):
            raise CodeServerError(f"code server at {self.address} answered "
                                  f"{len(reply.outcomes)} tick outcomes for {len(ticks)} ticks")
        try:
            return [_outcome_decoder.decode(outcome) for outcome in reply.outcomes]
        except msgspec.DecodeError as exc:
            raise CodeServerError(
                f"code server at {self.address} sent an undecodable tick outcome: {exc}"
            ) from exc

    async def _call(
        self, method: str, request: Any, timeout: float, *, wait_for_ready: bool = False,
        metadata: tuple[tuple[str, str], ...] | None = None,
    ) -> Any:
        if self._stub is None:
            self._channel = grpc.aio.insecure_channel(self.address, options=_CHANNEL_OPTIONS)
            self._stub = _service.CodeServerStub(self._channel)
        try:
            return await getattr(self._stub, method)(
                request, timeout=timeout, wait_for_ready=wait_for_ready, metadata=metadata
            )
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            details = exc.details() if hasattr(exc, "details") else str(exc)
            reason = (
                "no answer within the deadline"
                if (code == grpc.StatusCode.DEADLINE_EXCEEDED)
                else f"{getattr(code, 'name', 'error')}: {details}"
            )
            raise CodeServerError(
                f"code server at {self.address}: {method} failed ({reason}, timeout {timeout:g} s)"
            ) from exc
