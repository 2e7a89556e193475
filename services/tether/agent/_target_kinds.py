"""Launch targets by agent kind: an agent launches each run where its location's
``agent_kind`` says (else where ``TETHER_AGENT_KIND`` does), so one agent can run some
locations on its host and others on Kubernetes."""

from __future__ import annotations

from collections.abc import Mapping

from ..wire import KubernetesJob, LaunchHolder, LaunchRun, RunWorkerExited, StartedHolder
from ._targets import Cancel, LaunchTarget, Started


class TargetsByKind:
    def __init__(self, targets: Mapping[str, LaunchTarget], *, default: str) -> None:
        self.targets = dict(targets)
        self.default = default
        intervals = [t.check_interval for t in self.targets.values()
                     if t.check_interval is not None]
        self.check_interval: float | None = min(intervals) if intervals else None

    def _of(self, launch: LaunchRun) -> LaunchTarget:
        kind = launch.location.agent_kind or self.default
        target = self.targets.get(kind)
        if target is None:
            raise OSError(f"code location {launch.location.name!r} runs on agent kind "
                          f"{kind!r}, which this agent does not offer (it offers "
                          f"{', '.join(sorted(self.targets))}; see TETHER_AGENT_KIND)")
        return target

    def _holding(self, holder: LaunchHolder | None) -> LaunchTarget:
        if isinstance(holder, KubernetesJob) and "kubernetes" in self.targets:
            return self.targets["kubernetes"]
        return self.targets.get("process") or self.targets[self.default]

    async def start(self, launch: LaunchRun, traceparent: str) -> Started:
        return await self._of(launch).start(launch, traceparent)

    def adopt(self, pid: int, launch: LaunchRun) -> StartedHolder | None:
        return self._of(launch).adopt(pid, launch)

    async def cancel(self, run_id: str, attempt: int, holder: LaunchHolder | None) -> Cancel:
        return await self._holding(holder).cancel(run_id, attempt, holder)

    async def ended_unreported(self) -> list[RunWorkerExited]:
        exits = []
        for target in self.targets.values():
            if target.check_interval is not None:
                exits.extend(await target.ended_unreported())
        return exits

    async def close(self) -> None:
        for target in self.targets.values():
            await target.close()
