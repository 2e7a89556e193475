"""A step of a limited concurrency pool waits for its slot before it starts.

The control plane grants slots (``tether.control_plane.storage._pools``): the step says it
wants one with STEP_SLOT_REQUESTED, and asks ``granted`` until the answer is yes. The slot
is the control plane's to free, when the step's last event (or its run's end) reaches it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

from ..wire import StepSlotRequested
from ._events import RunEmitter
from ._parallel import pause

# between two asks whether the slot was granted
_POLL_SECONDS = 0.1


class PoolSlots(NamedTuple):
    """The run's pool limits (only the pools the control plane limits) and whether the step
    with the given key has been granted its slot."""

    limits: Mapping[str, int]
    granted: Callable[[str], bool]


def wait_for_slot(slots: PoolSlots, pool: str, step_key: str, emitter: RunEmitter) -> None:
    """Announce that ``step_key`` waits for a slot of ``pool`` and wait until it is granted
    (a cancel interrupts the wait like a step)."""
    emitter.emit(StepSlotRequested, pool=pool, limit=slots.limits[pool], step_key=step_key)
    while not slots.granted(step_key):
        pause(_POLL_SECONDS)
