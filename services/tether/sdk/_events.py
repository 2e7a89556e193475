"""``RunEmitter``: numbers and stamps the events of one run attempt and hands them to a sink."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ..wire import RunEvent

_E = TypeVar("_E", bound=RunEvent)


class RunEmitter:
    """Builds run events with ``seq`` 1, 2, 3 ..., the time, the run id and the attempt.

    ``current_step`` is the step the calling thread executes (set by the executor, None
    between steps); a thread that runs no step (an op's own helper thread, the output capture)
    sees the step running when only one is. An event's ``step_key`` defaults to it, and the
    run worker reads it to attribute captured stdout/stderr to a step. The sink is called under
    the lock, so it sees events in ``seq`` order even when steps run in several threads.
    """

    __slots__ = ("_local", "_lock", "_running", "_seq", "attempt", "run_id", "sink")

    def __init__(self, *, run_id: str, attempt: int, sink: Callable[[RunEvent], None]) -> None:
        self.run_id = run_id
        self.attempt = attempt
        self.sink = sink
        self._seq = 0
        self._lock = threading.Lock()
        # per thread, so steps running side by side each see their own
        self._local = threading.local()
        # thread id -> the step it runs
        self._running: dict[int, str] = {}

    @property
    def current_step(self) -> str | None:
        step: str | None = getattr(self._local, "step", None)
        if step is None and len(self._running) == 1:
            # copied first: another thread may change the dict meanwhile
            step = next(iter(dict(self._running).values()), None)
        return step

    @current_step.setter
    def current_step(self, step: str | None) -> None:
        self._local.step = step
        if step is None:
            self._running.pop(threading.get_ident(), None)
        else:
            self._running[threading.get_ident()] = step

    def own_step(self) -> str | None:
        """The step the calling thread executes, with no fallback (None outside steps)."""
        return getattr(self._local, "step", None)

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the last event emitted (0 before the first)."""
        return self._seq

    def emit(self, kind: type[_E], /, **fields: Any) -> _E:
        """Build an event of type ``kind`` from ``fields``, stamp it, and send it to the sink."""
        fields.setdefault("step_key", self.current_step)
        with self._lock:
            self._seq += 1
            event = kind(
                run_id=self.run_id,
                attempt=self.attempt,
                seq=self._seq,
                timestamp=time.time(),
                **fields,
            )
            self.sink(event)
        return event
