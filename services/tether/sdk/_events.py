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

    ``current_step`` is the step executing now (set by the executor, None between steps); an
    event's ``step_key`` defaults to it, and the run worker reads it to attribute captured
    stdout/stderr to a step. The sink is called under the lock, so it sees events in ``seq``
    order even when ops log from several threads.
    """

    __slots__ = ("_lock", "_seq", "attempt", "current_step", "run_id", "sink")

    def __init__(self, *, run_id: str, attempt: int, sink: Callable[[RunEvent], None]) -> None:
        self.run_id = run_id
        self.attempt = attempt
        self.sink = sink
        self.current_step: str | None = None
        self._seq = 0
        self._lock = threading.Lock()

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
