"""The warm launch target: run workers fork from their location's zygote (see
:mod:`._warm`); a launch the warm path cannot serve starts cold, as the process target's."""

from __future__ import annotations

from collections.abc import Mapping

from ..wire import LaunchRun
from ._processes import OutputTail, RunProcess, RunUser
from ._target_process import ProcessTarget
from ._warm import WarmPool


class WarmTarget(ProcessTarget):
    def __init__(self, pool: WarmPool, *, agent_id: str, redis_url: str,
                 base_env: Mapping[str, str], terminate_grace: float,
                 run_user: RunUser | None = None, storage_dir: str = "") -> None:
        super().__init__(agent_id=agent_id, redis_url=redis_url, base_env=base_env,
                         terminate_grace=terminate_grace, run_user=run_user,
                         storage_dir=storage_dir)
        self.pool = pool

    async def _start(self, launch: LaunchRun, env: dict[str, str], traceparent: str,
                     prefix: str) -> tuple[RunProcess, OutputTail]:
        forked = await self.pool.fork(launch, env, traceparent, prefix)
        return forked or await super()._start(launch, env, traceparent, prefix)

    async def close(self) -> None:
        await self.pool.close()
