"""Backfills in the store, on SQLite and PostgreSQL: a launch is checked (target, keys,
range) and kept compactly; the daemon's batches create each partition's run once, even when
a batch is tried again or two daemons race; the backfill ends from its runs' outcomes; a
cancel stops it and cancels its runs; its failed partitions run again as a linked backfill."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
import sqlalchemy as sa

from tether.control_plane.errors import BadInput
from tether.control_plane.storage import (
    BACKFILL_TAG,
    BackfillSpec,
    BackfillStatus,
    QueueLimits,
    RunStatus,
    Store,
)
from tether.control_plane.storage._schema import backfills, runs
from tether.wire import (
    AssetSnapshot,
    JobSnapshot,
    LaunchRun,
    LocationSnapshot,
    OpNodeSnapshot,
    RunFailure,
    RunStart,
    RunSuccess,
    StaticPartitions,
    TimeWindowPartitions,
)

from .conftest import FakeClock, load_location

# FakeClock's now is 2023-11-14: 365 complete days from 2022-01-01 to 2022-12-31, and more
DAILY = TimeWindowPartitions(unit="day", start="2022-01-01", fmt="%Y-%m-%d")
REGIONS = StaticPartitions(keys=("eu", "us", "asia"))


def _snapshot() -> LocationSnapshot:
    return LocationSnapshot(
        location="hello",
        jobs=[JobSnapshot(name="daily", nodes=[OpNodeSnapshot(name="load", op="load")],
                          partitions=DAILY),
              JobSnapshot(name="regions", nodes=[OpNodeSnapshot(name="load", op="load")],
                          partitions=REGIONS),
              JobSnapshot(name="plain", nodes=[OpNodeSnapshot(name="load", op="load")]),
              JobSnapshot(name="assets", partitions=DAILY, nodes=[
                  OpNodeSnapshot(name="events", op="events", asset_key="events")])],
        assets=[AssetSnapshot(key="events", partitions=DAILY)])


@pytest.fixture
def loaded(store: Store) -> Store:
    load_location(store, defines=_snapshot())
    return store


def _backfill_runs(store: Store, backfill_id: str) -> list[tuple[str, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(runs.c.partition, runs.c.run_id).where(
            runs.c.tags.like(f'%"{BACKFILL_TAG}":"{backfill_id}"%'))).all()
    return [(str(row.partition), str(row.run_id)) for row in rows]


def _end(store: Store, run_id: str, clock: FakeClock, *, failed: bool = False) -> None:
    ending = (RunFailure(run_id=run_id, attempt=1, seq=2, timestamp=clock.now,
                         message="the source is not ready") if failed
              else RunSuccess(run_id=run_id, attempt=1, seq=2, timestamp=clock.now))
    store.store_events([RunStart(run_id=run_id, attempt=1, seq=1, timestamp=clock.now,
                                 job_name="daily"), ending])


def test_a_range_is_stored_compactly_and_each_partition_runs_once(
        loaded: Store, clock: FakeClock) -> None:
    backfill_id = loaded.launch_backfill(BackfillSpec(
        location="hello", job_name="daily", first="2022-01-01", last="2022-12-31",
        tags={"team": "data"}))
    with loaded.engine.connect() as conn:
        row = conn.execute(sa.select(backfills).where(backfills.c.id == backfill_id)).one()
    assert (row.range_first, row.range_last, row.partition_list) == (
        "2022-01-01", "2022-12-31", None)
    # a daemon that dies after two batches: the next one goes on where they left off
    assert loaded.create_backfill_runs(budget_seconds=0, batch_size=100) == 100
    assert loaded.get_backfill(backfill_id).status is BackfillStatus.RUNNING
    assert loaded.create_backfill_runs(budget_seconds=60, batch_size=100) == 265
    assert loaded.create_backfill_runs() == 0
    created = _backfill_runs(loaded, backfill_id)
    assert len(created) == 365
    assert Counter(partition for partition, _ in created).most_common(1)[0][1] == 1
    assert {partition for partition, _ in created} >= {"2022-01-01", "2022-02-28",
                                                        "2022-12-31"}
    backfill = loaded.get_backfill(backfill_id)
    assert backfill.counts == {RunStatus.QUEUED: 365}
    assert backfill.progress == 0.0
    run = loaded.get_run(created[0][1])
    assert run.tags == {"team": "data", BACKFILL_TAG: backfill_id}
    # its runs end: two fail
    for number, (_, run_id) in enumerate(sorted(created)):
        _end(loaded, run_id, clock, failed=number in (3, 300))
    assert [done.id for done in loaded.settle_backfills()] == [backfill_id]
    backfill = loaded.get_backfill(backfill_id)
    assert backfill.status is BackfillStatus.FAILED
    assert backfill.counts == {RunStatus.SUCCESS: 363, RunStatus.FAILURE: 2}
    assert backfill.failed_partitions == ["2022-01-04", "2022-10-28"]
    assert backfill.progress == 1.0 and backfill.ended_at == clock.now


def test_a_batch_tried_again_creates_no_run_twice(loaded: Store) -> None:
    backfill_id = loaded.launch_backfill(BackfillSpec(location="hello", job_name="regions"))
    assert loaded.create_backfill_runs(batch_size=2) == 3
    # the daemon died after its batch committed but before it counted it: the batch runs
    # again and finds the partitions' runs already there
    with loaded.engine.begin() as conn:
        conn.execute(backfills.update().where(backfills.c.id == backfill_id).values(
            created_count=0, status=BackfillStatus.RUNNING))
    assert loaded.create_backfill_runs() == 3
    assert sorted(p for p, _ in _backfill_runs(loaded, backfill_id)) == ["asia", "eu", "us"]


def test_two_daemons_racing_create_each_run_once(database_url: str, clock: FakeClock) -> None:
    stores = [Store.from_url(database_url, clock=clock) for _ in range(2)]
    stores[0].migrate()
    load_location(stores[0], defines=_snapshot())
    backfill_id = stores[0].launch_backfill(BackfillSpec(
        location="hello", job_name="daily", first="2022-01-01", last="2022-12-31"))
    threads = [threading.Thread(target=store.create_backfill_runs,
                                kwargs={"budget_seconds": 60, "batch_size": 20})
               for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    created = _backfill_runs(stores[0], backfill_id)
    assert len(created) == 365 == len({partition for partition, _ in created})
    for store in stores:
        store.close()


def test_the_runs_go_through_the_run_queue(database_url: str, clock: FakeClock) -> None:
    limited = Store.from_url(database_url, clock=clock,
                             limits=QueueLimits(max_concurrent_runs=2))
    limited.migrate()
    load_location(limited, defines=_snapshot())
    limited.launch_backfill(BackfillSpec(location="hello", job_name="regions"))
    limited.create_backfill_runs()
    launches = [item for item in limited.claim_work("agent", ["default"], 100, 60)
                if isinstance(item.payload, LaunchRun)]
    assert len(launches) == 2
    limited.close()


def test_cancel_stops_creating_runs_and_cancels_those_not_ended(
        loaded: Store, clock: FakeClock) -> None:
    backfill_id = loaded.launch_backfill(BackfillSpec(
        location="hello", job_name="daily", first="2022-01-01", last="2022-01-10"))
    loaded.create_backfill_runs(budget_seconds=0, batch_size=4)
    first, *_ = sorted(_backfill_runs(loaded, backfill_id))
    _end(loaded, first[1], clock)
    backfill = loaded.cancel_backfill(backfill_id)
    assert backfill.status is BackfillStatus.CANCELED
    assert backfill.counts == {RunStatus.SUCCESS: 1, RunStatus.CANCELED: 3, "NOT_CREATED": 6}
    assert loaded.create_backfill_runs() == 0
    with pytest.raises(BadInput, match="has already ended \\(CANCELED\\)"):
        loaded.cancel_backfill(backfill_id)


def test_the_failed_partitions_run_again_as_a_linked_backfill(
        loaded: Store, clock: FakeClock) -> None:
    backfill_id = loaded.launch_backfill(BackfillSpec(
        location="hello", job_name="regions", keys=["us", "eu"]))
    with pytest.raises(BadInput, match="re-run its failed partitions once it has ended"):
        loaded.rerun_failed_backfill(backfill_id)
    loaded.create_backfill_runs()
    for partition, run_id in _backfill_runs(loaded, backfill_id):
        _end(loaded, run_id, clock, failed=partition == "us")
    loaded.settle_backfills()
    # a run re-executed by hand is not one of the backfill's
    [(_, failed_run)] = [pair for pair in _backfill_runs(loaded, backfill_id)
                         if pair[0] == "us"]
    again = loaded.get_run(loaded.reexecute_run(failed_run))
    assert again.partition == "us" and BACKFILL_TAG not in again.tags
    rerun_id = loaded.rerun_failed_backfill(backfill_id)
    rerun = loaded.get_backfill(rerun_id)
    assert (rerun.parent_id, rerun.partition_list, rerun.job_name) == (
        backfill_id, ["us"], "regions")
    loaded.create_backfill_runs()
    [(partition, run_id)] = _backfill_runs(loaded, rerun_id)
    _end(loaded, run_id, clock)
    loaded.settle_backfills()
    assert loaded.get_backfill(rerun_id).status is BackfillStatus.COMPLETED
    with pytest.raises(BadInput, match="has no failed partitions"):
        loaded.rerun_failed_backfill(rerun_id)


def test_an_asset_backfill_runs_the_assets_job_of_each_partition(loaded: Store) -> None:
    backfill_id = loaded.launch_backfill(BackfillSpec(
        location="hello", asset_selection=["events"], keys=["2022-03-01", "2022-03-02"]))
    loaded.create_backfill_runs()
    created = dict(_backfill_runs(loaded, backfill_id))
    run = loaded.get_run(created["2022-03-01"])
    assert (run.job_name, run.step_selection, run.partition) == (
        "assets", ["events"], "2022-03-01")
    assert loaded.get_backfill(backfill_id).target == "assets events"


@pytest.mark.parametrize(("spec", "message"), [
    (BackfillSpec(location="hello", job_name="plain"),
     "job 'plain' is not partitioned: a backfill runs a partitioned job's partitions"),
    (BackfillSpec(location="hello", job_name="regions", keys=["eu", "mars"]),
     "no partition 'mars'; the partitions: static: eu, us, asia"),
    (BackfillSpec(location="hello", job_name="daily", first="2021-12-31"),
     "'2021-12-31' is outside the partitions, daily from 2022-01-01"),
    (BackfillSpec(location="hello", job_name="daily", first="2022-02-01", last="2022-01-01"),
     "the range '2022-02-01' to '2022-01-01' is empty: '2022-01-01' comes before"),
    (BackfillSpec(location="hello", job_name="daily", first="2022-01-01", keys=["x"]),
     "give either a range of partitions \\(from, to\\) or a list of them, not both"),
    (BackfillSpec(location="hello"), "either a job or a selection of assets: give one"),
    (BackfillSpec(location="hello", job_name="nope"), "nope"),
])
def test_bad_input_is_refused_with_what_is_allowed(loaded: Store, spec: BackfillSpec,
                                                  message: str) -> None:
    with pytest.raises(Exception, match=message):
        loaded.launch_backfill(spec)
    assert loaded.list_backfills() == []
