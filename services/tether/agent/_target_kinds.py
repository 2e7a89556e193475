"""The launch target of each agent kind: a launch goes to the target of its location's
``agent_kind`` (or the agent's own kind), a cancel to the target its holder names.

Targets other than the agent's own are made on first use, so a process agent needs no
Docker Engine until a location asks for containers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from ..errors import ContainerError
from ..wire import LaunchHolder, LaunchRun, RunWorkerExited, StartedContainer, StartedHolder
from ._targets import Cancel, LaunchTarget, Started


class TargetsByKind:
    def __init__(self, default: str, makers: Mapping[str, Callable[[], LaunchTarget]]) -> None:
        self.default = default
        self._makers = dict(makers)
        self._targets: dict[str, LaunchTarget] = {}
        # the agent's own target is made now: its settings' mistakes show at start-up
        own = self.target(default)
        self.check_interval = own.check_interval

    def target(self, kind: str) -> LaunchTarget:
        target = self._targets.get(kind)
        if target is None:
            maker = self._makers.get(kind)
            if maker is None:
                raise ContainerError(f"this agent cannot launch runs of agent kind {kind!r} "
                                     f"(it can: {', '.join(sorted(self._makers))})")
            target = self._targets[kind] = maker()
        return target

    def _of(self, launch: LaunchRun) -> LaunchTarget:
        return self.target(launch.location.agent_kind or self.default)

    async def start(self, launch: LaunchRun, traceparent: str) -> Started:
        return await self._of(launch).start(launch, traceparent)

    def adopt(self, launch: LaunchRun, pid: int) -> StartedHolder | None:
        return self._of(launch).adopt(launch, pid)

    async def cancel(self, run_id: str, attempt: int, holder: LaunchHolder | None) -> Cancel:
        kind = "docker" if isinstance(holder, StartedContainer) else self.default
        try:
            target = self.target(kind)
        except ContainerError:
            # no container of this agent can be running then
            return Cancel(found=False)
        return await target.cancel(run_id, attempt, holder)

    async def ended_unreported(self) -> list[RunWorkerExited]:
        found: list[RunWorkerExited] = []
        for target in list(self._targets.values()):
            found += await target.ended_unreported()
        return found

    async def close(self) -> None:
        await asyncio.gather(*(target.close() for target in self._targets.values()))
