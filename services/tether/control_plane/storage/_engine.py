"""Engines for SQLite and PostgreSQL, and the one place database errors become Tether errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Engine, make_url

from ..errors import StorageError, UnstorableInput

# Execution option that marks a transaction as a writer. On SQLite a writer begins with
# BEGIN IMMEDIATE, so it takes the write lock up front and concurrent writers queue on
# busy_timeout instead of failing with "database is locked" when a read turns into a write.
WRITE_OPTION = "tether_write"
# the execution option that names the deployment a connection works in (see Store.scoped)
SCOPE_OPTION = "tether_deployment"

_SQLITE_BUSY_TIMEOUT_MS = 10_000


def normalize_url(url: str) -> URL:
    """Parse a database URL; plain ``postgresql://`` (and ``postgres://``) get the psycopg 3
    driver, the only PostgreSQL driver Tether ships with."""
    try:
        parsed = make_url(url)
    except exc.ArgumentError as error:
        raise StorageError(f"invalid database URL {url!r}: {error}") from error
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise StorageError(
            f"unsupported database {parsed.get_backend_name()!r} in "
            f"{parsed.render_as_string(hide_password=True)}; use sqlite:/// or postgresql://"
        )
    return parsed


def create_engine(url: str) -> Engine:
    parsed = normalize_url(url)
    try:
        engine = sa.create_engine(parsed, pool_pre_ping=parsed.get_backend_name() != "sqlite")
    except (exc.ArgumentError, ImportError) as error:
        raise StorageError(
            f"cannot use database {parsed.render_as_string(hide_password=True)}: {error}"
        ) from error
    if engine.dialect.name == "sqlite":
        _create_parent_folder(parsed)
        _configure_sqlite(engine)
    # imported here: _scope imports this module's option name
    from . import _scope
    _scope.install(engine)
    return engine


def _create_parent_folder(url: URL) -> None:
    # the embedded default lives in a data folder that a newcomer has not created
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        try:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StorageError(f"cannot create the folder of SQLite database {database}: "
                               f"{error}") from error


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and never issues it before a SELECT;
    # take control of BEGIN so reads get a snapshot and writers take the lock up front
    # (the recipe from SQLAlchemy's SQLite dialect documentation).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def describe(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


@contextmanager
def translate_errors(engine: Engine) -> Iterator[None]:
    """Turn SQLAlchemy errors into :class:`StorageError` naming the database."""
    try:
        yield
    except (exc.DataError, exc.IntegrityError) as error:
        raise UnstorableInput(
            f"database {describe(engine)} refused the data: {error.orig or error}"
        ) from error
    except exc.OperationalError as error:
        raise StorageError(
            f"database {describe(engine)} is unavailable or refused the operation: "
            f"{error.orig or error}"
        ) from error
    except exc.SQLAlchemyError as error:
        raise StorageError(f"database {describe(engine)} error: {error}") from error


def upsert(conn: Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into ``table`` in the connection's dialect, which offers ON CONFLICT (the
    generic one does not)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
