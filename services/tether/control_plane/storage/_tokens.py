"""API tokens: random, shown once, stored only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets
from typing import cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import BadInput
from ._records import Role, TokenInfo, TokenKind, TokenRecord
from ._schema import tokens

_PREFIX: dict[str, str] = {"agent": "tta_", "user": "ttu_"}
_ROLES = ("viewer", "launcher", "admin")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(conn: Connection, kind: TokenKind, role: Role, name: str, now: float) -> str:
    if kind not in _PREFIX:
        raise BadInput(f"token kind must be 'agent' or 'user', got {kind!r}")
    if role not in _ROLES:
        raise BadInput(f"token role must be one of {', '.join(_ROLES)}, got {role!r}")
    token = _PREFIX[kind] + secrets.token_urlsafe(32)
    conn.execute(
        tokens.insert().values(
            kind=kind, role=role, name=name, token_hash=digest(token), created_at=now
        )
    )
    return token


def authenticate(conn: Connection, token: str) -> TokenInfo | None:
    row = conn.execute(
        sa.select(tokens).where(tokens.c.token_hash == digest(token), tokens.c.revoked_at.is_(None))
    ).one_or_none()
    if row is None:
        return None
    return TokenInfo(
        id=row.id,
        kind=cast(TokenKind, row.kind),
        role=cast(Role, row.role),
        name=row.name,
        created_at=row.created_at,
    )


def revoke(conn: Connection, token_id: int, now: float) -> bool:
    result = conn.execute(
        tokens.update()
        .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount == 1


def list_all(conn: Connection) -> list[TokenRecord]:
    rows = conn.execute(sa.select(tokens).order_by(tokens.c.id.desc()))
    return [
        TokenRecord(id=row.id, kind=cast(TokenKind, row.kind), role=cast(Role, row.role),
                    name=row.name, created_at=row.created_at, revoked_at=row.revoked_at)
        for row in rows
    ]
