"""What the Docker agent shares: the Engine client, container labels, limits and the env a
container gets.

Every container the agent starts runs with the host's network (the gRPC port of a code
server and the broker on loopback are reachable; nothing is published) and is labelled, so a
restarted supervisor or launcher finds its containers again:

    tether.agent        the agent id
    tether.role         "code-server" or "run"
    tether.location     the code location
    tether.generation   a code server's deploy generation
    tether.run_id       a run container's run, and tether.attempt its attempt

The ``docker`` SDK is blocking (HTTP over the Engine's socket): every call goes to a thread.
Its errors are translated here into :class:`~tether.errors.ContainerError`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import ContainerError
from ..wire import LocationSpec

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

T = TypeVar("T")

LABEL_AGENT = "tether.agent"
LABEL_ROLE = "tether.role"
LABEL_LOCATION = "tether.location"
LABEL_GENERATION = "tether.generation"
LABEL_RUN = "tether.run_id"
LABEL_ATTEMPT = "tether.attempt"
ROLE_CODE_SERVER = "code-server"
ROLE_RUN = "run"

# run tags that set a run container's limits
CPU_TAG = "tether/cpu"
MEMORY_TAG = "tether/memory"
# the interpreter in the image when the location names none
IMAGE_PYTHON = "python3"
# lines of a container's log that explain its death
LOG_TAIL_LINES = 40

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?)?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4,
          "ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4}


def connect(docker_host: str = "") -> docker.DockerClient:
    """A client of the Docker Engine at ``docker_host`` (empty: ``DOCKER_HOST``, else the
    local socket); ContainerError if the Engine does not answer."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError as exc:
        raise ContainerError("the Docker agent needs the docker package: "
                             "pip install 'tether[docker]'") from exc
    try:
        client = (docker.DockerClient(base_url=docker_host) if docker_host
                  else docker.from_env())
        client.ping()
    except DockerException as exc:
        where = docker_host or "DOCKER_HOST or the local socket"
        raise ContainerError(f"cannot reach the Docker Engine at {where}: {exc}") from exc
    return client


async def call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``function(*args, **kwargs)`` in a thread, Docker errors translated."""
    return await asyncio.to_thread(translated, function, *args, **kwargs)


def translated(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    from docker.errors import DockerException
    from requests import RequestException

    try:
        return function(*args, **kwargs)
    except (DockerException, RequestException) as exc:
        raise ContainerError(f"Docker Engine: {exc}") from exc


def pull_missing(client: docker.DockerClient, image: str) -> None:
    """Pull ``image`` unless the Engine has it; ContainerError saying both if neither works."""
    from docker.errors import DockerException, ImageNotFound

    try:
        client.images.get(image)
        return
    except ImageNotFound:
        pass
    try:
        client.images.pull(image)
    except DockerException as exc:
        raise ContainerError(f"image {image!r} is not on this Docker Engine and cannot be "
                             f"pulled: {getattr(exc, 'explanation', None) or exc}") from exc


def image_of(spec: LocationSpec) -> str:
    if not spec.image:
        raise ContainerError(
            f"code location {spec.name!r} runs in Docker containers but has no image: deploy "
            "it with `tether location deploy NAME --image IMAGE ...` (or `image` in "
            "workspace.toml)")
    return spec.image


def limits(tags: Mapping[str, str]) -> dict[str, int]:
    """The container limits the run's tags ask for: ``tether/cpu`` in CPUs (``0.5``, ``2``)
    and ``tether/memory`` in bytes with an optional unit (``512Mi``, ``1G``)."""
    found: dict[str, int] = {}
    cpu = tags.get(CPU_TAG)
    if cpu is not None:
        try:
            cpus = float(cpu)
        except ValueError:
            cpus = -1.0
        if not 0 < cpus <= 1024:
            raise ContainerError(f"tag {CPU_TAG}={cpu!r}: give a number of CPUs, e.g. 0.5 or 2")
        found["nano_cpus"] = int(cpus * 1e9)
    memory = tags.get(MEMORY_TAG)
    if memory is not None:
        match = _MEMORY.match(memory)
        if match is None or float(match.group(1)) <= 0:
            raise ContainerError(f"tag {MEMORY_TAG}={memory!r}: give a size, e.g. 512Mi or 2G")
        unit = (match.group(2) or "").lower()
        found["mem_limit"] = int(float(match.group(1)) * _UNITS[unit])
    return found


def exit_reason(container: Container, exit_code: int) -> str:
    """Why a container ended, as its state tells (out of memory, killed)."""
    state = container.attrs.get("State", {})
    if state.get("OOMKilled"):
        return f"container {container.name} ran out of memory (killed, exit code {exit_code})"
    if exit_code == 137:
        return f"container {container.name} was killed (SIGKILL, exit code 137)"
    if exit_code > 128:
        return f"container {container.name} ended by signal {exit_code - 128}"
    return f"container {container.name} exited with code {exit_code}"


def log_tail(container: Container, lines: int = LOG_TAIL_LINES) -> str:
    raw = container.logs(stdout=True, stderr=True, tail=lines)
    return bytes(raw).decode(errors="replace").rstrip()
