"""Code servers in Docker containers: one container per location and deploy, from the
location's image, on the host's network (the gRPC port listens on loopback, as a process
server's does).

A container outlives the supervisor that started it, like a process server. Its labels
(agent, location, generation) and its record in the agent's broker (with its container id)
let the next supervisor on the host adopt it; its output is copied into the server's log
file by a thread following the container's log, so the supervisor's :class:`LogFollower`
reads it as it reads a process server's. A container removes itself once it ends
(``auto_remove``); its last output stays in the log file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from .._net import free_port
from ..codeserver import CodeServerClient, code_server_command
from ..errors import CodeServerError, ContainerError
from ..wire import CodeServerRecord, LocationSpec
from . import _docker
from ._processes import PASSED_SETTINGS

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

    from ._code_servers import CodeServer

log = logging.getLogger(__name__)


class ContainerProcess:
    """A code-server container as the supervisor watches it: the interface of the child
    process a process server has (``pid``, ``returncode``, ``wait``)."""

    def __init__(self, container: Container, waiters: ThreadPoolExecutor) -> None:
        self.container = container
        self.pid = int(container.attrs.get("State", {}).get("Pid") or 0)
        self.returncode: int | None = None
        self._waiters = waiters
        self._waiting: asyncio.Future[int] | None = None

    async def wait(self) -> int:
        if self._waiting is None:
            self._waiting = asyncio.ensure_future(self._wait())
        return await asyncio.shield(self._waiting)

    async def _wait(self) -> int:
        loop = asyncio.get_running_loop()
        try:
            status = await loop.run_in_executor(self._waiters, _docker.translated,
                                                self.container.wait)
            code = int(status.get("StatusCode", -1))
        except ContainerError:
            # removed (auto_remove) before the wait began: it has ended
            code = -1
        self.returncode = code
        return code


class CodeServerContainers:
    """Starts, follows and stops the code-server containers of one supervisor; the Docker
    Engine is reached on first use only."""

    def __init__(self, *, docker_host: str = "", agent_id: str = "",
                 base_env: dict[str, str] | None = None) -> None:
        self.docker_host = docker_host
        self.agent_id = agent_id
        self.passed = {k: v for k, v in (base_env or {}).items() if k in PASSED_SETTINGS}
        self._client: docker.DockerClient | None = None
        self._waiters = ThreadPoolExecutor(max_workers=64,
                                           thread_name_prefix="code-server-container")

    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = _docker.connect(self.docker_host)
        return self._client

    async def spawn(self, spec: LocationSpec, *, generation: int, host: str, hostname: str,
                    log_dir: Path) -> CodeServer:
        """Start a container serving ``spec`` (not waiting for it to answer)."""
        from ._code_servers import CodeServer, LogFollower

        try:
            image = _docker.image_of(spec)
        except ContainerError as exc:
            raise CodeServerError(str(exc)) from exc
        port = free_port(host)
        log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        log_path = log_dir / f"{spec.name}-{generation}-{port}.log"
        log_path.touch(mode=0o600)
        # the env is in the container's config; its command line shows on the host
        argv = code_server_command(msgspec.structs.replace(spec, env={}), port,
                                   spec.python or _docker.IMAGE_PYTHON)
        labels = {_docker.LABEL_AGENT: self.agent_id,
                  _docker.LABEL_ROLE: _docker.ROLE_CODE_SERVER,
                  _docker.LABEL_LOCATION: spec.name,
                  _docker.LABEL_GENERATION: str(generation)}
        try:
            container = await _docker.call(
                self._run, name=f"tether-code-{spec.name}-{generation}-{port}", image=image,
                command=argv, environment={**self.passed, **spec.env, "PYTHONUNBUFFERED": "1"},
                labels=labels, working_dir=spec.working_directory)
        except ContainerError as exc:
            raise CodeServerError(
                f"cannot start the code server of {spec.name} from image {image!r}: {exc}"
            ) from exc
        process = ContainerProcess(container, self._waiters)
        self._copy_log(container, log_path, since=None)
        record = CodeServerRecord(location=spec.name, generation=generation, pid=process.pid,
                                  address=f"{host}:{port}", host=hostname,
                                  log_path=str(log_path), started_at=time.time(),
                                  container_id=container.id or "")
        log.info("code server of %s runs in container %s (image %s)", spec.name,
                 (container.id or "")[:12], image)
        return CodeServer(record=record, client=CodeServerClient(record.address),
                          log=LogFollower(log_path, prefix=f"[code-server {spec.name}] "),
                          child=process, containers=self)

    def _run(self, **options: Any) -> Container:
        client = self.client()
        _docker.pull_missing(client, options["image"])
        container: Container = client.containers.run(
            detach=True, network_mode="host", init=True, auto_remove=True, **options)
        # its state as started: the host pid of its init, which the record keeps (a
        # supervisor that adopts it finds it running by that pid, like a process server)
        container.reload()
        return container

    async def adopted(self, server: CodeServer) -> None:
        """Watch a server adopted from a supervisor that died: its container's state, and
        its output from now on."""
        try:
            container = await _docker.call(self.client().containers.get,
                                           server.record.container_id)
        except ContainerError as exc:
            log.warning("adopted code server of %s: %s", server.name, exc)
            return
        server.child = ContainerProcess(container, self._waiters)
        server.containers = self
        self._copy_log(container, Path(server.record.log_path), since=int(time.time()))

    def _copy_log(self, container: Container, path: Path, since: int | None) -> None:
        """Append the container's output to ``path`` in a thread, until it ends."""
        def copy() -> None:
            with contextlib.suppress(Exception), path.open("ab") as file:
                for chunk in container.logs(stream=True, follow=True, since=since):
                    file.write(chunk)
                    file.flush()

        threading.Thread(target=copy, name=f"log-{container.name}", daemon=True).start()

    async def stop(self, container_id: str, grace: float) -> None:
        """``docker stop`` (SIGTERM, SIGKILL after ``grace``); it removes itself."""
        try:
            await _docker.call(self.client().api.stop, container_id, timeout=math.ceil(grace))
        except ContainerError as exc:
            log.debug("stopping container %s: %s", container_id[:12], exc)

    async def running(self, container_id: str) -> bool:
        try:
            container = await _docker.call(self.client().containers.get, container_id)
        except ContainerError:
            return False
        return container.status in ("created", "running", "restarting")

    def close(self) -> None:
        self._waiters.shutdown(wait=False, cancel_futures=True)
        if self._client is not None:
            self._client.close()
