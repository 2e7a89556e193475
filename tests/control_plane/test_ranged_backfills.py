"""Ranged backfills in the store, on SQLite and PostgreSQL: when every asset of a backfill
declares a backfill policy, a run covers a chunk of consecutive partitions (tagged with its
range), each partition's row points at its chunk's run (once, even when a batch is tried
again or two daemons race), the counts and the failed partitions stay per partition, a
cancel cancels each chunk's run once, and a re-run of the failed partitions chunks them
again. Assets with different policies in one backfill are refused."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from tether.control_plane.errors import BadInput
from tether.control_plane.storage import (
    BACKFILL_TAG,
    BackfillSpec,
    BackfillStatus,
    RunStatus,
    Store,
)
from tether.control_plane.storage._backfills import chunks
from tether.control_plane.storage._schema import backfill_partitions, backfills, runs
from tether.partitions import RANGE_END_TAG, RANGE_START_TAG, key_positions
from tether.wire import (
    AssetSnapshot,
    BackfillPolicySnapshot,
    JobSnapshot,
    LocationSnapshot,
    OpNodeSnapshot,
    RunFailure,
    RunStart,
    RunSuccess,
    TimeWindowPartitions,
)

from .conftest import FakeClock, load_location

DAILY = TimeWindowPartitions(unit="day", start="2022-01-01", fmt="%Y-%m-%d")
SINGLE = BackfillPolicySnapshot(max_partitions_per_run=None)
TENS = BackfillPolicySnapshot(max_partitions_per_run=10)


def _asset_job(name: str, *keys: str) -> JobSnapshot:
    return JobSnapshot(name=name, partitions=DAILY, nodes=[
        OpNodeSnapshot(name=key, op=key, asset_key=key) for key in keys])


def _snapshot() -> LocationSnapshot:
    return LocationSnapshot(
        location="hello",
        jobs=[_asset_job("totals_job", "totals"), _asset_job("sums_job", "sums"),
              _asset_job("mixed_job", "totals", "events"),
              _asset_job("both_job", "totals", "sums"),
              JobSnapshot(name="plain", nodes=[OpNodeSnapshot(name="load", op="load")])],
        assets=[AssetSnapshot(key="totals", partitions=DAILY, backfill_policy=SINGLE),
                AssetSnapshot(key="sums", partitions=DAILY, backfill_policy=TENS),
                AssetSnapshot(key="events", partitions=DAILY)])


@pytest.fixture
def loaded(store: Store) -> Store:
    load_location(store, defines=_snapshot())
    return store


def _rows(store: Store, backfill_id: str) -> dict[str, str | None]:
    """Each partition's run, from the backfill's rows."""
    with store.engine.connect() as conn:
        return {str(row.partition): row.run_id for row in conn.execute(
            sa.select(backfill_partitions).where(
                backfill_partitions.c.backfill_id == backfill_id))}


def _runs(store: Store, backfill_id: str) -> list[tuple[str, str, str]]:
    """The backfill's runs: partition ("" for none), range start and end tags ("" for
    none), sorted."""
    with store.engine.connect() as conn:
        ids = [str(row.run_id) for row in conn.execute(sa.select(runs.c.run_id).where(
            runs.c.tags.like(f'%"{BACKFILL_TAG}":"{backfill_id}"%')))]
    found = [store.get_run(run_id) for run_id in ids]
    return sorted((run.partition or "", run.tags.get(RANGE_START_TAG, ""),
                   run.tags.get(RANGE_END_TAG, "")) for run in found)


def _end(store: Store, run_id: str, clock: FakeClock, *, failed: bool = False) -> None:
    ending = (RunFailure(run_id=run_id, attempt=1, seq=2, timestamp=clock.now,
                         message="the source is not ready") if failed
              else RunSuccess(run_id=run_id, attempt=1, seq=2, timestamp=clock.now))
    store.store_events([RunStart(run_id=run_id, attempt=1, seq=1, timestamp=clock.now,
                                 job_name="totals_job"), ending])


def test_a_single_run_policy_makes_one_run_of_the_whole_range(
        loaded: Store, clock: FakeClock) -> None:
    backfill_id = loaded.launch_backfill(BackfillSpec(
        location="hello", asset_selection=["totals"], first="2022-01-01", last="2022-01-30"))
    # the chunk is created whole, however small the batch
    assert loaded.create_backfill_runs(budget_seconds=0, batch_size=7) == 30
    assert _runs(loaded, backfill_id) == [("", "2022-01-01", "2022-01-30")]
    rows = _rows(loaded, backfill_id)
    assert len(rows) == 30 and len(set(rows.values())) == 1
    run = loaded.get_run(next(iter(rows.values())))
    assert (run.partition, run.partition_range) == (None, ("2022-01-01", "2022-01-30"))
    assert (run.job_name, run.step_selection) == ("totals_job", ["totals"])
    backfill = loaded.get_backfill(backfill_id)
    assert backfill.counts == {RunStatus.QUEUED: 30}
    _end(loaded, run.run_id, clock)
    loaded.settle_backfills()
    backfill = loaded.get_backfill(backfill_id)
    assert backfill.status is BackfillStatus.COMPLETED
    assert backfill.counts == {RunStatus.SUCCESS: 30} and backfill.progress == 1.0


def test_a_multi_run_policy_makes_a_run_per_chunk_exactly_once(loaded: Store) -> None:
    backfill_id = loaded.launch_backfill(BackfillSpec(
        location="hello", job_name="sums_job", first="2022-01-01", last="2022-01-25"))
    # a batch takes whole chunks: 10, then 10 and 5
    assert loaded.create_backfill_runs(budget_seconds=0, batch_size=12) == 10
    assert loaded.get_backfill(backfill_id).counts == {RunStatus.QUEUED: 10,
                                                       "NOT_CREATED": 15}
    assert loaded.create_backfill_runs(budget_seconds=60, batch_size=12) == 15
    expected = [("", "2022-01-01", "2022-01-10"), ("", "2022-01-11", "2022-01-20"),
                ("", "2022-01-21", "2022-01-25")]
    assert _runs(loaded, backfill_id) == expected
    # the daemon died after its batches committed but before it counted them: they run
    # again and find every partition's run there
    with loaded.engine.begin() as conn:
        conn.execute(backfills.update().where(backfills.c.id == backfill_id).values(
            created_count=0, status=BackfillStatus.RUNNING))
    assert loaded.create_backfill_runs(budget_seconds=60) == 25
    assert _runs(loaded, backfill_id) == expected
    rows = _rows(loaded, backfill_id)
    assert len(rows) == 25 and len(set(rows.values())) == 3
    assert rows["2022-01-10"] == rows["2022-01-01"] != rows["2022-01-11"]


def test_two_daemons_racing_create_each_chunk_once(database_url: str,
                                                   clock: FakeClock) -> None:
    stores = [Store.from_url(database_url, clock=clock) for _ in range(2)]
    stores[0].migrate()
    load_location(stores[0], defines=_snapshot())
    backfill_id = stores[0].launch_backfill(BackfillSpec(
        location="hello", job_name="sums_job", first="2022-01-01", last="2022-12-31"))
    threads = [threading.Thread(target=store.create_backfill_runs,
                                kwargs={"budget_seconds": 60, "batch_size": 20})
               for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    created = _runs(stores[0], backfill_id)
    assert len(created) == 37  # 36 runs of 10 days, and the last 5
    assert len(_rows(stores[0], backfill_id)) == 365
    assert len(set(_rows(stores[0], backfill_id).values())) == 37
    for store in stores:
        store.close()


def test_a_failed_chunk_fails_each_of_its_partitions_and_runs_again_chunked(
        loaded: Store, clock: FakeClock) -> None:
    backfill_id = loaded.launch_backfill(BackfillSpec(
        location="hello", job_name="sums_job", first="2022-01-01", last="2022-01-30"))
    loaded.create_backfill_runs()
    rows = _rows(loaded, backfill_id)
    for run_id in set(rows.values()):
        assert run_id is not None
        _end(loaded, run_id, clock, failed=run_id == rows["2022-01-15"])
    loaded.settle_backfills()
    backfill = loaded.get_backfill(backfill_id)
    assert backfill.status is BackfillStatus.FAILED
    assert backfill.counts == {RunStatus.SUCCESS: 20, RunStatus.FAILURE: 10}
    assert backfill.failed_partitions == [f"2022-01-{day}" for day in range(11, 21)]
    rerun_id = loaded.rerun_failed_backfill(backfill_id)
    loaded.create_backfill_runs()
    assert _runs(loaded, rerun_id) == [("", "2022-01-11", "2022-01-20")]
    assert loaded.get_backfill(rerun_id).counts == {RunStatus.QUEUED: 10}


def test_a_gap_in_the_partitions_starts_a_new_chunk() -> None:
    positions = key_positions(DAILY, now=1.7e9)
    keys = ["2022-01-01", "2022-01-02", "2022-01-03", "2022-01-07", "2022-01-08"]
    assert chunks(keys, positions, SINGLE) == [keys[:3], keys[3:]]
    assert chunks(keys, positions, BackfillPolicySnapshot(max_partitions_per_run=2)) == [
        keys[:2], keys[2:3], keys[3:]]
    assert chunks(keys, positions, None) == [[key] for key in keys]
    assert chunks(["2022-01-01", "gone", "2022-01-02"], positions, SINGLE) == [
        ["2022-01-01"], ["gone"], ["2022-01-02"]]


def test_a_listed_backfill_runs_a_lone_partition_as_an_ordinary_run(loaded: Store) -> None:
    backfill_id = loaded.launch_backfill(BackfillSpec(
        location="hello", asset_selection=["totals"],
        keys=["2022-03-01", "2022-03-02", "2022-03-09"]))
    loaded.create_backfill_runs()
    assert _runs(loaded, backfill_id) == [("", "2022-03-01", "2022-03-02"),
                                          ("2022-03-09", "", "")]


def test_cancel_cancels_each_chunk_run_once(loaded: Store, clock: FakeClock) -> None:
    backfill_id = loaded.launch_backfill(BackfillSpec(
        location="hello", job_name="sums_job", first="2022-01-01", last="2022-01-30"))
    loaded.create_backfill_runs()
    rows = _rows(loaded, backfill_id)
    first = rows["2022-01-01"]
    assert first is not None
    _end(loaded, first, clock)
    backfill = loaded.cancel_backfill(backfill_id)
    assert backfill.status is BackfillStatus.CANCELED
    assert backfill.counts == {RunStatus.SUCCESS: 10, RunStatus.CANCELED: 20}
    assert {loaded.get_run(run_id).status for run_id in set(rows.values()) - {first}
            if run_id is not None} == {RunStatus.CANCELED}


@pytest.mark.parametrize(("spec", "message"), [
    (BackfillSpec(location="hello", job_name="mixed_job"),
     "declare different backfill policies: totals \\(single_run\\), events \\(none: a run "
     "per partition\\); .* backfill them apart, or give them one policy"),
    (BackfillSpec(location="hello", asset_selection=["totals", "sums"]),
     "totals \\(single_run\\), sums \\(multi_run\\(10\\)\\)"),
])
def test_assets_with_different_policies_are_refused(loaded: Store, spec: BackfillSpec,
                                                    message: str) -> None:
    with pytest.raises(BadInput, match=message):
        loaded.launch_backfill(spec)
    assert loaded.list_backfills() == []


@pytest.mark.parametrize(("job", "start", "end", "message"), [
    ("plain", "2022-01-01", "2022-01-02", "job 'plain' is not partitioned"),
    ("totals_job", "2022-01-05", "2022-01-02", "'2022-01-02' comes before '2022-01-05'"),
    ("totals_job", "2021-01-05", "2022-01-02", "'2021-01-05' is outside the partitions"),
])
def test_a_launch_with_a_bad_range_is_refused(loaded: Store, job: str, start: str, end: str,
                                              message: str) -> None:
    with pytest.raises(BadInput, match=message):
        loaded.launch_run(job, location="hello", tags={RANGE_START_TAG: start,
                                                       RANGE_END_TAG: end})
