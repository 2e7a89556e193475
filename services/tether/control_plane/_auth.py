"""The bearer-token check shared by the agent API and the GraphQL API."""

from __future__ import annotations

from anyio import to_thread
from starlette.requests import Request

from tether.errors import Unauthorized

from ._audit import client_of
from .storage import Store, TokenInfo, TokenKind

_HOW_TO = {
    "agent": (
        "send `Authorization: Bearer <agent token>`; create one with "
        "`tether control-plane create-token --kind agent`"
    ),
    "user": (
        "send `Authorization: Bearer <user token>`; create one with "
        "`tether control-plane create-token --kind user`"
    ),
}
_API = {"agent": "the agent API", "user": "the GraphQL API"}
# the audit log's name for each door
_VIA = {"agent": "agent-api", "user": "graphql"}


async def require_token(request: Request, store: Store, kind: TokenKind) -> TokenInfo:
    """The caller's token, which must be a valid, unrevoked, unexpired token of ``kind``;
    otherwise :class:`Unauthorized` with a message that says how to fix the request (an
    expired one: :class:`TokenExpired`, which says when it expired)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(f"{_API[kind]} needs a token: {_HOW_TO[kind]}", status_code=401)
    via, client = _VIA[kind], client_of(request)

    def check() -> TokenInfo | None:
        info = store.authenticate(token)
        if info is not None and info.kind == kind:
            store.note_use(info, via=via, client=client)
        return info

    info = await to_thread.run_sync(check)
    if info is None:
        raise Unauthorized(
            f"the token is unknown or revoked: {_HOW_TO[kind]}", status_code=401
        )
    if info.kind != kind:
        raise Unauthorized(
            f"{_API[kind]} does not accept {info.kind} tokens: {_HOW_TO[kind]}",
            status_code=401,
        )
    return info
