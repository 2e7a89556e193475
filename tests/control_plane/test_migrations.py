from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tether.control_plane.errors import StorageError
from tether.control_plane.storage import Store, alembic_config, metadata, normalize_url


def test_migrations_create_exactly_the_metadata_tables(store: Store) -> None:
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        tables = set(sa.inspect(conn).get_table_names())
    assert diff == []
    assert tables == set(metadata.tables) | {"alembic_version"}


def test_migrate_twice_is_harmless_and_keeps_data(store: Store) -> None:
    token = store.create_token("user")
    store.migrate()
    assert store.authenticate(token) is not None


def test_plain_postgresql_urls_get_the_psycopg_driver() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path}/t.db")
    store.migrate()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.close()


def test_an_unreachable_database_is_a_storage_error_naming_it() -> None:
    store = Store.from_url("postgresql://nobody:secret@127.0.0.1:1/nothing")
    with pytest.raises(StorageError, match=re.escape("127.0.0.1:1/nothing")) as info:
        store.migrate()
    assert "secret" not in str(info.value)
    with pytest.raises(StorageError, match="unsupported database"):
        Store.from_url("mysql://u@h/db")


def _migrate(store: Store, revision: str, *, down: bool = False) -> None:
    config = alembic_config()
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def test_what_existed_before_deployments_becomes_prod(database_url: str) -> None:
    store = Store.from_url(database_url)
    _migrate(store, "0022")
    with store.engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO code_locations (name, spec, status, updated_at, generation) "
            "VALUES ('hello', :spec, 'LOADED', 1, 1)"), {"spec": b"x"})
        conn.execute(sa.text(
            "INSERT INTO runs (run_id, job_name, location, status, attempt, run_config, tags, "
            "created_at, updated_at, steps_succeeded, steps_failed, origin, run_key) VALUES "
            "('r1', 'j', 'hello', 'QUEUED', 1, '{}', '{}', 1, 1, 0, 0, 'schedule:hello/s', "
            "'k')"))
        conn.execute(sa.text(
            "INSERT INTO automation_states (kind, location, name, running, updated_at) "
            "VALUES ('schedule', 'hello', 's', true, 1)"))
        conn.execute(sa.text(
            "INSERT INTO tokens (kind, role, name, token_hash, created_at) VALUES "
            "('agent', 'admin', 'a', 'h1', 1), ('user', 'viewer', 'u', 'h2', 1)"))
    store.migrate()
    with store.engine.begin() as conn:
        assert conn.execute(sa.text("SELECT name, kind FROM deployments")).all() == [
            ("prod", "prod")]
        for table in ("code_locations", "runs", "automation_states"):
            assert conn.execute(sa.text(f"SELECT deployment FROM {table}")).scalars().all() == [
                "prod"], table
        assert dict(conn.execute(sa.text("SELECT kind, deployment FROM tokens")).all()) == {
            "agent": "prod", "user": None}
        # a branch deployment may hold a location, and a keyed run, of the same names
        conn.execute(sa.text(
            "INSERT INTO code_locations (deployment, name, spec, status, updated_at) "
            "VALUES ('feature-x', 'hello', :spec, 'LOADED', 1)"), {"spec": b"x"})
        conn.execute(sa.text(
            "INSERT INTO runs (run_id, deployment, job_name, location, status, attempt, "
            "run_config, tags, created_at, updated_at, steps_succeeded, steps_failed, origin, "
            "run_key) VALUES ('r2', 'feature-x', 'j', 'hello', 'QUEUED', 1, '{}', '{}', 1, 1, "
            "0, 0, 'schedule:hello/s', 'k')"))
    # down again keeps prod's rows only
    _migrate(store, "0022", down=True)
    with store.engine.begin() as conn:
        assert conn.execute(sa.text("SELECT name FROM code_locations")).scalars().all() == [
            "hello"]
        assert conn.execute(sa.text("SELECT run_id FROM runs")).scalars().all() == ["r1"]
    store.close()
