"""A real Docker Engine (``dockerd`` started here, see :mod:`tests.docker_engine`), the test
image built on it, and a deployment whose agent runs code servers and runs in containers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from ..conftest import free_port
from ..deployment import Deployment, deployed
from ..docker_engine import (
    DOCKER_HOST,
    EngineUnavailable,
    start_engine,
    stop_engine,
    tether_image,
)

LOCATION = "in_docker"


@pytest.fixture(scope="session")
def docker_host() -> Iterator[str]:
    try:
        process = start_engine()
    except EngineUnavailable as exc:
        pytest.skip(f"dockerd cannot start on this machine: {exc}")
    yield DOCKER_HOST
    if process is not None:
        stop_engine(process)


@pytest.fixture(scope="session")
def docker_client(docker_host: str) -> Iterator[object]:
    import docker

    client = docker.DockerClient(base_url=docker_host)
    yield client
    client.close()


@pytest.fixture(scope="session")
def image(docker_client: object) -> str:
    """The test image (Tether from this checkout's wheel, the location in /app)."""
    started = time.monotonic()
    tag = tether_image(docker_client)
    print(f"\ntest image {tag} ready in {time.monotonic() - started:.1f} s")
    return tag


def write_workspace(path: Path, image: str, **extra: str) -> Path:
    lines = [f'{key} = "{value}"' for key, value in extra.items()]
    path.write_text("[[locations]]\n"
                    f'name = "{LOCATION}"\n'
                    'python_file = "/app/defs.py"\n'
                    f'image = "{image}"\n'
                    'env = { GREETING = "hi" }\n' + "\n".join(lines) + "\n")
    return path


def containers_of(client: object, agent_id: str | None = None) -> list[object]:
    import docker

    assert isinstance(client, docker.DockerClient)
    filters = {"label": "tether.agent" if agent_id is None else f"tether.agent={agent_id}"}
    # a container may remove itself between the listing and its inspection
    return list(client.containers.list(all=True, filters=filters, ignore_removed=True))


@contextmanager
def docker_deployed(data_dir: Path, broker_url: str, docker_host: str, image: str,
                    docker_client: object) -> Iterator[Deployment]:
    """A deployment (SQLite, the embedded Valkey) whose agent is of kind docker; afterwards
    no container of it may be left."""
    workspace = write_workspace(data_dir / "workspace.toml", image)
    with deployed(database_url=f"sqlite:///{data_dir / 'tether.db'}", redis_url=broker_url,
                  workspace=workspace, data_dir=data_dir, port=free_port(),
                  env={"TETHER_AGENT_KIND": "docker", "TETHER_DOCKER_HOST": docker_host,
                       "TETHER_CODE_SERVER_START_TIMEOUT": "60",
                       "TETHER_TERMINATE_GRACE_SECONDS": "3"}) as deployment:
        yield deployment
    # a stopped code-server container removes itself a moment after its stop returns
    deadline = time.monotonic() + 15
    while containers_of(docker_client) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = containers_of(docker_client)
    for container in left:
        container.remove(force=True)  # type: ignore[attr-defined]
    assert not left, "containers left behind"


@pytest.fixture
def docker_deployment(tmp_path: Path, broker_url: str, docker_host: str, image: str,
                      docker_client: object) -> Iterator[Deployment]:
    """A Docker deployment of the test's own (for tests that redeploy or restart it)."""
    with docker_deployed(tmp_path, broker_url, docker_host, image, docker_client) as deployment:
        yield deployment


@pytest.fixture(scope="module")
def shared_docker_deployment(tmp_path_factory: pytest.TempPathFactory, valkey_url: str,
                             docker_host: str, image: str,
                             docker_client: object) -> Iterator[Deployment]:
    """One Docker deployment for the tests of a module that only launch runs (a deployment
    and its first code-server container take ~10 s to start)."""
    client = redis.Redis.from_url(valkey_url)
    client.flushall()
    client.close()
    with docker_deployed(tmp_path_factory.mktemp("docker"), valkey_url, docker_host, image,
                         docker_client) as deployment:
        yield deployment
