"""Launch targets: where a run worker lives (a child process, a zygote's fork, an RQ job).

The launcher holds the launch guard, fences redeliveries and reports; a target only starts
run workers, cancels those the launcher does not watch itself, and tells which ended
unseen. Every target has the same small interface, so Docker or Kubernetes add a module,
not a branch in the launcher:

- :meth:`LaunchTarget.start` starts the attempt's run worker and names it (the guard's
  holder), with a :class:`RunHandle` when this launcher can watch it end;
- :meth:`LaunchTarget.cancel` stops a run worker this launcher does not watch (another
  launcher copy's on this host, an RQ job);
- :meth:`LaunchTarget.ended_unreported` gives the exits, with their last output, of run
  workers no launcher watched end (RQ jobs), polled every ``check_interval`` seconds;
- a :class:`RunHandle` says whether its run worker is alive, waits for its exit, gives its
  last output and stops it.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from redis.exceptions import RedisError

from ..errors import BrokerUnavailable
from ..wire import LaunchHolder, LaunchRun, RunWorkerExited, StartedHolder

T = TypeVar("T")

# the most of a run worker's last output that its exit report carries
LAST_OUTPUT_CHARS = 4000


class RunHandle(Protocol):
    """A run worker this launcher started and watches until it exits."""

    @property
    def pid(self) -> int: ...

    def alive(self) -> bool: ...

    async def wait(self) -> int:
        """Its exit code, once it has exited."""
        ...

    async def last_output(self) -> str:
        """The end of its stderr, after it has exited: explains a run worker that died."""
        ...

    async def stop(self, grace: float) -> object:
        """SIGTERM it, SIGKILL it after ``grace`` seconds."""
        ...


@dataclass(frozen=True)
class Started:
    # what the launch guard records, and the launch report names
    holder: StartedHolder
    # None: its exit is found by ended_unreported instead
    run: RunHandle | None = None


@dataclass(frozen=True)
class Cancel:
    # whether a run worker was found running (the terminate report says so)
    found: bool
    # the grace period of its stop, which the launcher runs in the background
    stopping: Awaitable[object] | None = None


class LaunchTarget(Protocol):
    # seconds between ended_unreported checks; None: every exit is watched by its launcher
    check_interval: float | None

    async def start(self, launch: LaunchRun, traceparent: str) -> Started:
        """Start the attempt's run worker. OSError: it could not start (the launch fails);
        BrokerUnavailable: try again later."""
        ...

    def adopt(self, pid: int, launch: LaunchRun) -> StartedHolder | None:
        """The holder of ``launch``'s run worker ``pid``, found holding the attempt (its
        executing key) although no launcher recorded it: the launcher that started it died
        before recording it. None if such a worker is not this target's to record."""
        ...

    async def cancel(self, run_id: str, attempt: int, holder: LaunchHolder | None) -> Cancel:
        """Stop the attempt's run worker that ``holder`` names, unless it is gone."""
        ...

    async def ended_unreported(self) -> list[RunWorkerExited]: ...

    async def close(self) -> None: ...


async def redis_call(call: Awaitable[T]) -> T:
    """``call``'s result, Redis errors translated: the broker is away."""
    try:
        return await call
    except RedisError as exc:
        raise BrokerUnavailable(f"launcher cannot reach the broker: {exc}") from exc
