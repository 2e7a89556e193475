"""The fence: what the agent API may still add to a run attempt.

An attempt that is not the run's current one (superseded by a retry, or never created)
accepts nothing. The current attempt accepts everything until the run ends. Once it has
ended, its history is closed, except for what its own run worker produced before the end and
is still on its way: the agent's uploaders send events, compute logs and results from
separate streams, in separate batches, and a run's final events and last output routinely
arrive after the batch that carried its end.

- Events. The run worker numbers its events (``seq``) and writes its terminal event
  (RUN_SUCCESS or RUN_FAILURE) last. When the attempt's highest stored event is that
  terminal event, events numbered up to it are accepted however late they come (they were
  written before the end: nothing can be appended after it), and every event numbered after
  it is refused. When the control plane ended the run itself (the worker crashed or was
  killed, the launch failed, a cancel or the run monitor ended it), there is no such number:
  events are accepted for ``grace`` seconds after the end, then refused.
- Compute logs are numbered per stream, apart from the events, and a worker's last output is
  sent after its end event: they are accepted for ``grace`` seconds after the end.
- Results (launched, terminating, exited) likewise, for ``grace`` seconds.

"After the end" is on the control plane's clock: the time the run's row last changed, which
for an ended run is when the end was stored (or a late event of its own worker, written
before the end, updated its step counts).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ._schema import events

# the run worker's own terminal events; the control plane's RUN_FAILURE has no seq
_WORKER_ENDS = frozenset({"RUN_SUCCESS", "RUN_FAILURE"})


@dataclass(frozen=True, slots=True)
class Fence:
    """What an ended attempt still accepts, decided once per batch and run."""

    # the seq of the worker's terminal event; None when the control plane ended the run
    last_seq: int | None
    # whether the grace period after the end is over
    closed: bool

    def accepts_event(self, seq: int) -> bool:
        if self.last_seq is not None:
            return seq <= self.last_seq
        return not self.closed


def grace_over(ended_at: float, now: float, grace: float) -> bool:
    """Whether an attempt that ended at ``ended_at`` is closed to its compute logs and
    results (and, when the control plane ended it, to its events)."""
    return now > ended_at + grace


def fence_of(conn: Connection, run_id: str, attempt: int, *, closed: bool) -> Fence:
    """The fence of an ended attempt: one lookup of its highest numbered event, through the
    (run_id, attempt, seq) unique index."""
    row = conn.execute(
        sa.select(events.c.seq, events.c.type)
        .where(events.c.run_id == run_id, events.c.attempt == attempt,
               events.c.seq.is_not(None))
        .order_by(events.c.seq.desc())
        .limit(1)
    ).one_or_none()
    last_seq = row.seq if row is not None and row.type in _WORKER_ENDS else None
    return Fence(last_seq=last_seq, closed=closed)
