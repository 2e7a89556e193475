"""The one helper every door of the control plane (GraphQL, the web UI's forms, the agent
API) uses for the audit log: who the caller is, and a refusal recorded when the control
plane says no.

A change that goes through records its own entry inside the store, in the change's own
transaction (the store methods take ``actor=``), so an action is never done without its
record. A refused one changed nothing; :func:`audited` records it on the way out.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from starlette.requests import Request

from tether.errors import TetherError

from .errors import BadInput, StorageError
from .storage import Actor, Store

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def client_of(request: Request) -> str:
    """The peer's address (behind a proxy: the proxy's, unless uvicorn is told to trust
    its forwarded headers)."""
    return request.client.host if request.client else ""


@asynccontextmanager
async def audited(store: Store, actor: Actor, action: str, target: str
                  ) -> AsyncIterator[None]:
    """Run the body; if the control plane refuses it (a role check, a bad argument, an
    unknown run, ...), record the refusal with its reason, then let the error go on. A
    failing database is not a refusal: nothing could record it either."""
    try:
        yield
    except StorageError:
        raise
    except TetherError as exc:
        await to_thread.run_sync(store.record_refusal, actor, action, target, str(exc))
        raise


def parse_expires_in(text: str) -> float:
    """Seconds of a token lifetime written as a number and a unit: ``90d``, ``12h``, ``30m``,
    ``45s``. BadInput says how to write one."""
    match = _DURATION.match(text)
    if match is None or float(match.group(1)) <= 0:
        raise BadInput(f"expiry {text!r} is not a duration: write a positive number and a "
                       "unit, s, m, h or d (e.g. 90d, 12h)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
