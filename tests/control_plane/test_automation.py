"""Schedules and sensors on the control plane, on SQLite and PostgreSQL, with the test playing
the agent (it claims the EvaluateTick work items and answers them as a code server would)
and a clock it moves by hand: a schedule every minute over a simulated hour creates 60 runs
exactly once each, across a restart and two daemons; a missed stretch is caught up as
configured; a sensor keeps its cursor and keeps ticking after an error."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tether.control_plane._daemons import run_daemons
from tether.control_plane.errors import BadInput
from tether.control_plane.storage import Actor, KeyedRun, Store, TickStatus
from tether.settings import Settings
from tether.wire import (
    ErrorInfo,
    EvaluateTick,
    JobSnapshot,
    LoadLocation,
    LocationLoaded,
    LocationSnapshot,
    RequestedRun,
    ScheduleSnapshot,
    SensorSnapshot,
    TickEvaluated,
    TickOutcome,
)

from .conftest import FakeClock, spec

# 2026-11-30 00:00:00 UTC, a whole minute
MIDNIGHT = 1_796_083_200.0

SNAPSHOT = LocationSnapshot(
    location="auto",
    jobs=[JobSnapshot(name="minutely_job"), JobSnapshot(name="file_job")],
    schedules=[ScheduleSnapshot(name="every_minute", job_name="minutely_job", cron="* * * * *"),
               ScheduleSnapshot(name="hourly", job_name="minutely_job", cron="0 * * * *",
                                default_running=True)],
    sensors=[SensorSnapshot(name="new_files", job_name="file_job",
                            minimum_interval_seconds=30)],
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MIDNIGHT)


@pytest.fixture
def auto(store: Store) -> Iterator[Store]:
    """A store with the location "auto" loaded: two schedules and a sensor."""
    store.deploy_location(spec("auto"))
    [load] = [item for item in store.claim_work("loader", ["default"], 10, 60)
              if isinstance(item.payload, LoadLocation)]
    assert isinstance(load.payload, LoadLocation)
    store.store_results([LocationLoaded(work_id=load.work_id, epoch=load.epoch,
                                        location="auto", snapshot=SNAPSHOT,
                                        generation=load.payload.generation)])
    yield store


def _evaluate(store: Store, answer: object) -> list[EvaluateTick]:
    """Claim the ticks asked for and answer each with ``answer(tick)``, as an agent would."""
    items = [item for item in store.claim_work("agent-1", ["default"], 100, 60)
             if isinstance(item.payload, EvaluateTick)]
    results = [TickEvaluated(work_id=item.work_id, epoch=item.epoch,
                             tick_id=item.payload.tick_id,
                             outcome=answer(item.payload))  # type: ignore[operator]
               for item in items]
    if results:
        assert store.store_results(results).stored == len(results)
    return [item.payload for item in items]  # type: ignore[misc]


def _one_run(tick: EvaluateTick) -> TickOutcome:
    return TickOutcome(run_requests=[RequestedRun(job_name="minutely_job")])


def _scheduled_runs(store: Store) -> list[str]:
    return [run.run_id for run in store.list_runs(limit=1000)
            if run.tags.get("tether/schedule") == "every_minute"]


def test_a_schedule_every_minute_makes_60_runs_in_an_hour_across_a_restart(
        auto: Store, database_url: str, clock: FakeClock) -> None:
    auto.set_automation_running("schedule", "every_minute", running=True)
    store = auto
    evaluated: list[float] = []
    for minute in range(1, 61):
        clock.now = MIDNIGHT + 60 * minute + 0.5
        if minute == 30:
            # the daemons restart: a new process, with a store of its own
            store = Store.from_url(database_url, clock=clock)
        if 40 <= minute < 43:
            continue  # no daemon ran for three minutes
        for daemon in (store, auto):  # two daemons at once ask for the same ticks
            daemon.start_due_ticks(catch_up="all")
        evaluated += [tick.scheduled_time or 0 for tick in _evaluate(store, _one_run)
                      if tick.name == "every_minute"]
    # each due time once; the three missed ones caught up together
    assert sorted(evaluated) == [MIDNIGHT + 60 * minute for minute in range(1, 61)]
    runs = _scheduled_runs(store)
    assert len(runs) == 60 and len(set(runs)) == 60
    ticks = store.list_ticks("schedule", "auto", "every_minute", limit=100)
    assert len(ticks) == 60 and {t.status for t in ticks} == {TickStatus.SUCCESS}
    store.close()


def test_after_a_stretch_without_a_scheduler_only_the_latest_tick_is_evaluated(
        auto: Store, clock: FakeClock) -> None:
    auto.set_automation_running("schedule", "every_minute", running=True)
    clock.now = MIDNIGHT + 5 * 60 + 1  # five ticks were due meanwhile
    auto.start_due_ticks()
    [tick] = [t for t in _evaluate(auto, _one_run) if t.name == "every_minute"]
    assert tick.scheduled_time == MIDNIGHT + 5 * 60
    history = auto.list_ticks("schedule", "auto", "every_minute")
    assert [t.status for t in history] == [TickStatus.SUCCESS] + [TickStatus.SKIPPED] * 4
    assert all("missed while no scheduler ran" in (t.skip_reason or "") for t in history[1:])
    assert len(_scheduled_runs(auto)) == 1


def test_a_run_key_makes_a_run_once_and_a_skip_or_error_makes_none(
        auto: Store, clock: FakeClock) -> None:
    auto.set_automation_running("schedule", "every_minute", running=True)
    answers = iter([
        TickOutcome(run_requests=[RequestedRun(job_name="minutely_job", run_key="day-1",
                                               tags={"team": "data"})]),
        TickOutcome(run_requests=[RequestedRun(job_name="minutely_job", run_key="day-1")]),
        TickOutcome(skip_reason="holiday"),
        TickOutcome(error=ErrorInfo(class_name="ValueError", message="bad", stack="tb here")),
    ])
    for minute in range(1, 5):
        clock.now = MIDNIGHT + 60 * minute
        auto.start_due_ticks()
        _evaluate(auto, lambda tick: next(answers))
    [run] = [auto.get_run(run_id) for run_id in _scheduled_runs(auto)]
    assert run is not None and run.tags == {"team": "data", "tether/schedule": "every_minute"}
    newest_first = auto.list_ticks("schedule", "auto", "every_minute")
    assert [t.status for t in newest_first] == [
        TickStatus.FAILURE, TickStatus.SKIPPED, TickStatus.SKIPPED, TickStatus.SUCCESS]
    assert newest_first[0].error == "tb here" and newest_first[1].skip_reason == "holiday"
    # the first tick created the run; the second found its run key taken and created none
    assert newest_first[3].run_ids == [run.run_id] and newest_first[3].existing_runs == []
    assert newest_first[2].run_ids == []
    assert newest_first[2].existing_runs == [KeyedRun(run_key="day-1", run_id=run.run_id)]


def test_a_sensor_keeps_its_cursor_and_keeps_ticking_after_an_error(
        auto: Store, clock: FakeClock) -> None:
    auto.set_automation_running("sensor", "new_files", running=True)
    cursors: list[str | None] = []

    def answer(tick: EvaluateTick) -> TickOutcome:
        cursors.append(tick.cursor)
        count = int(tick.cursor or 0) + 1
        if count == 2 and "failed once" not in cursors:
            cursors.append("failed once")
            return TickOutcome(error=ErrorInfo(class_name="OSError", message="down"),
                               cursor=tick.cursor)
        return TickOutcome(run_requests=[RequestedRun(job_name="file_job",
                                                      run_key=f"file-{count}")],
                           cursor=str(count))

    for step in range(1, 9):
        clock.now = MIDNIGHT + 15 * step  # every 15 s; the sensor's interval is 30 s
        auto.start_due_ticks()
        _evaluate(auto, answer)
    assert cursors == [None, "1", "failed once", "1", "2"]
    sensor = next(a for a in auto.list_automations() if a.name == "new_files")
    assert sensor.cursor == "3" and sensor.running
    ticks = auto.list_ticks("sensor", "auto", "new_files")
    assert [t.status for t in ticks] == [TickStatus.SUCCESS, TickStatus.SUCCESS,
                                         TickStatus.FAILURE, TickStatus.SUCCESS]


def test_a_sensor_evaluates_one_tick_at_a_time(auto: Store, clock: FakeClock) -> None:
    auto.set_automation_running("sensor", "new_files", running=True)
    clock.advance(31)
    assert len(auto.start_due_ticks()) == 1
    clock.advance(31)
    assert auto.start_due_ticks() == []  # the first has no answer yet
    _evaluate(auto, lambda tick: TickOutcome(cursor="1"))
    clock.advance(31)
    assert len(auto.start_due_ticks()) == 1


def test_schedules_and_sensors_are_listed_and_started_by_name(
        auto: Store, clock: FakeClock) -> None:
    listed = {a.name: a for a in auto.list_automations()}
    assert set(listed) == {"every_minute", "hourly", "new_files"}
    assert not listed["every_minute"].running and listed["every_minute"].next_tick_time is None
    assert listed["hourly"].running  # default_running
    assert listed["hourly"].next_tick_time == MIDNIGHT + 3600
    started = auto.set_automation_running("schedule", "every_minute", running=True)
    assert started.running and started.next_tick_time == MIDNIGHT + 60
    stopped = auto.set_automation_running("schedule", "hourly", running=False)
    assert not stopped.running
    with pytest.raises(BadInput, match="no schedule named 'nope'; known: every_minute, hourly"):
        auto.set_automation_running("schedule", "nope", running=True)


def test_a_stopped_schedule_ticked_now_runs_once_per_due_time_and_stays_stopped(
        auto: Store, clock: FakeClock) -> None:
    auto.start_due_ticks()  # the scheduler's first turn: "hourly" (started by default) starts
    due = MIDNIGHT - 86_400
    tick = auto.tick_automation("schedule", "every_minute", scheduled_time=due,
                                actor=Actor(kind="cli", name="ops", via="cli"))
    assert (tick.status, tick.scheduled_time, tick.location) == (TickStatus.EVALUATING, due,
                                                                   "auto")
    [asked] = _evaluate(auto, _one_run)
    assert (asked.tick_id, asked.scheduled_time) == (tick.id, due)
    [run_id] = _scheduled_runs(auto)
    # the next tick now is due now, and its run is another; the same due time again is refused
    clock.advance(5)
    auto.tick_automation("schedule", "every_minute")
    _evaluate(auto, _one_run)
    assert len(_scheduled_runs(auto)) == 2
    iso = re.escape(datetime.fromtimestamp(due, UTC).isoformat())
    with pytest.raises(BadInput, match=f"has a tick due at {iso} already; pass another"):
        auto.tick_automation("schedule", "every_minute", scheduled_time=due)
    history = auto.list_ticks("schedule", "auto", "every_minute")
    assert [t.status for t in history] == [TickStatus.SUCCESS, TickStatus.SUCCESS]
    assert history[-1].run_ids == [run_id]
    listed = next(a for a in auto.list_automations() if a.name == "every_minute")
    assert not listed.running and listed.next_tick_time is None
    # an hour on, the scheduler asks for "hourly" only: ticking now did not start it
    clock.now = MIDNIGHT + 3601
    auto.start_due_ticks()
    assert [t.name for t in _evaluate(auto, _one_run)] == ["hourly"]
    [entry] = auto.audit_log(action="schedule.tick")
    assert (entry.target, entry.outcome, entry.actor.name) == ("auto/every_minute", "ok", "ops")


def test_a_sensor_ticked_now_reads_and_saves_its_cursor_and_respects_run_keys(
        auto: Store, clock: FakeClock) -> None:
    def answer(tick: EvaluateTick) -> TickOutcome:
        return TickOutcome(run_requests=[RequestedRun(job_name="file_job", run_key="f1")],
                           cursor=str(int(tick.cursor or 0) + 1))

    auto.tick_automation("sensor", "new_files")
    with pytest.raises(BadInput, match="being evaluated"):
        auto.tick_automation("sensor", "new_files")
    [first] = _evaluate(auto, answer)
    auto.tick_automation("sensor", "new_files")
    [second] = _evaluate(auto, answer)
    assert (first.cursor, second.cursor) == (None, "1")
    newest, oldest = auto.list_ticks("sensor", "auto", "new_files")
    assert newest.status == TickStatus.SKIPPED and newest.run_ids == []
    assert newest.existing_runs == [KeyedRun(run_key="f1", run_id=oldest.run_ids[0])]
    sensor = next(a for a in auto.list_automations() if a.name == "new_files")
    assert sensor.cursor == "2" and not sensor.running
    with pytest.raises(BadInput, match="a sensor's tick has no scheduled time"):
        auto.tick_automation("sensor", "new_files", scheduled_time=MIDNIGHT)
    with pytest.raises(BadInput, match="no sensor named 'nope'; known: new_files"):
        auto.tick_automation("sensor", "nope")


def test_a_run_request_the_control_plane_refuses_fails_the_tick_with_the_reason(
        auto: Store, clock: FakeClock) -> None:
    auto.set_automation_running("sensor", "new_files", running=True)
    clock.advance(31)
    auto.start_due_ticks()
    _evaluate(auto, lambda tick: TickOutcome(cursor="9", run_requests=[
        RequestedRun(job_name="file_job", run_key="ok"),
        RequestedRun(job_name="no_such_job", run_key="typo")]))
    [tick] = auto.list_ticks("sensor", "auto", "new_files")
    assert tick.status == TickStatus.FAILURE and len(tick.run_ids) == 1
    assert tick.error is not None and "run request 2 refused" in tick.error
    assert "no_such_job" in tick.error


def test_ticks_answered_in_one_batch_create_their_runs_together(
        auto: Store, clock: FakeClock) -> None:
    auto.set_automation_running("schedule", "every_minute", running=True)
    auto.set_automation_running("sensor", "new_files", running=True)
    clock.now = MIDNIGHT + 60
    auto.start_due_ticks()
    items = {item.payload.kind: item for item in auto.claim_work("agent-1", ["default"], 10, 60)
             if isinstance(item.payload, EvaluateTick)}
    schedule, sensor = items["schedule"], items["sensor"]
    assert isinstance(schedule.payload, EvaluateTick) and isinstance(sensor.payload, EvaluateTick)
    answered = TickEvaluated(work_id=schedule.work_id, epoch=schedule.epoch,
                             tick_id=schedule.payload.tick_id, outcome=_one_run(schedule.payload))
    same_key_twice = TickOutcome(cursor="1", run_requests=[
        RequestedRun(job_name="file_job", run_key="a"),
        RequestedRun(job_name="file_job", run_key="a", tags={"ignored": "yes"})])
    receipt = auto.store_results([
        answered,
        TickEvaluated(work_id=sensor.work_id, epoch=sensor.epoch,
                      tick_id=sensor.payload.tick_id, outcome=same_key_twice),
        answered,  # delivered twice in the same batch: applied once
    ])
    assert (receipt.stored, receipt.duplicates, receipt.rejected) == (2, 1, 0)
    [schedule_tick] = auto.list_ticks("schedule", "auto", "every_minute")
    [sensor_tick] = auto.list_ticks("sensor", "auto", "new_files")
    assert schedule_tick.status == sensor_tick.status == TickStatus.SUCCESS
    assert len(schedule_tick.run_ids) == 1 and len(sensor_tick.run_ids) == 1
    # the second request's key was the first's: named, not created again
    assert sensor_tick.existing_runs == [KeyedRun(run_key="a", run_id=sensor_tick.run_ids[0])]
    sensor_run = auto.get_run(sensor_tick.run_ids[0])
    assert sensor_run is not None and "ignored" not in sensor_run.tags
    assert len(auto.list_runs(limit=100)) == 2


def test_the_scheduler_asks_for_a_tick_when_it_falls_due_not_an_interval_later(
        database_url: str, tmp_path: Path) -> None:
    # a real clock and the daemons' own loop, with turns 30 s apart: a sensor due every
    # 0.3 s ticks on time only if the loop wakes for it
    store = Store.from_url(database_url)
    store.migrate()
    store.deploy_location(spec("auto"))
    [load] = store.claim_work("loader", ["default"], 10, 60)
    assert isinstance(load.payload, LoadLocation)
    fast = SensorSnapshot(name="fast", job_name="file_job", minimum_interval_seconds=0.3)
    store.store_results([LocationLoaded(
        work_id=load.work_id, epoch=load.epoch, location="auto", generation=load.payload.generation,
        snapshot=LocationSnapshot(location="auto", jobs=[JobSnapshot(name="file_job")],
                                  sensors=[fast]))])
    store.set_automation_running("sensor", "fast", running=True)
    stop = threading.Event()
    daemons = threading.Thread(target=run_daemons, args=(
        store, Settings(data_dir=str(tmp_path), daemon_interval_seconds=30.0), stop))
    daemons.start()
    try:
        # a window of 2 s in which to count the ticks: time passes on purpose
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            _evaluate(store, lambda tick: TickOutcome(cursor=tick.cursor))
            time.sleep(0.02)
    finally:
        stop.set()
        daemons.join()
        store.close()
    # 2 s / 0.3 s: about 6 ticks; without the wake-up, none (the first turn came too early)
    assert len(store.list_ticks("sensor", "auto", "fast")) >= 4
