"""What a run status or asset sensor is told on its tick: the runs that reached one of its
statuses, or the materializations of its assets, stored since its cursor.

The cursor is a storage event id. A sensor's first tick starts from the newest event (it
reacts to what happens from then on, not to history); each tick hands over at most
``MAX_NEWS`` events, and the tick's ``events_until`` becomes the cursor once the user's
function has seen them, so each event is handed over until one tick succeeds with it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tether.wire import (
    AssetMaterialization,
    MaterializationRecord,
    RunStatusChange,
    SensorSnapshot,
)

from . import _codec
from ._projection import RUN_CANCELED, RUN_FAILURE
from ._schema import MATERIALIZATIONS, events, runs

MAX_NEWS = 500
# the run status a sensor names -> the event that records it
STATUS_EVENTS = {"SUCCESS": "RUN_SUCCESS", "FAILURE": RUN_FAILURE, "CANCELED": RUN_CANCELED,
                 "STARTED": "RUN_START"}
_STATUS_OF = {event: status for status, event in STATUS_EVENTS.items()}


def news(conn: Connection, sensor: SensorSnapshot, cursor: str | None
         ) -> tuple[list[RunStatusChange], list[MaterializationRecord], int]:
    """The sensor's news since ``cursor``, and the event id it reaches."""
    newest = conn.execute(sa.select(sa.func.max(events.c.id))).scalar_one_or_none() or 0
    after = int(cursor) if cursor and cursor.isdigit() else None
    if after is None:
        return [], [], newest
    if sensor.sensor_type == "run_status":
        changes = _run_changes(conn, sensor, after, newest)
        until = changes[-1].event_id if len(changes) == MAX_NEWS else newest
        return changes, [], until
    materializations = _materializations(conn, sensor, after, newest)
    until = materializations[-1].event_id if len(materializations) == MAX_NEWS else newest
    return [], materializations, until


def _run_changes(conn: Connection, sensor: SensorSnapshot, after: int,
                 until: int) -> list[RunStatusChange]:
    types = [STATUS_EVENTS[status] for status in sensor.run_statuses if status in STATUS_EVENTS]
    query = (sa.select(events.c.id, events.c.type, events.c.timestamp, events.c.body,
                       events.c.seq, runs.c.run_id, runs.c.job_name, runs.c.location,
                       runs.c.tags, runs.c.error)
             .join(runs, runs.c.run_id == events.c.run_id)
             .where(events.c.id > after, events.c.id <= until, events.c.type.in_(types))
             .order_by(events.c.id).limit(MAX_NEWS))
    if sensor.monitored_jobs:
        query = query.where(runs.c.job_name.in_(sensor.monitored_jobs))
    return [RunStatusChange(
        event_id=row.id, run_id=row.run_id, job_name=row.job_name, location=row.location,
        status=_STATUS_OF[row.type], timestamp=row.timestamp,
        tags={key: str(value) for key, value in _codec.dict_json_decoder.decode(
            row.tags).items()},
        error=_codec.error_from_json(row.error) if row.type == RUN_FAILURE else None)
        for row in conn.execute(query)]


def _materializations(conn: Connection, sensor: SensorSnapshot, after: int,
                      until: int) -> list[MaterializationRecord]:
    found: list[MaterializationRecord] = []
    wanted = set(sensor.asset_keys)
    # the partial index of materializations yields them by id; the key is in the body
    rows = conn.execute(
        sa.select(events.c.id, events.c.body, events.c.timestamp, runs.c.job_name)
        .join(runs, runs.c.run_id == events.c.run_id)
        .where(sa.text(MATERIALIZATIONS), events.c.id > after, events.c.id <= until)
        .order_by(events.c.id))
    for row in rows:
        event = _codec.event_decoder.decode(row.body)
        if isinstance(event, AssetMaterialization) and event.asset_key in wanted:
            found.append(MaterializationRecord(
                event_id=row.id, asset_key=event.asset_key, run_id=event.run_id,
                timestamp=row.timestamp, job_name=row.job_name))
            if len(found) == MAX_NEWS:
                break
    return found
