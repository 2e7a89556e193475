"""A step of a limited concurrency pool waits for its slot: it records STEP_SLOT_REQUESTED
(saying the pool and its limit), starts only once the slot is granted, and a cancel while it
waits records the step canceled. (The granting side, the control plane and the agent, is in
``tests/control_plane/test_pool_slots.py`` and ``tests/test_pools_end_to_end.py``.)"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from types import FrameType

import pytest

from tether import Definitions, job, op
from tether.sdk import PoolSlots, RunEmitter, execute_job
from tether.wire import RunEvent, StepSlotRequested, StepStart, event_type


@op(pool="warehouse")
def load_a() -> int:
    return 1


@op(pool="warehouse")
def load_b() -> int:
    return 2


@op(pool="lake")
def unlimited() -> int:
    return 3


@op
def free() -> int:
    return 4


@job
def pooled() -> None:
    load_a()
    load_b()
    unlimited()
    free()


@job
def one_pooled() -> None:
    load_a()


DEFS = Definitions(jobs=[pooled, one_pooled])


def test_a_pooled_step_starts_once_its_slot_is_granted() -> None:
    granted: set[str] = set()
    events: list[RunEvent] = []

    def sink(event: RunEvent) -> None:
        events.append(event)
        if isinstance(event, StepSlotRequested):
            # the control plane's grant, a moment later
            threading.Timer(0.3, granted.add, [event.step_key]).start()

    ok = execute_job(DEFS, "pooled", emitter=RunEmitter(run_id="r", attempt=1, sink=sink),
                     pool_slots=PoolSlots(limits={"warehouse": 2}, granted=granted.__contains__))
    assert ok
    asked = {e.step_key: e for e in events if isinstance(e, StepSlotRequested)}
    # a pool the control plane does not limit (lake), and a step of no pool, never wait
    assert sorted(asked) == ["load_a", "load_b"]
    assert asked["load_a"].pool == "warehouse" and asked["load_a"].limit == 2
    starts = {e.step_key: e for e in events if isinstance(e, StepStart)}
    for step, request in asked.items():
        assert request.seq < starts[step].seq
        assert starts[step].timestamp - request.timestamp >= 0.25


@pytest.fixture
def interrupt_soon() -> Iterator[None]:
    """A KeyboardInterrupt in the main thread after 0.3 s, as SIGTERM gives a run worker."""
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt("canceled")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_cancel_while_waiting_for_a_slot_cancels_the_step(interrupt_soon: None) -> None:
    events: list[RunEvent] = []
    with pytest.raises(KeyboardInterrupt):
        execute_job(DEFS, "one_pooled",
                    emitter=RunEmitter(run_id="r", attempt=1, sink=events.append),
                    pool_slots=PoolSlots(limits={"warehouse": 1}, granted=lambda step: False),
                    canceled=lambda: True)
    assert [(event_type(e), e.step_key) for e in events] == [
        ("RUN_START", None), ("STEP_SLOT_REQUESTED", "load_a"), ("STEP_CANCELED", "load_a"),
        ("RUN_CANCELED", None)]
