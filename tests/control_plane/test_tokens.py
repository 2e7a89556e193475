"""Tokens: a valid token is taken on trust for a few seconds (an agent authenticates every
upload), but a revoked one stops working at once in the process that revoked it, and within
the trust window in every other control-plane process."""

from __future__ import annotations

from tether.control_plane.storage import Store
from tether.control_plane.storage._store import TOKEN_CACHE_SECONDS

from .conftest import FakeClock


def test_a_revoked_token_stops_working(database_url: str, clock: FakeClock) -> None:
    here = Store.from_url(database_url, clock=clock)
    here.migrate()
    there = Store.from_url(database_url, clock=clock)  # another control-plane process
    try:
        token = here.create_token("agent", name="ci")
        info = here.authenticate(token)
        assert info is not None and info.kind == "agent"
        assert there.authenticate(token) == info
        assert here.authenticate("not-a-token") is None

        assert here.revoke_token(info.id)
        assert here.authenticate(token) is None  # at once where it was revoked
        assert there.authenticate(token) == info  # still trusted for a moment elsewhere
        clock.advance(TOKEN_CACHE_SECONDS + 0.1)
        assert there.authenticate(token) is None
    finally:
        here.close()
        there.close()
