"""Web UI sessions: a random id in an HttpOnly cookie, stored only as its SHA-256 digest, bound
to the user token that signed in and to a CSRF token for the session's forms."""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ._records import SessionInfo, TokenInfo
from ._rows import row_to
from ._schema import tokens, ui_sessions
from ._tokens import digest


def create(conn: Connection, token_id: int, now: float, lifetime: float) -> tuple[str, str]:
    """A new session of the token: (session id for the cookie, CSRF token). Expired sessions
    are swept on the way, so the table holds about the live ones."""
    conn.execute(ui_sessions.delete().where(ui_sessions.c.expires_at <= now))
    session_id = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    conn.execute(ui_sessions.insert().values(
        session_hash=digest(session_id), token_id=token_id, csrf=csrf, created_at=now,
        expires_at=now + lifetime))
    return session_id, csrf


def get(conn: Connection, session_id: str, now: float) -> SessionInfo | None:
    """The live session: not expired, and its token neither revoked nor expired."""
    row = conn.execute(
        sa.select(ui_sessions.c.csrf,
                  ui_sessions.c.expires_at.label("session_expires_at"), tokens)
        .join(tokens, tokens.c.id == ui_sessions.c.token_id)
        .where(ui_sessions.c.session_hash == digest(session_id),
               ui_sessions.c.expires_at > now, tokens.c.revoked_at.is_(None),
               sa.or_(tokens.c.expires_at.is_(None), tokens.c.expires_at > now))
    ).one_or_none()
    if row is None:
        return None
    return SessionInfo(token=row_to(TokenInfo, row), csrf=row.csrf,
                       expires_at=row.session_expires_at)


def delete(conn: Connection, session_id: str) -> None:
    conn.execute(ui_sessions.delete().where(ui_sessions.c.session_hash == digest(session_id)))
