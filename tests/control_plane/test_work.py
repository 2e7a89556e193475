from __future__ import annotations

import threading

from tether.control_plane.storage import RunStatus, Store
from tether.wire import LaunchRun, LoadLocation, LocationLoaded, LocationSnapshot, LocationSpec

from .conftest import FakeClock, load_location, spec


def test_claimed_item_is_leased_then_reclaimable_with_a_higher_epoch(
    store: Store, clock: FakeClock
) -> None:
    store.deploy_location(spec())
    [first] = store.claim_work("agent-1", ["default"], 10, lease_seconds=30)
    assert isinstance(first.payload, LoadLocation)
    assert first.epoch == 1 and first.lease_until == clock.now + 30

    clock.advance(29)
    assert store.claim_work("agent-2", ["default"], 10, lease_seconds=30) == []
    assert not store.has_pending_work(["default"])

    clock.advance(2)  # the lease lapsed: agent-1 is presumed dead
    assert store.has_pending_work(["default"])
    [again] = store.claim_work("agent-2", ["default"], 10, lease_seconds=30)
    assert again.work_id == first.work_id and again.epoch == 2


def test_a_done_item_is_never_claimed_again(store: Store, clock: FakeClock) -> None:
    store.deploy_location(spec())
    [item] = store.claim_work("agent-1", ["default"], 10, 30)
    store.store_results([LocationLoaded(work_id=item.work_id, epoch=item.epoch,
                                        location="hello", snapshot=_empty())])
    clock.advance(3600)
    assert store.claim_work("agent-1", ["default"], 10, 30) == []


def test_claims_only_the_asked_queues_oldest_first(store: Store, clock: FakeClock) -> None:
    store.deploy_location(spec("a", queue="gpu"))
    clock.advance(1)
    store.deploy_location(spec("b", queue="default"))
    clock.advance(1)
    store.deploy_location(spec("c", queue="default"))
    assert store.claim_work("x", ["other"], 10, 30) == []
    items = store.claim_work("x", ["default", "gpu"], 2, 30)
    names = [item.payload.location.name for item in items
             if isinstance(item.payload, LoadLocation)]
    assert names == ["a", "b"]


def test_redeploying_an_unchanged_location_does_not_pile_up_loads(store: Store) -> None:
    for _ in range(3):
        store.deploy_location(spec())
    assert len(store.claim_work("x", ["default"], 10, 30)) == 1
    # while the load is claimed (in progress) a redeploy of the same spec still waits for it
    store.deploy_location(spec())
    assert store.claim_work("x", ["default"], 10, 30) == []
    # a changed spec is a new load
    store.deploy_location(LocationSpec(name="hello", module="hello.other"))
    [item] = store.claim_work("x", ["default"], 10, 30)
    assert isinstance(item.payload, LoadLocation)
    assert item.payload.location.module == "hello.other"


def test_claiming_a_launch_moves_the_run_to_starting(store: Store) -> None:
    load_location(store)
    run_id = store.launch_run("hello_job", run_config={"ops": {}}, traceparent="00-abc-def-01")
    run = store.get_run(run_id)
    assert run is not None and run.status == RunStatus.QUEUED
    [item] = store.claim_work("agent-1", ["default"], 10, 30)
    assert isinstance(item.payload, LaunchRun)
    assert item.payload.run_id == run_id and item.payload.attempt == 1
    assert item.payload.location.name == "hello" and item.payload.run_config == {"ops": {}}
    assert item.traceparent == "00-abc-def-01"
    run = store.get_run(run_id)
    assert run is not None and run.status == RunStatus.STARTING
    types = [event.type for event in store.run_events(run_id)]
    assert types == ["RUN_QUEUED", "RUN_STARTING"]


def test_concurrent_claimers_never_get_the_same_item(store: Store) -> None:
    for index in range(40):
        store.deploy_location(spec(f"loc{index}"))
    claimed: list[list[str]] = [[] for _ in range(4)]
    errors: list[BaseException] = []

    def claimer(slot: int) -> None:
        try:
            while items := store.claim_work(f"agent-{slot}", ["default"], 3, 60):
                claimed[slot].extend(item.work_id for item in items)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    every = [work_id for ids in claimed for work_id in ids]
    assert len(every) == 40
    assert len(set(every)) == 40, "an item was handed to two claimers"


def _empty() -> LocationSnapshot:
    return LocationSnapshot(location="hello")


def test_a_launch_carries_the_keys_of_the_dynamic_partitions_its_assets_use(
        store: Store) -> None:
    from tether import (
        Definitions,
        DynamicPartitionsDefinition,
        StaticPartitionsDefinition,
        asset,
        define_asset_job,
    )
    from tether.sdk import snapshot_definitions

    files, other = DynamicPartitionsDefinition("files"), DynamicPartitionsDefinition("other")

    @asset(partitions_def=files)
    def raw() -> int:
        return 1

    @asset
    def seen(raw: dict[str, int]) -> int:
        return len(raw)

    @asset(partitions_def=other)
    def elsewhere() -> int:
        return 1

    @asset(partitions_def=StaticPartitionsDefinition(["eu"]))
    def regional() -> int:
        return 1

    defs = Definitions(assets=[raw, seen, elsewhere, regional],
                       jobs=[define_asset_job("totals", [seen]),
                             define_asset_job("regions", [regional])])
    load_location(store, "lake", defines=snapshot_definitions(defs, "lake"))
    store.add_dynamic_partitions("files", ["a.csv", "b.csv"])
    store.add_dynamic_partitions("other", ["x"])
    store.launch_run("totals")
    store.launch_run("regions", partition="eu")
    claimed = {item.payload.job_name: item.payload
               for item in store.claim_work("agent", ["default"], 10, 60)
               if isinstance(item.payload, LaunchRun)}
    # the unpartitioned asset reads every partition of its dynamic upstream; the job's run
    # worker needs those keys, not the keys of definitions the job does not touch
    assert claimed["totals"].dynamic_partitions == {"files": ["a.csv", "b.csv"]}
    assert claimed["regions"].dynamic_partitions == {}
