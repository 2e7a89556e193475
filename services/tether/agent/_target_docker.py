"""The Docker launch target: each run attempt is a container from its location's image,
running ``tether api execute-run`` as the process target's child would.

What the container gets (and so all that user code in it can reach): its image's file
system, the location's env, the run workers' restricted broker URL (append to the outbound
streams, claim its attempt, nothing else: :mod:`tether.broker._acl`), ``TRACEPARENT``, the
run storage folder (bind-mounted at the same path) and the host's network. It gets no agent
token, no other setting of the agent, no view of the agent's processes (its own PID
namespace) or files. Its limits come from the run's tags ``tether/cpu`` and
``tether/memory``. A cancel is ``docker stop`` with the terminate grace period; a container
that ends without its run's outcome is reported with its exit code, why it ended (killed,
out of memory) and the last lines of its log, by the launcher that watches it or, if that
launcher died, by the next check of any launcher of the agent.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import math
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import msgspec

from ..errors import ContainerError
from ..wire import (
    LaunchHolder,
    LaunchRun,
    RunWorkerExited,
    StartedContainer,
    StartedHolder,
)
from . import _docker
from ._processes import PASSED_SETTINGS
from ._targets import LAST_OUTPUT_CHARS, Cancel, Started

if TYPE_CHECKING:
    import docker
    from docker.models.containers import Container

log = logging.getLogger(__name__)

# threads that wait for run containers to end (one per running container)
MAX_WATCHED = 256
# a run container that ended this long ago and is still there was watched by no launcher (its
# launcher died): its exit is reported by the next check (a watching launcher removes its
# containers within moments of their end)
UNWATCHED_AFTER = 10.0


def container_name(run_id: str, attempt: int) -> str:
    """One name per attempt: a redelivered launch finds the container already there."""
    return f"tether-run-{run_id}-{attempt}"


class ContainerRun:
    """A run container this launcher started (or found for its attempt) and watches."""

    def __init__(self, container: Container, waiters: ThreadPoolExecutor) -> None:
        self.container = container
        self._waiters = waiters
        self._exit_code: int | None = None

    @property
    def pid(self) -> int:
        # its init process as the host sees it (0 once it has ended)
        return int(self.container.attrs.get("State", {}).get("Pid") or 0)

    def alive(self) -> bool:
        return self._exit_code is None

    async def wait(self) -> int:
        loop = asyncio.get_running_loop()
        while True:
            try:
                status = await loop.run_in_executor(self._waiters, _docker.translated,
                                                    self.container.wait)
                break
            except ContainerError as exc:
                # the Engine restarted or the wait timed out: the container may still run
                log.warning("waiting for %s: %s", self.container.name, exc)
                await asyncio.sleep(1.0)
        self._exit_code = int(status.get("StatusCode", -1))
        return self._exit_code

    async def last_output(self) -> str:
        """Why it ended and the end of its log; the container is removed afterwards."""
        try:
            await _docker.call(self.container.reload)
            reason = _docker.exit_reason(self.container, self._exit_code or 0)
            tail = await _docker.call(_docker.log_tail, self.container)
        except ContainerError as exc:
            return f"container {self.container.name}: {exc}"
        finally:
            await self.remove()
        return f"{reason}; the end of its output:\n{tail}"[-LAST_OUTPUT_CHARS:]

    async def stop(self, grace: float) -> object:
        """``docker stop``: SIGTERM, SIGKILL after ``grace`` seconds."""
        try:
            await _docker.call(self.container.stop, timeout=math.ceil(grace))
        except ContainerError as exc:
            log.warning("stopping %s: %s", self.container.name, exc)
        return None

    async def remove(self) -> None:
        try:
            await _docker.call(self.container.remove, force=True)
        except ContainerError as exc:
            log.debug("removing %s: %s", self.container.name, exc)


class DockerTarget:
    # how often run containers that ended unwatched are looked for
    check_interval: float | None = 5.0

    def __init__(self, client: docker.DockerClient, *, agent_id: str, redis_url: str,
                 base_env: Mapping[str, str], terminate_grace: float,
                 storage_dir: str = "") -> None:
        self.client = client
        self.agent_id = agent_id
        # the broker URL run workers write their output with (the restricted user's)
        self.redis_url = redis_url
        self.passed = {k: v for k, v in base_env.items() if k in PASSED_SETTINGS}
        self.terminate_grace = terminate_grace
        self.storage_dir = storage_dir
        self._waiters = ThreadPoolExecutor(max_workers=MAX_WATCHED,
                                           thread_name_prefix="docker-wait")

    async def start(self, launch: LaunchRun, traceparent: str) -> Started:
        location = launch.location
        image = _docker.image_of(location)
        limits = _docker.limits(launch.tags)
        env = {**self.passed, **location.env, "TETHER_REDIS_URL": self.redis_url,
               "TRACEPARENT": traceparent, "PYTHONUNBUFFERED": "1",
               **({"TETHER_STORAGE_DIR": self.storage_dir} if self.storage_dir else {})}
        # the env goes in the container's config, not its command line
        public = msgspec.structs.replace(
            launch, location=msgspec.structs.replace(location, env={}))
        command = [location.python or _docker.IMAGE_PYTHON, "-m", "tether", "api",
                   "execute-run", "--launch-json", msgspec.json.encode(public).decode()]
        name = container_name(launch.run_id, launch.attempt)
        labels = {_docker.LABEL_AGENT: self.agent_id, _docker.LABEL_ROLE: _docker.ROLE_RUN,
                  _docker.LABEL_LOCATION: location.name, _docker.LABEL_RUN: launch.run_id,
                  _docker.LABEL_ATTEMPT: str(launch.attempt)}
        volumes = ({self.storage_dir: {"bind": self.storage_dir, "mode": "rw"}}
                   if self.storage_dir else {})
        container = await _docker.call(self._create_and_start, name, image=image,
                                       command=command, environment=env, labels=labels,
                                       volumes=volumes, working_dir=location.working_directory,
                                       **limits)
        return Started(StartedContainer(self.agent_id, container.id or name),
                       ContainerRun(container, self._waiters))

    def _create_and_start(self, name: str, **options: Any) -> Container:
        from docker.errors import APIError, NotFound

        _docker.pull_missing(self.client, options["image"])
        try:
            container = self.client.containers.create(
                name=name, detach=True, network_mode="host", init=True, **options)
        except APIError as exc:
            if exc.status_code != 409:
                raise
            # a redelivered launch whose container a launcher that died had created
            log.info("container %s exists already: watching it", name)
            container = self.client.containers.get(name)
            if container.status != "created":
                return container
        try:
            container.start()
        except NotFound as exc:
            # its image or working directory is not there
            container.remove(force=True)
            raise ContainerError(f"container {name} cannot start: {exc.explanation}") from exc
        container.reload()
        return container

    def adopt(self, launch: LaunchRun, pid: int) -> StartedHolder | None:
        # the attempt's container has a fixed name: the redelivered launch finds it
        return None

    async def cancel(self, run_id: str, attempt: int, holder: LaunchHolder | None) -> Cancel:
        """Stop the attempt's container that another launcher copy started."""
        from docker.errors import NotFound

        if not (isinstance(holder, StartedContainer) and holder.agent_id == self.agent_id):
            return Cancel(found=False)
        try:
            container = await _docker.call(self.client.containers.get, holder.container_id)
        except ContainerError as exc:
            if isinstance(exc.__cause__, NotFound):
                return Cancel(found=False)
            raise
        if container.status not in ("created", "running", "restarting", "paused"):
            return Cancel(found=False)
        run = ContainerRun(container, self._waiters)
        return Cancel(found=True, stopping=run.stop(self.terminate_grace))

    async def ended_unreported(self) -> list[RunWorkerExited]:
        """The exits of this agent's run containers that ended unwatched (their launcher
        died), each reported once: the container is removed."""
        try:
            return await _docker.call(self._ended_unwatched)
        except ContainerError as exc:
            log.warning("cannot look for run containers that ended unwatched: %s", exc)
            return []

    def _ended_unwatched(self) -> list[RunWorkerExited]:
        found = []
        containers = self.client.containers.list(all=True, ignore_removed=True, filters={
            "label": [f"{_docker.LABEL_AGENT}={self.agent_id}",
                      f"{_docker.LABEL_ROLE}={_docker.ROLE_RUN}"],
            "status": "exited"})
        now = datetime.datetime.now(datetime.UTC)
        for container in containers:
            state = container.attrs.get("State", {})
            if now - _timestamp(state.get("FinishedAt", "")) < datetime.timedelta(
                    seconds=UNWATCHED_AFTER):
                continue
            code = int(state.get("ExitCode", -1))
            tail = (f"{_docker.exit_reason(container, code)} (no launcher watched it); the "
                    f"end of its output:\n{_docker.log_tail(container)}")
            container.remove(force=True)
            found.append(RunWorkerExited(
                run_id=container.labels[_docker.LABEL_RUN],
                attempt=int(container.labels[_docker.LABEL_ATTEMPT]), exit_code=code,
                stderr_tail=tail[-LAST_OUTPUT_CHARS:]))
        return found

    async def close(self) -> None:
        self._waiters.shutdown(wait=False, cancel_futures=True)
        await asyncio.to_thread(self.client.close)


def _timestamp(text: str) -> datetime.datetime:
    """A Docker state time (RFC 3339 with nanoseconds); the epoch if it cannot be read."""
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?", text)
    if match is None:
        return datetime.datetime.fromtimestamp(0, datetime.UTC)
    fraction = (match.group(2) or ".0")[:7]
    return datetime.datetime.fromisoformat(f"{match.group(1)}{fraction}+00:00")
