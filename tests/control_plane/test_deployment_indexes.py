"""The lookups the asset pages and the runs list make in one deployment search an index
that leads with the deployment: with many deployments, a probe for an asset, check, step or
tag reads that deployment's entries only, not every deployment's of the same key. Each
store call's statements are captured as sent and explained by the database (SQLite's
``EXPLAIN QUERY PLAN``; PostgreSQL's ``EXPLAIN`` with sequential scans off, since its
tables here are too small for an index to pay). On SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from tether.control_plane.storage import Store
from tether.control_plane.storage._schema import asset_partitions, events, run_tags, runs
from tether.wire import StaticPartitions

# what each page asks the store, in one deployment of many
LOOKUPS: dict[str, Callable[[Store], object]] = {
    "an asset's materializations": lambda s: s.materializations("sales"),
    "the assets' latest materializations": lambda s: s.latest_materializations(
        ["sales", "costs"]),
    "the assets' latest step outcomes": lambda s: s.asset_states({"sales": ["load"]}),
    "an asset's check results": lambda s: s.check_evaluations("sales"),
    "the assets' check status": lambda s: s.check_summaries({"sales": ["fresh"]}),
    "an asset's partitions": lambda s: s.asset_partition_status(
        "sales", StaticPartitions(keys=("eu", "us"))),
    "the runs list": lambda s: s.list_runs(),
    "the runs list by status": lambda s: s.list_runs(status="FAILURE"),
    "the runs list by job": lambda s: s.list_runs(job_name="sales_job"),
    "the runs list by tag": lambda s: s.list_runs(tag=("team", "data")),
}
# the tables a probe must not walk across deployments
PROBED = ("events", "probed", "asset_partitions", "runs", "run_tags")


@contextmanager
def _captured(store: Store) -> Iterator[list[tuple[str, Any]]]:
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
                _many: bool) -> None:
        sent.append((statement, parameters))

    sa.event.listen(store.engine, "before_cursor_execute", capture)
    try:
        yield sent
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", capture)


def _plans(store: Store, sent: list[tuple[str, Any]]) -> list[str]:
    """The plan of each captured SELECT, as one text each."""
    plans = []
    with store.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET enable_seqscan = off")
        explain = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
        for statement, parameters in sent:
            if statement.lstrip().upper().startswith("SELECT"):
                rows = conn.exec_driver_sql(explain + statement, parameters).all()
                plans.append("\n".join(str(row[-1]) for row in rows))
        conn.rollback()
    return plans


def _walks_other_deployments(plan: str, dialect: str) -> list[str]:
    """The plan's reads of a per-deployment table that are not searched by deployment (nor
    a lookup of one row by its primary key): a full scan, or an index search by a key
    alone that filters what it found by deployment afterwards."""
    lines = plan.splitlines()
    if dialect == "sqlite":
        return [line for line in lines
                if re.search(rf"\b(SCAN|SEARCH) ({'|'.join(PROBED)})\b", line)
                and "(deployment=?" not in line and "PRIMARY KEY" not in line
                # the unique index SQLite makes for a text primary key: one row by its key
                and not re.search(r"sqlite_autoindex_\w+ \(\w+=\?\)", line)]
    bad = []
    for at, line in enumerate(lines):
        found = re.search(rf"Scan.* on ({'|'.join(PROBED)})\b", line)
        if not found:
            continue
        # the node's own conditions follow it, until the next node
        condition = ""
        for detail in lines[at + 1:]:
            if "->" in detail:
                break
            if "Index Cond:" in detail:
                condition = detail.split("Index Cond:", 1)[1]
        if "deployment" not in condition and not ("_pkey" in line and condition):
            bad.append(line)
    return bad


# the other deployments, which hold rows of the same keys; the lookups are made in "alpha"
OTHERS = [f"d{index:02}" for index in range(20)]


def _other_deployments(store: Store) -> None:
    """20 deployments holding the same asset keys, checks, steps, partitions and tagged
    runs, written directly (what a plan weighs is the rows, not how they came), then
    analyzed: the planner knows that a key alone selects every deployment's entries."""
    rows = [(deployment, key) for deployment in OTHERS
            for key in ["sales", "costs", *(f"asset{n}" for n in range(30))]]
    with store.engine.begin() as conn:
        conn.execute(events.insert(), [
            {"run_id": f"{deployment}-{key}-{kind}", "deployment": deployment, "attempt": 1,
             "seq": 1, "type": kind, "timestamp": 1.0, "level": "INFO", "message": "",
             "asset_key": key if kind != "STEP_SUCCESS" else None,
             "check_name": "fresh" if kind == "ASSET_CHECK_EVALUATION" else None,
             "step_key": key if kind == "STEP_SUCCESS" else None}
            for deployment, key in rows
            for kind in ("ASSET_MATERIALIZATION", "ASSET_CHECK_EVALUATION", "STEP_SUCCESS")])
        conn.execute(asset_partitions.insert(), [
            {"deployment": deployment, "asset_key": key, "partition": partition,
             "status": "MATERIALIZED", "updated_at": 1.0}
            for deployment, key in rows for partition in ("eu", "us")])
        conn.execute(runs.insert(), [
            {"run_id": f"{deployment}-{key}", "deployment": deployment, "job_name": key,
             "location": "hello", "status": "SUCCESS", "attempt": 1, "run_config": "{}",
             "tags": '{"team": "data"}', "created_at": 1.0, "updated_at": 1.0,
             "steps_succeeded": 1, "steps_failed": 0} for deployment, key in rows])
        conn.execute(run_tags.insert(), [
            {"run_id": f"{deployment}-{key}", "key": "team", "deployment": deployment,
             "value": "data", "created_at": 1.0} for deployment, key in rows])
        # these tables only: a database-wide ANALYZE waits on other schemas' tables
        for table in ("events", "asset_partitions", "runs", "run_tags"):
            conn.exec_driver_sql(f"ANALYZE {table}")


@pytest.mark.parametrize("lookup", list(LOOKUPS))
def test_each_lookup_searches_by_deployment(store: Store, lookup: str) -> None:
    for deployment in [*OTHERS, "alpha"]:
        store.create_deployment(deployment)
    _other_deployments(store)
    alpha = store.scoped("alpha")
    with _captured(alpha) as sent:
        LOOKUPS[lookup](alpha)
    plans = _plans(store, sent)
    assert any(re.search(rf"\b({'|'.join(PROBED)})\b", plan) for plan in plans), plans
    dialect = store.engine.dialect.name
    for plan in plans:
        assert not _walks_other_deployments(plan, dialect), (
            f"{lookup} walks other deployments' entries:\n{plan}")
