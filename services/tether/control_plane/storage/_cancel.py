"""Canceling a run: at once when no agent has claimed it yet, or by asking the agent that did
to stop it (CANCELING until its run worker ends). A user's cancel and a backfill's both come
here."""

from __future__ import annotations

from sqlalchemy.engine import Connection

from tether.wire import TerminateRun

from . import _locations, _runs, _work
from ._projection import RUN_CANCELED, RUN_CANCELING, Fact, RunStatus
from ._records import WorkStatus


def cancel_run(conn: Connection, run: _runs.LockedRun, *, now: float,
               traceparent: str = "") -> None:
    """Cancel ``run`` (locked, not ended); a run CANCELING already is left as it is."""
    if run.projection.status is RunStatus.CANCELING:
        return
    launch = _work.launch_of(conn, run.run_id)
    if launch is None or launch[1] == WorkStatus.PENDING:
        _work.cancel_pending(conn, [launch[0]] if launch else [], now)
        _runs.record_control_event(conn, run, Fact(type=RUN_CANCELED, timestamp=now),
                                   "Canceled before any agent claimed it", now)
        return
    _runs.record_control_event(
        conn, run, Fact(type=RUN_CANCELING, timestamp=now),
        f"Cancel requested; asking agent {launch[2]} to stop the run", now)
    _work.enqueue(conn, TerminateRun(run_id=run.run_id, attempt=run.attempt),
                  queue=_locations.queue_of_run(conn, run.run_id), traceparent=traceparent,
                  now=now, target_agent=launch[2])
