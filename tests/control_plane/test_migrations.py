from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tether.control_plane.errors import StorageError
from tether.control_plane.storage import Store, metadata, normalize_url


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
