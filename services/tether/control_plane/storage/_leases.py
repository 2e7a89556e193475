"""Leader leases of the daemons: of the processes running one daemon, only the holder of an
unexpired lease on its name acts, so running two copies is safe and one takes over within a
lease's length when the other dies."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ._engine import upsert
from ._schema import daemon_leases


def acquire(conn: Connection, name: str, holder: str, seconds: float, now: float) -> bool:
    """Take or renew the lease on ``name`` for ``holder``; False while another holds it."""
    conn.execute(upsert(conn, daemon_leases)
                 .values(name=name, holder=holder, lease_until=now + seconds, acquired_at=now)
                 .on_conflict_do_nothing(index_elements=["name"]))
    row = conn.execute(sa.select(daemon_leases.c.holder, daemon_leases.c.lease_until)
                       .where(daemon_leases.c.name == name).with_for_update()).one()
    if row.holder != holder and row.lease_until >= now:
        return False
    values: dict[str, object] = {"lease_until": now + seconds}
    if row.holder != holder:
        values.update(holder=holder, acquired_at=now)
    conn.execute(daemon_leases.update().where(daemon_leases.c.name == name).values(**values))
    return True


def release(conn: Connection, name: str, holder: str) -> None:
    """Give the lease up (a daemon stopping), so another copy takes over at once."""
    conn.execute(daemon_leases.delete().where(daemon_leases.c.name == name,
                                              daemon_leases.c.holder == holder))


def holder_of(conn: Connection, name: str, now: float) -> str | None:
    row = conn.execute(sa.select(daemon_leases.c.holder)
                       .where(daemon_leases.c.name == name,
                              daemon_leases.c.lease_until >= now)).one_or_none()
    return None if row is None else str(row.holder)
