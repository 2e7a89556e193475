"""The launch target of each agent kind: a launch goes to the target of its location's
``agent_kind`` (or the agent's own kind, ``TETHER_AGENT_KIND``), a cancel to the target its
holder names, so one agent can run some locations on its host and others in containers or
on Kubernetes.

Targets other than the agent's own are made on first use, so a process agent needs no
Docker Engine until a location asks for containers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from ..wire import (
    EnqueuedJob,
    KubernetesJob,
    LaunchHolder,
    LaunchRun,
    RunWorkerExited,
    StartedContainer,
    StartedHolder,
    StartedProcess,
)
from ._targets import Cancel, LaunchTarget, Started

# how often the ends of run workers are looked for when the agent's own target needs no
# looking but a target made later (a location's kind) may
LATER_CHECK_INTERVAL = 5.0


class TargetsByKind:
    def __init__(self, default: str, makers: Mapping[str, Callable[[], LaunchTarget]],
                 made: Mapping[str, LaunchTarget] | None = None) -> None:
        """``makers`` make the target of each kind on first use; ``made``: targets made
        already (e.g. "kubernetes", made with the agent's Kubernetes API)."""
        self.default = default
        self._makers = dict(makers)
        self._targets: dict[str, LaunchTarget] = dict(made or {})
        # the agent's own target is made now: its settings' mistakes show at start-up
        self.target(default)
        intervals = [target.check_interval for target in self._targets.values()
                     if target.check_interval is not None]
        if set(self._makers) - set(self._targets):
            intervals.append(LATER_CHECK_INTERVAL)
        self.check_interval: float | None = min(intervals) if intervals else None

    @property
    def kinds(self) -> list[str]:
        return sorted({*self._makers, *self._targets})

    def target(self, kind: str) -> LaunchTarget:
        target = self._targets.get(kind)
        if target is None:
            maker = self._makers.get(kind)
            if maker is None:
                raise OSError(f"this agent does not offer agent kind {kind!r} (it offers "
                              f"{', '.join(self.kinds)}; see TETHER_AGENT_KIND)")
            target = self._targets[kind] = maker()
        return target

    def _of(self, launch: LaunchRun) -> LaunchTarget:
        kind = launch.location.agent_kind or self.default
        if kind not in self.kinds:
            raise OSError(f"code location {launch.location.name!r} runs on agent kind "
                          f"{kind!r}, which this agent does not offer (it offers "
                          f"{', '.join(self.kinds)}; see TETHER_AGENT_KIND)")
        return self.target(kind)

    async def start(self, launch: LaunchRun, traceparent: str) -> Started:
        return await self._of(launch).start(launch, traceparent)

    def adopt(self, launch: LaunchRun, pid: int) -> StartedHolder | None:
        return self._of(launch).adopt(launch, pid)

    async def cancel(self, run_id: str, attempt: int, holder: LaunchHolder | None) -> Cancel:
        match holder:
            case StartedContainer():
                kind = "docker"
            case KubernetesJob():
                kind = "kubernetes"
            case StartedProcess() | EnqueuedJob():
                kind = "process"
            case _:
                kind = self.default
        if kind not in self.kinds:
            # no run worker of this agent can be running there then
            return Cancel(found=False)
        return await self.target(kind).cancel(run_id, attempt, holder)

    async def ended_unreported(self) -> list[RunWorkerExited]:
        found: list[RunWorkerExited] = []
        for target in list(self._targets.values()):
            if target.check_interval is not None:
                found += await target.ended_unreported()
        return found

    async def close(self) -> None:
        await asyncio.gather(*(target.close() for target in self._targets.values()))
