"""Alembic, run programmatically: the migrations ship inside the package, no alembic.ini."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

from ._engine import WRITE_OPTION

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# any number: the key of the advisory lock that lets one process at a time migrate
_MIGRATION_LOCK = 0x7E7E_0000


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade_to_head(engine: Engine) -> None:
    """Migrate to the newest revision. Processes starting together (the control plane and
    its daemons) take turns: on SQLite the write transaction excludes the others, on
    PostgreSQL an advisory lock does, and the later ones find the schema current."""
    config = alembic_config()
    with engine.execution_options(**{WRITE_OPTION: True}).begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
