"""API tokens: random, shown once, stored only as a SHA-256 digest; optionally expiring."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import BadInput
from . import _deployments
from ._records import Role, TokenInfo, TokenKind, TokenRecord
from ._rows import row_to
from ._schema import PROD, token_roles, tokens

_PREFIX: dict[str, str] = {"agent": "tta_", "user": "ttu_"}
_ROLES = ("viewer", "launcher", "admin")

# a token's last use is written at most this often (seconds): an agent authenticates every
# upload, and a write per request would cost more than the upload itself
LAST_USED_RESOLUTION = 60.0


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(conn: Connection, kind: TokenKind, role: Role, name: str, now: float,
           expires_at: float | None = None, deployment: str | None = None) -> tuple[str, int]:
    """A new token and its id; an agent token serves ``deployment`` (which must exist), a
    user token none."""
    if kind not in _PREFIX:
        raise BadInput(f"token kind must be 'agent' or 'user', got {kind!r}")
    if role not in _ROLES:
        raise BadInput(f"token role must be one of {', '.join(_ROLES)}, got {role!r}")
    if expires_at is not None and expires_at <= now:
        raise BadInput("a token's expiry must be in the future")
    if kind == "agent":
        if deployment is None:
            raise BadInput("an agent token serves one deployment: name it")
        _deployments.require(conn, deployment)
    elif deployment is not None:
        raise BadInput("a user token belongs to no deployment: give it a role per deployment")
    token = _PREFIX[kind] + secrets.token_urlsafe(32)
    result = conn.execute(
        tokens.insert().values(
            kind=kind, role=role, name=name, token_hash=digest(token), created_at=now,
            expires_at=expires_at, deployment=deployment)
    )
    (token_id,) = result.inserted_primary_key or (None,)
    assert token_id is not None
    return token, int(token_id)


def authenticate(conn: Connection, token: str) -> tuple[TokenInfo, float | None] | None:
    """The unrevoked token's identity (expired or not) and its last use; None if unknown."""
    row = conn.execute(
        sa.select(tokens).where(tokens.c.token_hash == digest(token), tokens.c.revoked_at.is_(None))
    ).one_or_none()
    return None if row is None else (row_to(TokenInfo, row), row.last_used_at)


def get(conn: Connection, token_id: int) -> TokenRecord | None:
    row = conn.execute(sa.select(tokens).where(tokens.c.id == token_id)).one_or_none()
    return None if row is None else row_to(TokenRecord, row)


def mark_used(conn: Connection, token_id: int, now: float) -> bool:
    """Note the token's use now (unless noted within the resolution); True if this was its
    first use ever (exactly one caller, in any process, sees True)."""
    first = conn.execute(
        tokens.update().where(tokens.c.id == token_id, tokens.c.last_used_at.is_(None))
        .values(last_used_at=now)).rowcount == 1
    if not first:
        conn.execute(tokens.update().where(
            tokens.c.id == token_id, tokens.c.last_used_at < now - LAST_USED_RESOLUTION)
            .values(last_used_at=now))
    return first


def _seen_from(deployment: str, *, user_tokens: bool) -> sa.ColumnElement[bool]:
    """The tokens an admin in ``deployment`` manages: the deployment's own agent tokens, not
    another deployment's; and, for an admin of user tokens (:func:`manages_user_tokens`),
    the user tokens (global: one token works in every deployment it has a role in)."""
    own = tokens.c.deployment == deployment
    return sa.or_(tokens.c.deployment.is_(None), own) if user_tokens else own


def manages_user_tokens(conn: Connection, token: TokenInfo) -> bool:
    """Whether the token may list, create and revoke user tokens: admin in prod (a token
    admin everywhere is). A user token reaches every deployment it has a role in, so a branch
    deployment's admin must not hand one out, nor see or revoke another deployment's."""
    return token.kind == "user" and role_in(conn, token, PROD) == "admin"


def revoke(conn: Connection, token_id: int, now: float, deployment: str, *,
           user_tokens: bool = True) -> bool:
    result = conn.execute(
        tokens.update()
        .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None),
               _seen_from(deployment, user_tokens=user_tokens))
        .values(revoked_at=now)
    )
    return result.rowcount == 1


def list_all(conn: Connection, deployment: str, *, user_tokens: bool = True
             ) -> list[TokenRecord]:
    rows = conn.execute(sa.select(tokens)
                        .where(_seen_from(deployment, user_tokens=user_tokens))
                        .order_by(tokens.c.id.desc()))
    return [row_to(TokenRecord, row) for row in rows]


def set_roles(conn: Connection, token_id: int, roles: Mapping[str, Role]) -> None:
    """Give a user token its role in each of ``roles``' deployments (which must exist): it
    then works in those deployments only."""
    for deployment, role in roles.items():
        if role not in _ROLES:
            raise BadInput(f"token role in deployment {deployment!r} must be one of "
                           f"{', '.join(_ROLES)}, got {role!r}")
        _deployments.require(conn, deployment)
    if roles:
        conn.execute(token_roles.insert(), [
            {"token_id": token_id, "deployment": deployment, "role": role}
            for deployment, role in sorted(roles.items())])


def roles_of(conn: Connection, token_id: int) -> dict[str, Role]:
    """The user token's roles by deployment (empty: its own role in every deployment)."""
    return {row.deployment: row.role for row in conn.execute(
        sa.select(token_roles.c.deployment, token_roles.c.role)
        .where(token_roles.c.token_id == token_id).order_by(token_roles.c.deployment))}


def role_in(conn: Connection, token: TokenInfo, deployment: str) -> Role | None:
    """The token's role in ``deployment``: a token given roles per deployment has those and
    no other (None: no access there); one without any has its own role everywhere."""
    roles = roles_of(conn, token.id)
    if not roles:
        return token.role
    return roles.get(deployment)
