"""Deployments: prod, and short-lived branch deployments. The names are slugs, so they are
safe in a URL, a header, a Redis key and a Kubernetes label alike."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..errors import BadInput, DeploymentNotFound
from ._engine import SCOPE_OPTION
from ._rows import row_to
from ._schema import PROD, SCOPED, deployments, metadata, token_roles, tokens

DeploymentKind = Literal["prod", "branch"]

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")


@dataclass(frozen=True, slots=True)
class DeploymentRecord:
    name: str
    kind: DeploymentKind
    branch: str | None
    commit: str | None
    created_at: float
    last_activity_at: float
    # removed this long after its last activity (None: never)
    ttl_seconds: float | None


def check_name(name: str) -> str:
    """``name`` if it is a deployment name; otherwise BadInput saying what is allowed."""
    if not NAME_PATTERN.fullmatch(name):
        raise BadInput(f"deployment name {name!r} is not allowed: use 1 to 63 lowercase "
                       "letters, digits and dashes, starting with a letter or digit")
    return name


def get(conn: Connection, name: str) -> DeploymentRecord | None:
    row = conn.execute(sa.select(deployments).where(deployments.c.name == name)).one_or_none()
    return None if row is None else row_to(DeploymentRecord, row)


def require(conn: Connection, name: str) -> DeploymentRecord:
    """The deployment; DeploymentNotFound if there is none of that name."""
    found = get(conn, check_name(name))
    if found is None:
        raise DeploymentNotFound(name)
    return found


def list_all(conn: Connection) -> list[DeploymentRecord]:
    return [row_to(DeploymentRecord, row)
            for row in conn.execute(sa.select(deployments).order_by(deployments.c.name))]


def create(conn: Connection, name: str, now: float, *, branch: str | None = None,
           commit: str | None = None, ttl_seconds: float | None = None) -> bool:
    """Create a branch deployment; False if it exists already (creating is idempotent: its
    commit and TTL are brought up to date)."""
    check_name(name)
    if ttl_seconds is not None and ttl_seconds <= 0:
        raise BadInput(f"a deployment's TTL must be positive, got {ttl_seconds}")
    existing = get(conn, name)
    if existing is not None:
        if existing.kind == "prod":
            raise BadInput(f"deployment {name!r} is the prod deployment, not a branch one")
        conn.execute(deployments.update().where(deployments.c.name == name).values(
            branch=branch, commit=commit, ttl_seconds=ttl_seconds, last_activity_at=now))
        return False
    conn.execute(deployments.insert().values(
        name=name, kind="branch", branch=branch, commit=commit, created_at=now,
        last_activity_at=now, ttl_seconds=ttl_seconds))
    return True


def delete(conn: Connection, name: str, now: float) -> dict[str, int]:
    """Remove a branch deployment and every row of it; how many rows of each table went.

    ``conn`` must be scoped to the deployment (:mod:`._scope`): the per-deployment tables'
    DELETEs are limited to its rows by the scope, not here. Its agent tokens are revoked:
    an agent told 401 for a deployment's token stops that deployment's code servers."""
    found = require(conn, name)
    if found.kind == "prod":
        raise BadInput(f"deployment {name!r} is the prod deployment: it cannot be deleted")
    removed: dict[str, int] = {}
    for table in scoped_tables():
        removed[table.name] = conn.execute(table.delete()).rowcount
    removed["token_roles"] = conn.execute(
        token_roles.delete().where(token_roles.c.deployment == name)).rowcount
    removed["tokens"] = conn.execute(
        tokens.update().where(tokens.c.deployment == name, tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)).rowcount
    conn.execute(deployments.delete().where(deployments.c.name == name))
    return removed


def scoped_tables() -> list[sa.Table]:
    """The tables whose rows belong to one deployment (a scoped ``deployment`` column)."""
    return [table for table in metadata.sorted_tables
            if "deployment" in table.c and table.c.deployment.info.get(SCOPED, False)]


# how stale a deployment's last activity may be: it is written at most once in this long
ACTIVITY_RESOLUTION = 60.0


def note_activity(conn: Connection, name: str, now: float) -> None:
    """Note activity in deployment ``name`` now, unless noted within the resolution (an
    UPDATE that matches no row writes nothing, so other processes' notes cost no write)."""
    conn.execute(deployments.update().where(
        deployments.c.name == name,
        deployments.c.last_activity_at < now - ACTIVITY_RESOLUTION)
        .values(last_activity_at=now))


def expired(conn: Connection, now: float) -> list[str]:
    """The branch deployments whose TTL has passed since their last activity."""
    return list(conn.execute(sa.select(deployments.c.name).where(
        deployments.c.kind == "branch", deployments.c.ttl_seconds.is_not(None),
        deployments.c.last_activity_at + deployments.c.ttl_seconds < now)
        .order_by(deployments.c.name)).scalars())


def in_branch(conn: Connection) -> bool:
    """Whether the connection works in a branch deployment (its scope: :mod:`._scope`)."""
    name = conn.get_execution_options().get(SCOPE_OPTION, PROD)
    if name == PROD:
        return False
    found = get(conn, name)
    return found is not None and found.kind == "branch"
