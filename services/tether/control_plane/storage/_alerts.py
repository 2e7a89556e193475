"""Alert policies and their outbox, at the level of one open transaction.

A cause (a run that ended, a location that failed to load, a tick that failed, a failed asset
check) is turned into deliveries *in the transaction that records it*: one row per matching
policy, unique per (policy, cause key), so a cause stored twice, or seen again by a
restarted daemon, is alerted once. Causes that are the absence of something (a run still
going after N minutes, an agent gone silent) are looked for by the alert daemon's turn,
under the same unique key. The daemon then sends the PENDING rows (:mod:`..alerts`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..alerts._messages import Alert, decode_alert, encode_alert
from ..alerts._policy import (
    ASSET_CHECK_EVENT,
    Cause,
    Channel,
    Filters,
    PolicySpec,
    Trigger,
    decode_channel,
    decode_filters,
    encode_channel,
    encode_filters,
    matches,
)
from ..errors import BadInput
from . import _codec, _locations
from ._agents import LIVENESS_SECONDS
from ._engine import upsert
from ._projection import Projection, RunStatus
from ._rows import row_to
from ._schema import agents, alert_deliveries, alert_policies, runs


class DeliveryStatus:
    PENDING = "PENDING"
    SENT = "SENT"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class PolicyRecord:
    id: int
    name: str
    description: str
    triggers: list[Trigger]
    filters: Filters
    channel: Channel
    long_run_minutes: float | None
    enabled: bool
    # api or file
    source: str
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: int
    policy_id: int
    policy_name: str
    dedup_key: str
    trigger: str
    alert: Alert
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    created_at: float
    sent_at: float | None


def _policy(row: Any) -> PolicyRecord:
    return row_to(PolicyRecord, row, triggers=_codec.list_json_decoder.decode(row.triggers),
                  filters=decode_filters(row.filters), channel=decode_channel(row.channel))


def _delivery(row: Any) -> DeliveryRecord:
    return row_to(DeliveryRecord, row, alert=decode_alert(row.alert))


# -- policies ------------------------------------------------------------------------------


def list_policies(conn: Connection) -> list[PolicyRecord]:
    return [_policy(row) for row in conn.execute(
        sa.select(alert_policies).order_by(alert_policies.c.name))]


def get_policy(conn: Connection, name: str) -> PolicyRecord | None:
    row = conn.execute(sa.select(alert_policies).where(
        alert_policies.c.name == name)).one_or_none()
    return None if row is None else _policy(row)


def _values(spec: PolicySpec) -> dict[str, Any]:
    return {"name": spec.name, "description": spec.description,
            "triggers": _codec.to_json_text(list(spec.triggers)),
            "filters": encode_filters(spec.filters), "channel": encode_channel(spec.channel),
            "long_run_minutes": spec.long_run_minutes, "enabled": spec.enabled}


def create_policy(conn: Connection, spec: PolicySpec, now: float, *,
                  replace: bool = False, source: str = "api") -> PolicyRecord:
    """Add the policy (BadInput if one has its name, unless ``replace``)."""
    existing = get_policy(conn, spec.name)
    if existing is not None and not replace:
        raise BadInput(f"an alert policy named {spec.name!r} exists; delete it first, or "
                       "choose another name")
    if existing is None:
        conn.execute(alert_policies.insert().values(
            **_values(spec), source=source, created_at=now, updated_at=now))
    else:
        conn.execute(alert_policies.update().where(alert_policies.c.id == existing.id)
                     .values(**_values(spec), source=source, updated_at=now))
    record = get_policy(conn, spec.name)
    assert record is not None
    return record


def require_policy(conn: Connection, name: str) -> PolicyRecord:
    """The policy named ``name``; BadInput names the known ones."""
    record = get_policy(conn, name)
    if record is None:
        known = [policy.name for policy in list_policies(conn)]
        raise BadInput(f"no alert policy named {name!r}; known: {', '.join(known) or 'none'}")
    return record


def delete_policy(conn: Connection, name: str) -> PolicyRecord:
    """Delete the policy; its PENDING deliveries are not sent."""
    record = require_policy(conn, name)
    conn.execute(alert_policies.delete().where(alert_policies.c.id == record.id))
    conn.execute(alert_deliveries.update().where(
        alert_deliveries.c.policy_id == record.id,
        alert_deliveries.c.status == DeliveryStatus.PENDING,
    ).values(status=DeliveryStatus.FAILED, last_error="its alert policy was deleted"))
    return record


def load_file_policies(conn: Connection, specs: Sequence[PolicySpec], now: float) -> None:
    """Make the policies of ``TETHER_ALERTS_FILE`` what the file says: its policies created
    or replaced, the ones it held before and no longer does deleted."""
    names = {spec.name for spec in specs}
    for record in list_policies(conn):
        if record.source == "file" and record.name not in names:
            delete_policy(conn, record.name)
    for spec in specs:
        create_policy(conn, spec, now, replace=True, source="file")


# -- causes --------------------------------------------------------------------------------


def raise_alerts(conn: Connection, causes: Sequence[Cause], now: float, *,
                 policies: Sequence[PolicyRecord] | None = None) -> int:
    """Add a PENDING delivery for each (cause, enabled policy on its trigger that it passes)
    not alerted already; how many were added."""
    if not causes:
        return 0
    policies = [policy for policy in (_enabled(conn) if policies is None else policies)
                if policy.enabled]
    rows = []
    groups: dict[tuple[str | None, tuple[str, ...]], frozenset[str]] = {}
    for cause in causes:
        for policy in policies:
            if cause.trigger not in policy.triggers:
                continue
            found = None
            if policy.filters.asset_groups:
                place = (cause.location, cause.asset_keys)
                if place not in groups:
                    groups[place] = _asset_groups(conn, cause.location, cause.asset_keys)
                found = groups[place]
            if not matches(policy.filters, cause, found):
                continue
            alert = Alert(policy=policy.name, trigger=cause.trigger, dedup_key=cause.key,
                          title=cause.title, text=cause.text, path=cause.path,
                          facts=cause.facts, severity=cause.severity, created_at=now)
            rows.append({"policy_id": policy.id, "policy_name": policy.name,
                         "dedup_key": cause.key, "trigger": cause.trigger,
                         "alert": encode_alert(alert), "status": DeliveryStatus.PENDING,
                         "attempts": 0, "next_attempt_at": now, "created_at": now})
    if not rows:
        return 0
    inserted = conn.execute(upsert(conn, alert_deliveries).on_conflict_do_nothing()
                            .returning(alert_deliveries.c.id), rows).all()
    return len(inserted)


def _asset_groups(conn: Connection, location: str | None,
                  asset_keys: tuple[str, ...]) -> frozenset[str]:
    if location is None or not asset_keys:
        return frozenset()
    record = _locations.get(conn, location)
    if record is None or record.snapshot is None:
        return frozenset()
    return frozenset(asset.group_name for asset in record.snapshot.assets
                     if asset.key in asset_keys)


def _job_assets(conn: Connection, location: str, job_name: str) -> tuple[str, ...]:
    record = _locations.get(conn, location)
    job = None if record is None or record.snapshot is None else record.snapshot.job(job_name)
    return () if job is None else tuple(node.asset_key for node in job.nodes if node.asset_key)


def _enabled(conn: Connection) -> list[PolicyRecord]:
    return [policy for policy in list_policies(conn) if policy.enabled]


def on_runs_ended(conn: Connection, before: Mapping[str, Projection],
                  after: Mapping[str, Projection], now: float) -> None:
    """Alert on the runs whose projection just became SUCCESS or FAILURE (in the transaction
    that made it so)."""
    ended = {run_id: projection for run_id, projection in after.items()
             if projection.status in (RunStatus.SUCCESS, RunStatus.FAILURE)
             and before[run_id].status != projection.status}
    policies = _enabled(conn) if ended else []
    if not policies:
        return
    # a snapshot is read for the job's assets only when a policy filters by asset group
    by_group = any(policy.filters.asset_groups for policy in policies)
    causes = []
    for row in conn.execute(sa.select(runs.c.run_id, runs.c.job_name, runs.c.location,
                                      runs.c.tags, runs.c.attempt, runs.c.start_time)
                            .where(runs.c.run_id.in_(sorted(ended)))):
        projection = ended[row.run_id]
        failed = projection.status == RunStatus.FAILURE
        error = projection.error
        reason = (f"{error.class_name}: {error.message}" if error is not None
                  else "the run failed")
        took = (f" in {_duration(projection.end_time - projection.start_time)}"
                if projection.start_time and projection.end_time else "")
        causes.append(Cause(
            trigger="RUN_FAILURE" if failed else "RUN_SUCCESS",
            key=f"run:{row.run_id}:{row.attempt}",
            title=f"Run of {row.job_name} {'failed' if failed else 'succeeded'}",
            text=(reason if failed else f"The run succeeded{took}."),
            path=f"/runs/{row.run_id}", location=row.location, job=row.job_name,
            tags=_tags(row.tags),
            asset_keys=_job_assets(conn, row.location, row.job_name) if by_group else (),
            facts={"run": row.run_id, "job": row.job_name, "location": row.location,
                   "attempt": str(row.attempt)},
            severity="error" if failed else "info"))
    raise_alerts(conn, causes, now, policies=policies)


def on_asset_checks(conn: Connection, checks: Iterable[Any], now: float) -> None:
    """Alert on stored ``ASSET_CHECK_EVALUATION`` events whose check did not pass (events
    with ``asset_key``, ``check_name`` and ``passed``)."""
    failed = [event for event in checks if not getattr(event, "passed", True)]
    policies = _enabled(conn) if failed else []
    if not policies:
        return
    run_rows = {row.run_id: row for row in conn.execute(
        sa.select(runs.c.run_id, runs.c.job_name, runs.c.location, runs.c.tags)
        .where(runs.c.run_id.in_(sorted({event.run_id for event in failed}))))}
    causes = []
    for event in failed:
        run = run_rows.get(event.run_id)
        if run is None:
            continue
        asset_key = str(getattr(event, "asset_key", ""))
        check = str(getattr(event, "check_name", "") or "check")
        causes.append(Cause(
            trigger="ASSET_CHECK_FAILED", key=f"check:{event.run_id}:{event.attempt}:"
            f"{event.seq}", title=f"Asset check {check} failed on {asset_key}",
            text=f"The check {check} of asset {asset_key} did not pass in run {event.run_id}.",
            path=f"/runs/{event.run_id}", location=run.location, job=run.job_name,
            tags=_tags(run.tags), asset_keys=(asset_key,),
            facts={"asset": asset_key, "check": check, "run": event.run_id,
                   "job": run.job_name, "location": run.location},
            severity="warning" if getattr(event, "severity", "ERROR") == "WARN" else "error"))
    raise_alerts(conn, causes, now, policies=policies)


def on_location_failed(conn: Connection, location: str, generation: int, error: str,
                       now: float) -> None:
    first_line = error.strip().splitlines()[-1] if error.strip() else "it failed to load"
    raise_alerts(conn, [Cause(
        trigger="LOCATION_LOAD_FAILED", key=f"location:{location}:{generation}",
        title=f"Code location {location} failed to load", text=first_line[:500],
        path="/locations", location=location,
        facts={"location": location, "deploy": str(generation)})], now)


def on_tick_failed(conn: Connection, kind: str, location: str, name: str, tick_id: int,
                   error: str, now: float) -> None:
    raise_alerts(conn, [Cause(
        trigger="TICK_FAILURE", key=f"tick:{tick_id}",
        title=f"The {kind} {name} failed its tick", text=error[:500], path="/automation",
        location=location, facts={kind: name, "location": location, "tick": str(tick_id)})],
        now)


def raise_overdue(conn: Connection, now: float) -> int:
    """The alert daemon's look for what did not happen: runs in progress longer than a
    policy's ``long_run_minutes``, agents silent past the liveness window."""
    policies = _enabled(conn)
    added = 0
    for policy in policies:
        if "RUN_LONG" not in policy.triggers or policy.long_run_minutes is None:
            continue
        limit = policy.long_run_minutes * 60
        rows = conn.execute(sa.select(runs.c.run_id, runs.c.job_name, runs.c.location,
                                      runs.c.tags, runs.c.attempt, runs.c.start_time)
                            .where(runs.c.status.in_((RunStatus.STARTED, RunStatus.CANCELING)),
                                   runs.c.start_time < now - limit)).all()
        added += raise_alerts(conn, [Cause(
            trigger="RUN_LONG", key=f"long:{row.run_id}:{row.attempt}",
            title=f"Run of {row.job_name} is taking long",
            text=f"The run has been going for {_duration(now - row.start_time)} "
                 f"(the policy's limit: {policy.long_run_minutes:g} min).",
            path=f"/runs/{row.run_id}", location=row.location, job=row.job_name,
            tags=_tags(row.tags), asset_keys=_job_assets(conn, row.location, row.job_name),
            facts={"run": row.run_id, "job": row.job_name, "location": row.location},
            severity="warning") for row in rows], now, policies=[policy])
    if any("AGENT_LOST" in policy.triggers for policy in policies):
        silent = conn.execute(sa.select(agents.c.agent_id, agents.c.last_heartbeat).where(
            agents.c.last_heartbeat < now - LIVENESS_SECONDS)).all()
        added += raise_alerts(conn, [Cause(
            trigger="AGENT_LOST", key=f"agent:{row.agent_id}:{row.last_heartbeat:.3f}",
            title=f"Agent {row.agent_id} stopped heartbeating",
            text=f"No heartbeat for {_duration(now - row.last_heartbeat)}: its queues' runs "
                 "and code locations are not served.",
            path="/agents", facts={"agent": row.agent_id,
                                   "last heartbeat": _utc(row.last_heartbeat)})
            for row in silent], now, policies=policies)
    return added


# -- deliveries ----------------------------------------------------------------------------


def due_deliveries(conn: Connection, now: float, limit: int
                   ) -> list[tuple[DeliveryRecord, PolicyRecord]]:
    """PENDING deliveries whose time has come, oldest first, with their policies."""
    rows = conn.execute(sa.select(alert_deliveries).where(
        alert_deliveries.c.status == DeliveryStatus.PENDING,
        alert_deliveries.c.next_attempt_at <= now).order_by(alert_deliveries.c.id)
        .limit(limit)).all()
    policies = {policy.id: policy for policy in list_policies(conn)}
    return [(_delivery(row), policies[row.policy_id]) for row in rows
            if row.policy_id in policies]


def record_attempt(conn: Connection, delivery_id: int, now: float, *, error: str | None,
                   retry_at: float | None) -> None:
    """How sending went: SENT (no ``error``), PENDING again until ``retry_at``, or FAILED
    (an error and no retry left)."""
    values: dict[str, Any] = {"attempts": alert_deliveries.c.attempts + 1,
                              "last_error": error}
    if error is None:
        values.update(status=DeliveryStatus.SENT, sent_at=now)
    elif retry_at is None:
        values.update(status=DeliveryStatus.FAILED)
    else:
        values.update(next_attempt_at=retry_at)
    conn.execute(alert_deliveries.update().where(alert_deliveries.c.id == delivery_id,
                                                 alert_deliveries.c.status ==
                                                 DeliveryStatus.PENDING).values(**values))


def list_deliveries(conn: Connection, *, limit: int, policy: str | None = None,
                    status: str | None = None) -> list[DeliveryRecord]:
    query = sa.select(alert_deliveries).order_by(alert_deliveries.c.id.desc()).limit(limit)
    if policy is not None:
        query = query.where(alert_deliveries.c.policy_name == policy)
    if status is not None:
        query = query.where(alert_deliveries.c.status == status)
    return [_delivery(row) for row in conn.execute(query)]


def add_test_delivery(conn: Connection, policy: PolicyRecord, now: float) -> DeliveryRecord:
    """A sample alert through the policy's channel, sent by the daemon like any other."""
    key = f"test:{now:.6f}"
    alert = Alert(policy=policy.name, trigger=policy.triggers[0], dedup_key=key,
                  title=f"Test alert of policy {policy.name}",
                  text="A sample sent by `tether alert test`: the channel works.",
                  path="/settings/alerts", facts={"policy": policy.name}, severity="info",
                  created_at=now, test=True)
    row = conn.execute(alert_deliveries.insert().values(
        policy_id=policy.id, policy_name=policy.name, dedup_key=key, trigger=alert.trigger,
        alert=encode_alert(alert), status=DeliveryStatus.PENDING, attempts=0,
        next_attempt_at=now, created_at=now).returning(*alert_deliveries.c)).one()
    return _delivery(row)


def get_delivery(conn: Connection, delivery_id: int) -> DeliveryRecord | None:
    row = conn.execute(sa.select(alert_deliveries).where(
        alert_deliveries.c.id == delivery_id)).one_or_none()
    return None if row is None else _delivery(row)


def _tags(raw: str) -> dict[str, str]:
    decoded = _codec.dict_json_decoder.decode(raw) if raw else {}
    return {str(key): value if isinstance(value, str) else _codec.to_json_text(value)
            for key, value in decoded.items()}


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


__all__ = ["ASSET_CHECK_EVENT", "DeliveryRecord", "DeliveryStatus", "PolicyRecord"]
