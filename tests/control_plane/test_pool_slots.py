"""Op concurrency pools in the control plane, on SQLite and PostgreSQL: a step of a limited
pool asks for a slot by its STEP_SLOT_REQUESTED event; the store grants slots up to the
pool's limit across runs, oldest request first, as GrantSlot work items for the agent that
launched the run; a slot is freed by the step's end, its run's end, or its run worker's
death, and is never granted twice."""

from __future__ import annotations

from collections.abc import Iterator

import msgspec
import pytest

from tether.control_plane.storage import QueueLimits, RunStatus, Store
from tether.control_plane.storage._pools import pool_tags
from tether.wire import (
    GrantSlot,
    LaunchRun,
    LocationSnapshot,
    RunEvent,
    RunFailure,
    RunStart,
    RunWorkerExited,
    SlotGranted,
    StepSlotRequested,
    StepStart,
    StepSuccess,
)

from .conftest import FakeClock, load_location, snapshot


def pooled_snapshot() -> LocationSnapshot:
    """hello_job: extract, then load, which takes a slot of pool warehouse."""
    base = snapshot()
    job = base.jobs[0]
    nodes = [job.nodes[0], msgspec.structs.replace(job.nodes[1], pool="warehouse")]
    return msgspec.structs.replace(base, jobs=[msgspec.structs.replace(job, nodes=nodes)])


@pytest.fixture
def pooled(database_url: str, clock: FakeClock) -> Iterator[Store]:
    """A store whose pool warehouse lets one step execute at a time."""
    store = Store.from_url(database_url, clock=clock,
                           limits=QueueLimits(pool_limits={"warehouse": 1, "lake": 3}))
    store.migrate()
    load_location(store, defines=pooled_snapshot())
    yield store
    store.close()


class Worker:
    """What one run worker sends, numbered as a run worker numbers its events."""

    def __init__(self, store: Store, clock: FakeClock, run_id: str) -> None:
        self.store, self.clock, self.run_id, self.seq = store, clock, run_id, 0

    def send(self, kind: type[RunEvent], **fields: object) -> None:
        self.seq += 1
        self.store.store_events([kind(run_id=self.run_id, attempt=1, seq=self.seq,  # type: ignore[call-arg]
                                      timestamp=self.clock.now, **fields)])
        self.clock.advance(1)

    def wants_slot(self) -> None:
        self.send(StepSlotRequested, step_key="load", pool="warehouse", limit=1)


def _grants(store: Store) -> list[str]:
    """The runs granted a slot since the last call, as the agent claims them (and reports
    them done, as its launcher does)."""
    items = [item for item in store.claim_work("agent-1", ["default"], 100, 60)
             if isinstance(item.payload, GrantSlot)]
    store.store_results([SlotGranted(work_id=item.work_id, epoch=item.epoch,
                                     run_id=item.payload.run_id, attempt=item.payload.attempt,
                                     step_key=item.payload.step_key) for item in items])
    return [item.payload.run_id for item in items if isinstance(item.payload, GrantSlot)]


def test_a_pool_grants_its_slots_across_runs_oldest_request_first(
        pooled: Store, clock: FakeClock) -> None:
    runs = [pooled.launch_run("hello_job") for _ in range(3)]
    # pools limit steps, not runs: every run starts, each told the limits
    launches = [item.payload for item in pooled.claim_work("agent-1", ["default"], 100, 60)
                if isinstance(item.payload, LaunchRun)]
    assert sorted(launch.run_id for launch in launches) == sorted(runs)
    assert all(launch.pool_limits == {"warehouse": 1, "lake": 3} for launch in launches)
    first, second, third = (Worker(pooled, clock, run_id) for run_id in runs)
    for worker in (first, second, third):
        worker.send(RunStart, job_name="hello_job")
    second.wants_slot()
    first.wants_slot()
    third.wants_slot()
    # the oldest request gets the one slot; a redelivered request asks nothing more
    assert _grants(pooled) == [second.run_id]
    pooled.store_events([StepSlotRequested(run_id=second.run_id, attempt=1, seq=second.seq,
                                           timestamp=clock.now, step_key="load",
                                           pool="warehouse", limit=1)])
    second.send(StepStart, step_key="load")
    assert _grants(pooled) == []
    # the waiting step says why, in its run's log
    events = pooled.run_events(first.run_id)
    assert any(event.message == "Step load waits for a slot in pool warehouse (limit 1)"
               and event.step_key == "load" for event in events)

    # the step's end frees its slot for the next request
    second.send(StepSuccess, step_key="load", duration=1.0)
    assert _grants(pooled) == [first.run_id]
    assert pooled.grant_pool_slots() == []

    # a run worker killed outright: its launcher reports the exit, and the slot moves on
    first.send(StepStart, step_key="load")
    pooled.store_results([RunWorkerExited(run_id=first.run_id, attempt=1, exit_code=-9)])
    assert pooled.get_run(first.run_id).status == RunStatus.FAILURE
    assert _grants(pooled) == [third.run_id]


def test_a_run_that_ends_without_its_steps_end_frees_their_slots(
        pooled: Store, clock: FakeClock) -> None:
    runs = [pooled.launch_run("hello_job") for _ in range(2)]
    pooled.claim_work("agent-1", ["default"], 100, 60)
    holder, waiter = (Worker(pooled, clock, run_id) for run_id in runs)
    for worker in (holder, waiter):
        worker.send(RunStart, job_name="hello_job")
        worker.wants_slot()
    assert _grants(pooled) == [holder.run_id]
    assert pooled.grant_pool_slots() == []
    holder.send(RunFailure, message="interrupted")
    assert _grants(pooled) == [waiter.run_id]


def test_a_pool_without_a_limit_lets_its_steps_start_at_once(
        database_url: str, clock: FakeClock) -> None:
    # a request of a pool whose limit was lifted since the run started: granted at once
    store = Store.from_url(database_url, clock=clock, limits=QueueLimits(pool_limits={"x": 1}))
    store.migrate()
    try:
        load_location(store, defines=pooled_snapshot())
        run_ids = [store.launch_run("hello_job") for _ in range(2)]
        store.claim_work("agent-1", ["default"], 100, 60)
        for run_id in run_ids:
            worker = Worker(store, clock, run_id)
            worker.send(RunStart, job_name="hello_job")
            worker.wants_slot()
        assert sorted(_grants(store)) == sorted(run_ids)
    finally:
        store.close()


def test_only_the_pooled_steps_a_run_executes_put_it_in_the_pool() -> None:
    job = pooled_snapshot().jobs[0]
    assert pool_tags(job, None) == {"tether/pool/warehouse": "load"}
    # a re-execution of extract alone executes no pooled step
    assert pool_tags(job, ["extract"]) == {}
