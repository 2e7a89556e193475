"""Code locations: the deployed spec, the load status and the last snapshot an agent loaded."""

from __future__ import annotations

import gc
import hashlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tether.errors import JobNotFoundError
from tether.wire import JobSnapshot, LoadLocation, LocationSnapshot, LocationSpec, RemoveLocation

from ..errors import AmbiguousJobError, LocationNotFound, LocationNotLoaded
from . import _codec, _work
from ._records import LocationRecord, LocationStatus
from ._rows import AnyRow, row_to
from ._schema import code_locations, runs


def deploy(conn: Connection, spec: LocationSpec, *, traceparent: str, now: float) -> bool:
    """Mark the location LOADING as a new generation and enqueue its load; returns False
    when an identical load is still open (re-deploying an unchanged spec while it loads must
    not pile up work items). Deploying an unchanged spec once it has loaded loads it again:
    that is how CI ships new code behind the same spec."""
    existing = conn.execute(
        sa.select(code_locations.c.generation)
        .where(code_locations.c.name == spec.name)
        .with_for_update()
    ).one_or_none()
    open_loads = _work.open_loads(conn, spec.name)
    for _work_id, _status, payload in open_loads:
        waiting = _codec.payload_decoder.decode(payload)
        if isinstance(waiting, LoadLocation) and waiting.location == spec:
            return False
    # a load of an older spec that nobody claimed yet is pointless now
    _work.cancel_pending(
        conn, [work_id for work_id, status, _ in open_loads if status == "PENDING"], now
    )
    generation = next_generation(None if existing is None else existing.generation, now)
    values: dict[str, Any] = {
        "spec": _codec.encode(spec),
        "status": LocationStatus.LOADING,
        "error": None,
        "next_retry_at": None,
        "updated_at": now,
        "generation": generation,
    }
    if existing is None:
        conn.execute(code_locations.insert().values(name=spec.name, snapshot=None, **values))
    else:
        conn.execute(
            code_locations.update().where(code_locations.c.name == spec.name).values(**values)
        )
    _work.enqueue(conn, LoadLocation(location=spec, generation=generation), queue=spec.queue,
                  traceparent=traceparent, now=now)
    return True


def next_generation(previous: int | None, now: float) -> int:
    """Milliseconds of the deploy time, so a location removed and deployed again still
    gets a generation above any its agents have seen; one more when deploys are closer."""
    return max(int(now * 1000), (previous or 0) + 1)


def remove(conn: Connection, name: str, *, traceparent: str, now: float) -> LocationRecord:
    """Forget the location and ask its agent to stop its code server; returns what it was.
    Runs already started keep going: they do not depend on the code server."""
    record = get(conn, name, for_update=True)
    if record is None:
        raise LocationNotFound(name, [known.name for known in list_all(conn)])
    _work.cancel_pending(
        conn, [work_id for work_id, status, _ in _work.open_loads(conn, name)
               if status == "PENDING"], now
    )
    conn.execute(code_locations.delete().where(code_locations.c.name == name))
    _work.enqueue(conn, RemoveLocation(name=name, generation=record.generation),
                  queue=record.spec.queue, traceparent=traceparent, now=now)
    return record


def mark_loaded(conn: Connection, name: str, snapshot: LocationSnapshot, generation: int,
                now: float) -> bool:
    """Record a loaded snapshot of deploy ``generation``; False for an unknown location.
    A report about an older deploy than the current one changes nothing."""
    data = _codec.encode(snapshot)
    return _update_current(conn, name, generation, status=LocationStatus.LOADED,
                           snapshot=data, snapshot_digest=hashlib.sha256(data).hexdigest(),
                           error=None, next_retry_at=None, updated_at=now)


def mark_failed(conn: Connection, name: str, error: str, generation: int, now: float,
                next_retry_at: float = 0.0) -> bool:
    """Record a failed load of deploy ``generation`` and when the agent tries again."""
    return _update_current(conn, name, generation, status=LocationStatus.ERROR, error=error,
                           next_retry_at=next_retry_at or None, updated_at=now)


def _update_current(conn: Connection, name: str, generation: int, **values: Any) -> bool:
    current = conn.execute(
        sa.select(code_locations.c.generation).where(code_locations.c.name == name)
    ).scalar_one_or_none()
    if current is None:
        return False
    if generation >= current:
        conn.execute(
            code_locations.update().where(code_locations.c.name == name).values(**values)
        )
    return True


# every column but the snapshot, read only when its digest is not the one decoded last
_BUT_SNAPSHOT = [column for column in code_locations.c if column.name != "snapshot"]


def get(conn: Connection, name: str, *, for_update: bool = False) -> LocationRecord | None:
    query = sa.select(*_BUT_SNAPSHOT).where(code_locations.c.name == name)
    row = conn.execute(query.with_for_update() if for_update else query).one_or_none()
    return None if row is None else _record(conn, row)


def queue_of_run(conn: Connection, run_id: str) -> str:
    """The agent queue that serves the run's location ("default" once it is gone)."""
    name = conn.execute(sa.select(runs.c.location)
                        .where(runs.c.run_id == run_id)).scalar_one_or_none()
    location = None if name is None else get(conn, name)
    return "default" if location is None else location.spec.queue


def list_all(conn: Connection) -> list[LocationRecord]:
    rows = conn.execute(sa.select(*_BUT_SNAPSHOT).order_by(code_locations.c.name)).all()
    return [_record(conn, row) for row in rows]


def is_launchable(location: LocationRecord) -> bool:
    # While a redeploy is loading, the last good snapshot still describes runnable jobs; a
    # failed load is shown to the user rather than silently running the old code.
    return location.snapshot is not None and location.status != LocationStatus.ERROR


def find_job(
    conn: Connection, job_name: str, location: str | None,
    cache: dict[str, LocationRecord | None] | None = None,
) -> tuple[LocationRecord, JobSnapshot]:
    """The location and job a launch refers to, or an error that says what exists. A named
    location is read once per ``cache``: decoding its snapshot is most of the cost."""
    if location is not None:
        if cache is None:
            cache = {}
        if location not in cache:
            cache[location] = get(conn, location)
        named = cache[location]
        if named is None:
            known = [str(row.name) for row in conn.execute(
                sa.select(code_locations.c.name).order_by(code_locations.c.name))]
            raise LocationNotFound(location, known)
        locations = [named]
    else:
        locations = list_all(conn)
    matches = [
        (record, job)
        for record in locations
        if record.snapshot is not None and (job := record.snapshot.job(job_name)) is not None
    ]
    launchable = [(record, job) for record, job in matches if is_launchable(record)]
    if len(launchable) == 1:
        return launchable[0]
    if len(launchable) > 1:
        names = ", ".join(record.name for record, _ in launchable)
        raise AmbiguousJobError(
            f"job {job_name!r} is defined in several code locations ({names}); "
            "pass the location to choose one"
        )
    if matches:
        record = matches[0][0]
        raise LocationNotLoaded(record.name, record.status, record.error)
    unloaded = [record for record in locations if not is_launchable(record)]
    if location is not None and unloaded:
        raise LocationNotLoaded(unloaded[0].name, unloaded[0].status, unloaded[0].error)
    known = sorted(
        f"{job.name} ({record.name})"
        for record in locations
        if record.snapshot is not None and is_launchable(record)
        for job in record.snapshot.jobs
    )
    message = f"no loaded code location defines a job named {job_name!r}"
    message += f"; known jobs: {', '.join(known)}" if known else "; no jobs are loaded"
    if unloaded:
        message += "; not loaded yet: " + ", ".join(
            f"{record.name} ({record.status})" for record in unloaded
        )
    raise JobNotFoundError(message)


# the last decoded snapshot of each location, by the digest of its stored bytes: the
# daemons, launches and pages read every location again and again, and a snapshot of 10,000
# assets (7 MB) takes ~0.1 s to decode and ~25 ms to read, its digest next to nothing
_decoded: dict[str, tuple[str, LocationSnapshot]] = {}


def _snapshot(conn: Connection, name: str, digest: str) -> LocationSnapshot | None:
    cached = _decoded.get(name)
    if cached is not None and cached[0] == digest:
        return cached[1]
    data = conn.execute(sa.select(code_locations.c.snapshot, code_locations.c.snapshot_digest)
                        .where(code_locations.c.name == name)).one_or_none()
    if data is None or data.snapshot is None:
        return None
    snapshot = _codec.snapshot_decoder.decode(data.snapshot)
    # the digest read with the bytes: a load stored since the first read is decoded next time
    _decoded[name] = (data.snapshot_digest, snapshot)
    # out of the cyclic garbage collector's sight: a snapshot of 10,000 assets is some 200,000
    # lists, dicts and structs (a tree, freed by reference counting when replaced), which
    # every full collection would walk again, 0.1-0.5 s each, in the middle of a page
    gc.freeze()
    return snapshot


def _record(conn: Connection, row: AnyRow) -> LocationRecord:
    return row_to(
        LocationRecord, row,
        spec=_codec.spec_decoder.decode(row.spec),
        status=LocationStatus(row.status),
        snapshot=(None if row.snapshot_digest is None
                  else _snapshot(conn, row.name, row.snapshot_digest)),
    )
