"""The agent's only way to the control plane: outbound HTTPS calls with the agent token."""

from __future__ import annotations

import logging
import ssl
import time
from typing import Any, TypeVar

import httpx
import msgspec

from .._tls import handshake_failure
from ..errors import ControlPlaneError, ControlPlaneUnreachable, Unauthorized
from ..wire import (
    MSGPACK_MEDIA_TYPE,
    AgentHeartbeat,
    ApiError,
    BatchReceipt,
    ClaimRequest,
    ClaimResponse,
    EventBatch,
    HeartbeatReply,
    LogBatch,
    ResultBatch,
)

T = TypeVar("T")

_encoder = msgspec.msgpack.Encoder()
_claim_decoder = msgspec.msgpack.Decoder(ClaimResponse)
_receipt_decoder = msgspec.msgpack.Decoder(BatchReceipt)
_heartbeat_decoder = msgspec.msgpack.Decoder(HeartbeatReply)
_error_decoder = msgspec.json.Decoder(ApiError)

# how long after its start an agent worker takes an unreachable control plane for one that
# is starting too (`tether dev`, honcho and Kubernetes start them all at once)
START_GRACE_SECONDS = 30.0


class ControlPlaneClient:
    """Async client of the agent API. HTTP failures become :class:`ControlPlaneError` (with the
    status code, when there was a response, and the server's Retry-After, when it sent one);
    401/403 become :class:`Unauthorized`. ``verify`` checks the control plane's certificate
    (see :func:`tether._tls.client_verify`)."""

    def __init__(self, *, url: str, token: str, timeout: float = 30.0,
                 verify: ssl.SSLContext | bool = True,
                 start_grace: float = START_GRACE_SECONDS) -> None:
        self._url = url.rstrip("/")
        self._grace_until = time.monotonic() + start_grace
        # whether the control plane ever answered this client (with any status)
        self._answered = False
        self._http = httpx.AsyncClient(
            verify=verify,
            base_url=url.rstrip("/"),
            headers={"authorization": f"Bearer {token}", "content-type": MSGPACK_MEDIA_TYPE},
            timeout=timeout,
        )

    def failure_level(self, exc: ControlPlaneError) -> int:
        """The level to log a failed call at: DEBUG while the control plane has never
        answered and the start-up grace lasts (it is starting alongside us: nothing to warn
        about), WARNING otherwise (an outage, or one that outlasts a start)."""
        starting = not self._answered and time.monotonic() < self._grace_until
        if starting and isinstance(exc, ControlPlaneUnreachable):
            return logging.DEBUG
        return logging.WARNING

    async def aclose(self) -> None:
        await self._http.aclose()

    async def claim(self, request: ClaimRequest) -> ClaimResponse:
        # the server may hold a claim open for wait_seconds: allow for that on top
        timeout = request.wait_seconds + 15.0
        return await self._call("/agent/v1/claim", request, _claim_decoder, timeout=timeout)

    async def heartbeat(self, heartbeat: AgentHeartbeat) -> HeartbeatReply:
        """Send the heartbeat; the reply names the deployment the token serves."""
        return await self._call("/agent/v1/heartbeat", heartbeat, _heartbeat_decoder)

    async def post_events(self, batch: EventBatch, traceparent: str = "") -> BatchReceipt:
        return await self._call("/agent/v1/events", batch, _receipt_decoder,
                                traceparent=traceparent)

    async def post_logs(self, batch: LogBatch, traceparent: str = "") -> BatchReceipt:
        return await self._call("/agent/v1/logs", batch, _receipt_decoder,
                                traceparent=traceparent)

    async def post_results(self, batch: ResultBatch, traceparent: str = "") -> BatchReceipt:
        return await self._call("/agent/v1/results", batch, _receipt_decoder,
                                traceparent=traceparent)

    async def _call(
        self,
        path: str,
        body: Any,
        decoder: msgspec.msgpack.Decoder[T],
        timeout: float | None = None,
        traceparent: str = "",
    ) -> T:
        try:
            response = await self._http.post(
                path,
                content=_encoder.encode(body),
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                # the span that sends this, so the control plane's span joins its trace
                headers={"traceparent": traceparent} if traceparent else None,
            )
        except httpx.HTTPError as exc:
            tls = handshake_failure(self._url, exc)
            if tls is not None:
                # a certificate this client does not trust: a mistake to fix, never a start
                raise ControlPlaneError(tls) from exc
            raise ControlPlaneUnreachable(
                f"control plane unreachable ({path}): {exc!r}") from exc
        self._answered = True
        if response.status_code in (401, 403):
            raise Unauthorized(_error_text(response), status_code=response.status_code)
        if response.status_code != 200:
            raise ControlPlaneError(
                f"control plane answered {response.status_code} on {path}: "
                f"{_error_text(response)}",
                status_code=response.status_code,
                retry_after=_retry_after(response),
            )
        try:
            return decoder.decode(response.content)
        except msgspec.DecodeError as exc:
            raise ControlPlaneError(f"unreadable answer from the control plane: {exc}") from exc


def _error_text(response: httpx.Response) -> str:
    try:
        return _error_decoder.decode(response.content).error
    except msgspec.DecodeError:
        return response.text[:500]


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("retry-after", "0")))
    except ValueError:
        # an HTTP date: rare from our own server; fall back to our own backoff
        return 0.0
