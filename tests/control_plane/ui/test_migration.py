"""Migrations on a database that already has data: runs keep their tags filterable (0006),
materializations (0022) and check results (0024) are found by their asset."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from tether.control_plane.storage import Store, alembic_config

from ..conftest import load_location


def test_runs_stored_before_the_web_ui_keep_their_tags_filterable(database_url: str) -> None:
    store = Store.from_url(database_url)
    config = alembic_config()
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0004")
    with store.engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO runs (run_id, job_name, location, status, attempt, run_config, tags, "
            "created_at, updated_at, steps_succeeded, steps_failed) VALUES "
            "('old-run', 'hello_job', 'hello', 'SUCCESS', 1, '{}', "
            "'{\"team\": \"data\", \"priority\": 3}', 1.0, 1.0, 0, 0)"))
    store.migrate()
    load_location(store)
    new_run = store.launch_run("hello_job", tags={"team": "data"})
    assert [r.run_id for r in store.list_runs(tag=("team", "data"))] == [new_run, "old-run"]
    assert [r.run_id for r in store.list_runs(tag=("priority", "3"))] == ["old-run"]
    assert store.list_runs(tag=("team", "ops")) == []
    store.close()


def test_materializations_stored_before_0022_are_found_by_their_asset_key(
        database_url: str) -> None:
    from tether.control_plane.storage import _codec
    from tether.wire import AssetMaterialization, IntValue

    store = Store.from_url(database_url)
    config = alembic_config()
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0015")
    body = _codec.encode(AssetMaterialization(
        run_id="old-run", attempt=1, seq=1, timestamp=5.0, asset_key="warehouse/orders",
        metadata={"rows": IntValue(value=7)}))
    with store.engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO events (run_id, attempt, seq, type, timestamp, step_key, level, "
            "message, body) VALUES ('old-run', 1, 1, 'ASSET_MATERIALIZATION', 5.0, "
            "'warehouse__orders', 'INFO', 'materialized', :body)"), {"body": body})
    store.migrate()
    [old] = store.materializations("warehouse/orders")
    assert (old.run_id, old.metadata) == ("old-run", {"rows": IntValue(value=7)})
    assert set(store.latest_materializations(["warehouse/orders", "other"])) == {
        "warehouse/orders"}
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0015")
        assert "asset_key" not in {c["name"] for c in sa.inspect(conn).get_columns("events")}
    store.close()


def test_check_results_stored_before_0024_are_found_by_their_asset_and_check(
        database_url: str) -> None:
    from tether.control_plane.storage import _codec
    from tether.wire import AssetCheckEvaluation

    store = Store.from_url(database_url)
    config = alembic_config()
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0022")
    for seq, passed in ((1, True), (2, False)):
        body = _codec.encode(AssetCheckEvaluation(
            run_id="old-run", attempt=1, seq=seq, timestamp=float(seq),
            asset_key="warehouse/orders", check_name="has_rows", passed=passed))
        with store.engine.begin() as conn:
            conn.execute(sa.text(
                "INSERT INTO events (run_id, attempt, seq, type, timestamp, step_key, level, "
                "message, body) VALUES ('old-run', 1, :seq, 'ASSET_CHECK_EVALUATION', :seq, "
                "'warehouse__orders__has_rows', 'INFO', 'checked', :body)"),
                {"seq": seq, "body": body})
    store.migrate()
    summary = store.check_summaries({"warehouse/orders": ["has_rows"]})["warehouse/orders"]
    assert (summary.passed, summary.failed) == (0, ("has_rows",))
    assert [e.passed for e in store.check_evaluations("warehouse/orders", 5, "has_rows")] == [
        False, True]
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0022")
        assert "check_name" not in {c["name"] for c in sa.inspect(conn).get_columns("events")}
        assert conn.execute(sa.text("SELECT count(*) FROM events WHERE asset_key IS NOT NULL")
                            ).scalar() == 0
    store.close()
