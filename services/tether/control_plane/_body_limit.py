"""Request body limits: a body larger than its limit is answered 413 before it is read.

A declared ``Content-Length`` over the limit is refused before the application sees the
request. A body without one (chunked), or longer than it declared, is counted as it streams
in, and refused the moment it passes the limit: the application never holds more than the
limit of it, whatever it does with it (GraphQL JSON, agent msgpack, a web UI form).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tether.wire import ApiError

AGENT_PREFIX = "/agent/"


class _BodyTooLarge(Exception):
    """Raised into the application when a streamed body passes its limit; the 413 has been
    sent already, so whatever the application answers instead is dropped."""


class BodyLimit:
    """``limit_for(path)``: the most bytes a body sent to ``path`` may have."""

    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self._limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, scope["path"], limit)
            return
        received = 0
        refused = started = False

        async def counted() -> Message:
            nonlocal received, refused
            if refused:
                # an application that carries on reading reads no more of the body
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not started:
                        await _refuse(send, scope["path"], limit)
                    raise _BodyTooLarge()
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            # the application may fail in its own way on the cut-off body; it was answered
            if not refused:
                raise


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                # not a length: the server refuses such a request before it gets here
                return None
    return None


async def _refuse(send: Send, path: str, limit: int) -> None:
    setting = ("TETHER_MAX_AGENT_REQUEST_BYTES" if path.startswith(AGENT_PREFIX)
               else "TETHER_MAX_REQUEST_BYTES")
    body = msgspec.json.encode(ApiError(
        error=f"the request body is larger than {limit} bytes, the most {path} accepts "
              f"(the control plane's {setting}); nothing was read or stored"))
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
