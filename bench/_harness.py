"""What the benchmarks share: a whole deployment of the example on an embedded broker, a fresh
database, and a client signed in to a control-plane app."""

from __future__ import annotations

import re
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from tests.conftest import EXAMPLE_WORKSPACE, POSTGRES_URL, free_port  # noqa: E402
from tests.deployment import Deployment  # noqa: E402

from tether.broker import EmbeddedBroker  # noqa: E402
from tether.settings import Settings  # noqa: E402

__all__ = ["Deployment", "deployment", "fresh_database", "signed_in"]

LOCATIONS = "{ codeLocations { status } }"


@contextmanager
def deployment(*, database_url: str | None = None, env: Mapping[str, str] | None = None,
               copies: Mapping[str, int] | None = None,
               processes: tuple[str, ...] | None = None,
               workspace: Path = EXAMPLE_WORKSPACE) -> Iterator[Deployment]:
    """A deployment of ``workspace`` (the example's by default) on an embedded broker (SQLite
    unless ``database_url``), quiet logs, ready to take runs (its first code location loaded,
    when a supervisor runs)."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        broker = EmbeddedBroker(data_dir / "valkey")
        broker.start()
        options = {} if processes is None else {"processes": processes}
        running = Deployment(
            database_url=database_url or f"sqlite:///{data_dir / 'tether.db'}",
            redis_url=broker.url, workspace=workspace, data_dir=data_dir,
            port=free_port(), copies=copies, env={"TETHER_LOG_LEVEL": "WARNING", **(env or {})},
            **options)
        try:
            running.wait_healthy()
            if "supervisor" in running.processes:
                running.wait_for(
                    lambda: running.graphql(LOCATIONS)["codeLocations"][0]["status"] == "LOADED",
                    what="code location loaded")
            yield running
        finally:
            running.stop()
            broker.stop()


@contextmanager
def fresh_database(name: str) -> Iterator[str]:
    """The URL of a fresh database: a SQLite file (``name`` "SQLite"), or a schema of the
    machine's PostgreSQL dropped afterwards (``name`` "PostgreSQL")."""
    if name == "SQLite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/tether.db"
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@asynccontextmanager
async def signed_in(database_url: str, token: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of a control-plane app on ``database_url`` (in this process, no
    server), signed in to the web UI with ``token``."""
    from tether.control_plane import create_app

    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app(Settings(data_dir=data_dir, database_url=database_url))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://cp") as client:
                form = await client.get("/signin")
                csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
                assert csrf is not None
                await client.post("/signin", data={"token": token, "csrf": csrf.group(1)})
                yield client
