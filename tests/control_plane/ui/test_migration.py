"""Migration 0006 on a database that already has runs: their tags become filterable."""

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
