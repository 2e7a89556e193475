"""The control plane's side of sensors on runs and assets, on SQLite and PostgreSQL: each
tick's work item carries the runs that reached a watched status, or the materializations of
the watched assets, since the sensor's cursor; a failed tick hands the same news again, and
fails its alert policy's TICK_FAILURE."""

from __future__ import annotations

import pytest

from tether.control_plane.alerts import policy_from
from tether.control_plane.storage import Store
from tether.wire import (
    AssetMaterialization,
    ErrorInfo,
    EvaluateTick,
    JobSnapshot,
    LoadLocation,
    LocationLoaded,
    LocationSnapshot,
    RunFailure,
    RunStart,
    SensorSnapshot,
    TickEvaluated,
    TickOutcome,
)

from .conftest import FakeClock, spec

SNAPSHOT = LocationSnapshot(
    location="watch",
    jobs=[JobSnapshot(name="nightly_job"), JobSnapshot(name="other_job"),
          JobSnapshot(name="cleanup_job")],
    sensors=[
        SensorSnapshot(name="on_failure", job_name="cleanup_job", minimum_interval_seconds=1,
                       sensor_type="run_status", run_statuses=["FAILURE"],
                       monitored_jobs=["nightly_job"]),
        SensorSnapshot(name="on_orders", job_name="cleanup_job", minimum_interval_seconds=1,
                       sensor_type="asset", asset_keys=["orders"]),
    ])


@pytest.fixture
def watch(store: Store) -> Store:
    store.deploy_location(spec("watch"))
    [load] = [item for item in store.claim_work("loader", ["default"], 10, 60)
              if isinstance(item.payload, LoadLocation)]
    assert isinstance(load.payload, LoadLocation)
    store.store_results([LocationLoaded(work_id=load.work_id, epoch=load.epoch,
                                        location="watch", snapshot=SNAPSHOT,
                                        generation=load.payload.generation)])
    for name in ("on_failure", "on_orders"):
        store.set_automation_running("sensor", name, running=True)
    return store


def _tick(store: Store, clock: FakeClock, name: str, *,
          fail: bool = False) -> EvaluateTick:
    """Ask for the sensors' ticks; answer ``name``'s as its code server would (moving the
    cursor to the news' end, or failing), the other's without news; ``name``'s tick."""
    clock.advance(2)
    store.start_due_ticks()
    found = None
    for item in store.claim_work("agent", ["default"], 10, 60):
        tick = item.payload
        if not isinstance(tick, EvaluateTick):
            continue  # a launch of the runs the test made
        failed = fail and tick.name == name
        outcome = (TickOutcome(error=ErrorInfo(class_name="OSError", message="down"),
                               cursor=tick.cursor) if failed
                   else TickOutcome(skip_reason="seen", cursor=str(tick.events_until)))
        store.store_results([TickEvaluated(work_id=item.work_id, epoch=item.epoch,
                                           tick_id=tick.tick_id, outcome=outcome)])
        if tick.name == name:
            found = tick
    assert found is not None, f"no tick of {name}"
    return found


def _fail_run(store: Store, job: str) -> str:
    run_id = store.launch_run(job)
    store.store_events([
        RunStart(run_id=run_id, attempt=1, seq=1, timestamp=1.0, job_name=job),
        RunFailure(run_id=run_id, attempt=1, seq=2, timestamp=2.0, message="disk full",
                   error=ErrorInfo(class_name="OSError", message="disk full"))])
    return run_id


def test_a_run_status_sensor_gets_each_watched_run_until_a_tick_succeeds(
        watch: Store, clock: FakeClock) -> None:
    _fail_run(watch, "nightly_job")  # before the sensor's first tick: history, not news
    # the first turn only starts the state; the next asks for a tick with no news
    clock.advance(2)
    watch.start_due_ticks()
    first = _tick(watch, clock, "on_failure")
    assert first.cursor is None and first.run_changes == [] and first.events_until > 0

    watched = _fail_run(watch, "nightly_job")
    _fail_run(watch, "other_job")
    failed_tick = _tick(watch, clock, "on_failure", fail=True)
    [change] = failed_tick.run_changes
    assert (change.run_id, change.job_name, change.status) == (watched, "nightly_job",
                                                               "FAILURE")
    assert change.error is not None and change.error.message == "disk full"
    # the tick failed: the cursor stayed, and the same news comes again
    again = _tick(watch, clock, "on_failure")
    assert [c.run_id for c in again.run_changes] == [watched]
    assert _tick(watch, clock, "on_failure").run_changes == []


def test_an_asset_sensor_gets_each_materialization_of_its_asset_once(
        watch: Store, clock: FakeClock) -> None:
    clock.advance(2)
    watch.start_due_ticks()
    _tick(watch, clock, "on_orders")
    run_id = watch.launch_run("other_job")
    watch.store_events([
        AssetMaterialization(run_id=run_id, attempt=1, seq=1, timestamp=1.0,
                             asset_key="orders"),
        AssetMaterialization(run_id=run_id, attempt=1, seq=2, timestamp=2.0,
                             asset_key="customers"),
        AssetMaterialization(run_id=run_id, attempt=1, seq=3, timestamp=3.0,
                             asset_key="orders")])
    tick = _tick(watch, clock, "on_orders")
    assert [(m.asset_key, m.run_id, m.job_name) for m in tick.materializations] == [
        ("orders", run_id, "other_job")] * 2
    assert tick.materializations[0].event_id < tick.materializations[1].event_id
    assert _tick(watch, clock, "on_orders").materializations == []
    watches = {a.name: a.watches for a in watch.list_automations()}
    assert watches == {"on_failure": "runs of nightly_job that end FAILURE",
                       "on_orders": "materializations of orders"}


def test_a_failed_sensor_tick_is_alerted_once(watch: Store, clock: FakeClock) -> None:
    watch.create_alert_policy(policy_from({
        "name": "ticks", "triggers": ["TICK_FAILURE"], "filters": {"locations": ["watch"]},
        "channel": {"kind": "webhook", "url": "http://127.0.0.1:9/"}}))
    clock.advance(2)
    watch.start_due_ticks()
    tick = _tick(watch, clock, "on_failure", fail=True)
    [delivery] = watch.alert_deliveries()
    assert delivery.dedup_key == f"tick:{tick.tick_id}"
    assert delivery.alert.title == "The sensor on_failure failed its tick"
    assert delivery.alert.text == "OSError: down"
