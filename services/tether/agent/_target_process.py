"""The process launch target: every run worker starts cold, as a child process of the
launcher (``tether api execute-run``), as the run user if one is set."""

from __future__ import annotations

import sys
from collections.abc import Mapping

import msgspec

from ..wire import LaunchHolder, LaunchRun, RunWorkerExited, StartedHolder, StartedProcess
from ._processes import (
    OutputTail,
    RunProcess,
    RunUser,
    child_environment,
    runs_on_this_host,
    spawn,
    terminate_foreign_group,
    terminate_group,
)
from ._targets import LAST_OUTPUT_CHARS, Cancel, Started


class LocalRun:
    """A run worker process on this host (a child, or a zygote's fork) and its stderr."""

    def __init__(self, process: RunProcess, stderr: OutputTail) -> None:
        self.process = process
        self.stderr = stderr

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.returncode is None

    async def wait(self) -> int:
        return await self.process.wait()

    async def last_output(self) -> str:
        return (await self.stderr.text())[-LAST_OUTPUT_CHARS:]

    async def stop(self, grace: float) -> int:
        return await terminate_group(self.process, grace)


def cancel_local(holder: LaunchHolder | None, agent_id: str, run_id: str,
                 grace: float) -> Cancel:
    """Stop the run worker another launcher copy of this agent started on this host."""
    match holder:
        case StartedProcess(agent_id=holder_agent, pid=pid) if (
                holder_agent == agent_id and runs_on_this_host(pid, run_id)):
            return Cancel(found=True, stopping=terminate_foreign_group(pid, grace))
    return Cancel(found=False)


class ProcessTarget:
    check_interval: float | None = None

    def __init__(self, *, agent_id: str, redis_url: str, base_env: Mapping[str, str],
                 terminate_grace: float, run_user: RunUser | None = None,
                 storage_dir: str = "") -> None:
        self.agent_id = agent_id
        # the broker URL run workers write their output with (a restricted user's)
        self.redis_url = redis_url
        self.base_env = base_env
        self.terminate_grace = terminate_grace
        # the OS user run workers run as (None: the launcher's own)
        self.run_user = run_user
        # where run workers store step outputs (the default IO manager's folder; "": theirs)
        self.storage_dir = storage_dir

    async def start(self, launch: LaunchRun, traceparent: str) -> Started:
        env = child_environment(self.base_env, {
            **launch.location.env, "TETHER_REDIS_URL": self.redis_url,
            "TRACEPARENT": traceparent,
            **({"TETHER_STORAGE_DIR": self.storage_dir} if self.storage_dir else {}),
        }, self.run_user)
        process, stderr = await self._start(launch, env, traceparent,
                                            prefix=f"[run {launch.run_id[:8]}] ")
        return Started(StartedProcess(self.agent_id, process.pid), LocalRun(process, stderr))

    async def _start(self, launch: LaunchRun, env: dict[str, str], traceparent: str,
                     prefix: str) -> tuple[RunProcess, OutputTail]:
        # the location's env is set in the process environment; argv is visible to every
        # local user, so it carries the launch without it
        public = msgspec.structs.replace(
            launch, location=msgspec.structs.replace(launch.location, env={}))
        argv = [
            launch.location.python or sys.executable,
            "-m", "tether", "api", "execute-run",
            "--launch-json", msgspec.json.encode(public).decode(),
        ]
        return await spawn(argv, env=env, cwd=launch.location.working_directory,
                           prefix=prefix, run_user=self.run_user)

    def adopt(self, pid: int, launch: LaunchRun) -> StartedHolder | None:
        return StartedProcess(self.agent_id, pid)

    async def cancel(self, run_id: str, attempt: int, holder: LaunchHolder | None) -> Cancel:
        return cancel_local(holder, self.agent_id, run_id, self.terminate_grace)

    async def ended_unreported(self) -> list[RunWorkerExited]:
        # every run worker is a child of its launcher, which watches it exit
        return []

    async def close(self) -> None:
        pass
