"""``tether control-plane daemons``: the control plane acting on its own.

Each daemon takes a turn every ``daemon_interval_seconds`` (the scheduler also when a tick
falls due between two turns), but only while this process holds
its leader lease in the database: two copies of the process are safe, and one takes over
within a lease's length when the other dies (at once when it stops cleanly).

- ``run_queue``: admits the waiting runs that now fit the concurrency limits.
- ``scheduler``: asks the agents to evaluate the schedule and sensor ticks that are due
  (see ``storage._automation``).
- ``run_monitor``: fails runs that will never report (see ``storage._monitor``), and gives
  failed runs whose ``tether/max_retries`` tag allows it a new attempt.
- ``backfill``: creates the runs of the backfills' partitions, a batch per transaction, and
  ends each backfill when its runs have all ended (see ``storage._backfills``).
- ``alerts``: sends the alerts in the outbox, with retries and backoff, and raises those
  of runs going on too long and agents gone silent (see ``alerts._deliver``).

Each turn works through every deployment in turn, each in a store scoped to it, so a
deployment's runs, limits, schedules and alerts never mix with another's; one leader per
daemon serves them all. The run monitor also removes branch deployments whose TTL after
their last activity has passed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from .. import _telemetry as telemetry
from ..settings import Settings
from .alerts import DeliveryConfig, deliver_due
from .storage import PROD, Store
from .storage._backfills import DAEMON as BACKFILL_DAEMON
from .storage._queue import DAEMON as QUEUE_DAEMON

log = logging.getLogger(__name__)

# a lease outlives this many turns: another copy takes over that long after this one died
LEASE_TURNS = 10
MIN_LEASE_SECONDS = 5.0


@dataclass(frozen=True)
class Daemon:
    name: str
    # one turn: what it did, said for the log ("" when it did nothing)
    turn: Callable[[], str]
    # take a turn every this many base intervals
    every: int = 1
    # when it next has work (epoch seconds; None: not known), so that the loop wakes then
    # rather than up to an interval later
    wakes_at: Callable[[], float | None] | None = None
    # a turn that waits on other hosts (sending alerts) takes its turns in a thread of its
    # own, so a receiver that never answers cannot hold up the run queue or the scheduler
    own_thread: bool = False


def each_deployment(store: Store) -> list[Store]:
    """A store scoped to each deployment, prod first."""
    names = sorted((d.name for d in store.list_deployments()), key=lambda n: (n != PROD, n))
    return [store.scoped(name) for name in names]


def _in(scoped: Store, did: str) -> str:
    """What a turn did in a deployment, naming it unless it is prod."""
    if not did or scoped.deployment == PROD:
        return did
    return f"[{scoped.deployment}] {did}"


def daemons(store: Store, settings: Settings) -> list[Daemon]:
    def run_queue() -> str:
        return "; ".join(filter(None, (_in(scoped, _run_queue(scoped))
                                       for scoped in each_deployment(store))))

    def _run_queue(store: Store) -> str:
        admitted = store.admit_queued_runs()
        # slots of runs that ended without a step end reaching the control plane (a run
        # worker killed, a run failed by the monitor) go to the steps waiting for them
        granted = store.grant_pool_slots()
        return "; ".join(
            [f"admitted {len(admitted)} queued run(s): {', '.join(admitted)}"] * bool(admitted)
            + [f"granted {len(granted)} pool slot(s): " + ", ".join(
                f"{grant.run_id}/{grant.step_key} ({grant.pool})" for grant in granted)]
            * bool(granted))

    def run_monitor() -> str:
        expired = store.expired_deployments()
        for name in expired:
            store.delete_deployment(name)
        did = [f"removed {len(expired)} expired branch deployment(s): {', '.join(expired)}"
               ] if expired else []
        did += filter(None, (_in(scoped, _run_monitor(scoped))
                             for scoped in each_deployment(store)))
        return "; ".join(did)

    def _run_monitor(store: Store) -> str:
        failed = store.fail_stuck_runs(start_timeout=settings.run_start_timeout_seconds)
        retried = store.retry_failed_runs()
        return "; ".join(
            [f"failed {len(failed)} stuck run(s): {', '.join(failed)}"] * bool(failed)
            + [f"retried {len(retried)} failed run(s): {', '.join(retried)}"] * bool(retried))

    # when the next tick is due in any deployment, as of the scheduler's last turn
    next_tick: list[float | None] = [None]

    def scheduler() -> str:
        did = []
        soonest: float | None = None
        for scoped in each_deployment(store):
            due = scoped.next_tick_time()
            if due is not None and due <= time.time():
                # one trace per turn that asks for ticks: on to the code servers and the runs
                with telemetry.span("scheduler.ticks") as traceparent:
                    started = scoped.start_due_ticks(settings.schedule_catch_up,
                                                     traceparent=traceparent)
                if started:
                    did.append(_in(scoped, f"asked for {len(started)} schedule/sensor tick(s)"))
                due = scoped.next_tick_time()
            if due is not None and (soonest is None or due < soonest):
                soonest = due
        next_tick[0] = soonest
        return "; ".join(did)

    delivery = DeliveryConfig(public_url=settings.resolved_public_url,
                              retry_base_seconds=settings.alert_retry_base_seconds,
                              max_attempts=settings.alert_max_attempts)
    alert_turns = [0]

    def alerts() -> str:
        # the look for overdue causes (a write) every few turns; due deliveries every turn
        alert_turns[0] += 1
        return "; ".join(filter(None, (
            _in(scoped, deliver_due(scoped, delivery, look_overdue=alert_turns[0] % 5 == 1))
            for scoped in each_deployment(store))))

    def backfill() -> str:
        # a turn, over every deployment, is well within the lease, which is renewed between
        # turns only; a deployment the budget did not reach goes on in the next turn
        until = time.monotonic() + MIN_LEASE_SECONDS / 2
        return "; ".join(filter(None, (_in(scoped, _backfill(scoped, until - time.monotonic()))
                                       for scoped in each_deployment(store))))

    def _backfill(store: Store, budget: float) -> str:
        created = store.create_backfill_runs(budget_seconds=budget,
                                             batch_size=settings.backfill_batch_size
                                             ) if budget > 0 else 0
        ended = store.settle_backfills()
        return "; ".join(
            [f"created the runs of {created} backfill partition(s)"] * bool(created)
            + [f"ended {len(ended)} backfill(s): " + ", ".join(
                f"{done.id} ({done.status})" for done in ended)] * bool(ended))

    return [Daemon(QUEUE_DAEMON, run_queue), Daemon("run_monitor", run_monitor, every=2),
            # in a thread of its own: creating thousands of runs holds no other daemon up
            Daemon(BACKFILL_DAEMON, backfill, own_thread=True),
            Daemon("scheduler", scheduler, wakes_at=lambda: next_tick[0]),
            Daemon("alerts", alerts, own_thread=True)]


class _Leadership:
    """The leases this process holds, renewed when half gone (not on every turn: each
    renewal is a write transaction, and SQLite has one writer at a time)."""

    def __init__(self, store: Store, holder: str, seconds: float) -> None:
        self.store, self.holder, self.seconds = store, holder, seconds
        self.renew_at: dict[str, float] = {}

    def leads(self, name: str) -> bool:
        now = time.monotonic()
        if now < self.renew_at.get(name, 0.0):
            return True
        if self.store.acquire_lease(name, self.holder, self.seconds):
            if name not in self.renew_at:
                log.info("%s: this process leads", name)
            self.renew_at[name] = now + self.seconds / 2
            return True
        if self.renew_at.pop(name, None) is not None:
            log.warning("%s: another process leads now", name)
        return False

    def release_all(self) -> None:
        for name in list(self.renew_at):
            try:
                self.store.release_lease(name, self.holder)
            except Exception as exc:  # the lease then simply expires
                log.warning("could not release the %s lease: %s", name, exc)
        self.renew_at.clear()


def run_daemons(store: Store, settings: Settings, stop: threading.Event, *,
                holder: str | None = None) -> None:
    """Take turns until ``stop`` is set, then give the leases up."""
    holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    running = daemons(store, settings)
    log.info("daemons %s ready: %s", holder, ", ".join(d.name for d in running))
    apart = [threading.Thread(target=_take_turns, args=([daemon], store, settings, stop, holder),
                              name=f"daemon-{daemon.name}", daemon=True)
             for daemon in running if daemon.own_thread]
    for thread in apart:
        thread.start()
    try:
        _take_turns([d for d in running if not d.own_thread], store, settings, stop, holder)
    finally:
        stop.set()  # the others too, also when the shared loop failed
        for thread in apart:
            thread.join()


def _take_turns(running: list[Daemon], store: Store, settings: Settings,
                stop: threading.Event, holder: str) -> None:
    interval = settings.daemon_interval_seconds
    leadership = _Leadership(store, holder, max(MIN_LEASE_SECONDS, LEASE_TURNS * interval))
    turn = 0
    try:
        while not stop.is_set():
            for daemon in running:
                if turn % daemon.every == 0:
                    _take_turn(daemon, leadership)
            turn += 1
            stop.wait(_pause(running, interval, time.time()))
    finally:
        leadership.release_all()


def _pause(running: list[Daemon], interval: float, now: float) -> float:
    """How long to wait for the next turn: an interval, or less when a daemon has work
    sooner (a schedule due at 12:00:00 is asked for then, not up to an interval later)."""
    soonest = min((when for daemon in running if daemon.wakes_at is not None
                   and (when := daemon.wakes_at()) is not None and when > now),
                  default=now + interval)
    return min(interval, soonest - now)


def _take_turn(daemon: Daemon, leadership: _Leadership) -> None:
    try:
        if not leadership.leads(daemon.name):
            return
        did = daemon.turn()
    except Exception:
        # a database that is away, or a bug in one turn: the next turn tries again
        log.exception("%s: turn failed", daemon.name)
        return
    if did:
        log.info("%s: %s", daemon.name, did)
