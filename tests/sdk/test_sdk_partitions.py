"""Partitions definitions: their keys and time windows (time zones, DST), mappings between
assets, and what the wire snapshot carries to the control plane."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import msgspec
import pytest

from tether import (
    AllPartitionMapping,
    AssetOut,
    DailyPartitionsDefinition,
    Definitions,
    DynamicPartitionsDefinition,
    HourlyPartitionsDefinition,
    IdentityPartitionMapping,
    MonthlyPartitionsDefinition,
    MultiPartitionsDefinition,
    StaticPartitionsDefinition,
    TimeWindowPartitionMapping,
    WeeklyPartitionsDefinition,
    asset,
    define_asset_job,
    graph_asset,
    job,
    multi_asset,
    op,
)
from tether import partitions as keys
from tether.errors import DefinitionError, PartitionError
from tether.sdk import snapshot_definitions
from tether.wire import LocationSnapshot

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")
UTC_ZONE = ZoneInfo("UTC")


def at(*parts: int, zone: ZoneInfo = UTC_ZONE) -> float:
    return datetime(*parts, tzinfo=zone).timestamp()  # type: ignore[misc]


def test_daily_keys_are_the_complete_days_and_end_offset_adds_the_current_one() -> None:
    daily = DailyPartitionsDefinition("2026-11-28")
    now = at(2026, 12, 1, 15)
    assert keys.partition_keys(daily.snapshot, now=now) == [
        "2026-11-28", "2026-11-29", "2026-11-30"]
    current = DailyPartitionsDefinition("2026-11-28", end_offset=1)
    assert keys.partition_keys(current.snapshot, now=now)[-1] == "2026-12-01"
    assert keys.partition_count(current.snapshot, now=now) == 4
    # nothing is complete before the first day ends
    assert keys.partition_keys(daily.snapshot, now=at(2026, 11, 28, 23)) == []


def test_daily_windows_follow_the_wall_clock_across_dst() -> None:
    daily = DailyPartitionsDefinition("2026-03-27", timezone="Europe/Paris")
    spring = daily.time_window_for_partition_key("2026-03-29")
    assert spring.start == datetime(2026, 3, 29, tzinfo=PARIS)
    assert spring.end == datetime(2026, 3, 30, tzinfo=PARIS)
    # aware datetimes of one zone subtract as wall clocks: compare real instants
    assert spring.end.timestamp() - spring.start.timestamp() == 23 * 3600
    autumn = daily.time_window_for_partition_key("2026-10-25")
    assert autumn.end.timestamp() - autumn.start.timestamp() == 25 * 3600
    # a Paris day is complete at Paris midnight, not UTC's
    assert keys.partition_keys(daily.snapshot, now=at(2026, 3, 28, 23, 30, zone=PARIS)) == [
        "2026-03-27"]
    assert keys.partition_keys(daily.snapshot, now=at(2026, 3, 29, 0, 30, zone=PARIS))[-1] == (
        "2026-03-28")


def test_hourly_keys_skip_the_missing_hour_and_merge_the_repeated_one() -> None:
    hourly = HourlyPartitionsDefinition("2026-03-08", timezone="America/New_York")
    spring = keys.partition_keys(hourly.snapshot, now=at(2026, 3, 8, 5, zone=NEW_YORK))
    # clocks jump from 02:00 to 03:00: no 02:00 partition, and each window is one hour
    assert spring == ["2026-03-08-00:00", "2026-03-08-01:00", "2026-03-08-03:00",
                      "2026-03-08-04:00"]
    one = hourly.time_window_for_partition_key("2026-03-08-01:00")
    assert one.end.timestamp() - one.start.timestamp() == 3600

    # the skipped hour is no key: a run of it is refused
    with pytest.raises(PartitionError, match="has no partition '2026-03-08-02:00'"):
        keys.check_partition(hourly.snapshot, "2026-03-08-02:00",
                             now=at(2026, 3, 9, zone=NEW_YORK), what="asset 'clicks'")

    autumn = HourlyPartitionsDefinition("2026-11-01", timezone="America/New_York")
    day = keys.partition_keys(autumn.snapshot, now=at(2026, 11, 2, zone=NEW_YORK))
    assert len(day) == len(set(day)) == 24
    # 01:00 happens twice: one partition, two real hours long
    repeated = autumn.time_window_for_partition_key("2026-11-01-01:00")
    assert repeated.end.timestamp() - repeated.start.timestamp() == 7200
    assert sum(keys.time_window(autumn.snapshot, key).end.timestamp()
               - keys.time_window(autumn.snapshot, key).start.timestamp() for key in day) == (
        25 * 3600)


def test_weekly_and_monthly_align_to_their_first_boundary() -> None:
    # 2026-12-02 is a Wednesday: the first week starts on Sunday 2026-12-06
    weekly = WeeklyPartitionsDefinition("2026-12-02")
    assert keys.partition_keys(weekly.snapshot, now=at(2026, 12, 21)) == [
        "2026-12-06", "2026-12-13"]
    mondays = WeeklyPartitionsDefinition("2026-12-02", day_offset=1)
    assert keys.partition_keys(mondays.snapshot, now=at(2026, 12, 15)) == ["2026-12-07"]
    monthly = MonthlyPartitionsDefinition("2026-01-15")
    assert keys.partition_keys(monthly.snapshot, now=at(2026, 4, 30)) == [
        "2026-02-01", "2026-03-01"]
    window = monthly.time_window_for_partition_key("2026-02-01")
    assert (window.start.date().isoformat(), window.end.date().isoformat()) == (
        "2026-02-01", "2026-03-01")


def test_static_dynamic_and_multi_keys() -> None:
    regions = StaticPartitionsDefinition(["eu", "us"])
    assert regions.get_partition_keys() == ["eu", "us"]
    files = DynamicPartitionsDefinition("files")
    assert keys.partition_keys(files.snapshot, now=0, dynamic={"files": ["a.csv"]}) == ["a.csv"]
    multi = MultiPartitionsDefinition({"region": regions, "date": DailyPartitionsDefinition(
        "2026-11-30")})
    got = keys.partition_keys(multi.snapshot, now=at(2026, 12, 2))
    # dimensions in name order: date first
    assert got == ["2026-11-30|eu", "2026-11-30|us", "2026-12-01|eu", "2026-12-01|us"]
    assert keys.key_index(multi.snapshot, "2026-12-01|eu", now=at(2026, 12, 2)) == 2
    assert keys.key_index(multi.snapshot, "2026-12-02|eu", now=at(2026, 12, 2)) is None


def test_unknown_keys_are_refused_with_what_is_allowed() -> None:
    daily = DailyPartitionsDefinition("2026-01-01")
    now = at(2026, 12, 2)
    for bad in ("2025-12-31", "2026-12-02", "yesterday", "2026-13-01"):
        with pytest.raises(PartitionError) as raised:
            keys.check_partition(daily.snapshot, bad, now=now, what="job 'daily'")
        assert f"job 'daily' has no partition {bad!r}" in str(raised.value)
        assert "2026-01-01 to 2026-12-01" in str(raised.value)
    with pytest.raises(PartitionError, match="comes before"):
        keys.key_range(daily.snapshot, "2026-02-01", "2026-01-01", now=now)
    assert len(keys.key_range(daily.snapshot, "2026-01-30", "2026-02-02", now=now)) == 4


def test_mappings_pick_the_upstream_partitions() -> None:
    daily = DailyPartitionsDefinition("2026-01-01").snapshot
    hourly = HourlyPartitionsDefinition("2026-01-01").snapshot
    now = at(2026, 12, 2)
    same = keys.upstream_keys(None, downstream=daily, key="2026-03-02", upstream=daily, now=now)
    assert same == ["2026-03-02"]
    previous = keys.upstream_keys(TimeWindowPartitionMapping(-1, 0).snapshot,
                                  downstream=daily, key="2026-03-02", upstream=daily, now=now)
    assert previous == ["2026-03-01", "2026-03-02"]
    # the first day has no previous one
    assert keys.upstream_keys(TimeWindowPartitionMapping(-1, 0).snapshot, downstream=daily,
                              key="2026-01-01", upstream=daily, now=now) == ["2026-01-01"]
    hours = keys.upstream_keys(None, downstream=daily, key="2026-03-02", upstream=hourly,
                               now=now)
    assert hours[0] == "2026-03-02-00:00" and hours[-1] == "2026-03-02-23:00"
    assert len(hours) == 24
    every = keys.upstream_keys(AllPartitionMapping().snapshot, downstream=daily,
                               key="2026-03-02", upstream=daily, now=now)
    assert len(every) == 335
    regions = StaticPartitionsDefinition(["eu"]).snapshot
    with pytest.raises(PartitionError, match="no partition 'us'"):
        keys.upstream_keys(IdentityPartitionMapping().snapshot, downstream=regions, key="us",
                           upstream=regions, now=now)


def test_bad_definitions_say_what_is_allowed() -> None:
    with pytest.raises(DefinitionError, match="unknown timezone 'Mars/Olympus'"):
        DailyPartitionsDefinition("2026-01-01", timezone="Mars/Olympus")
    with pytest.raises(DefinitionError, match="is not a date"):
        DailyPartitionsDefinition("first of january")
    with pytest.raises(DefinitionError, match="unique"):
        StaticPartitionsDefinition(["eu", "eu"])
    with pytest.raises(DefinitionError, match=r"without '\|'"):
        StaticPartitionsDefinition(["eu|us"])
    with pytest.raises(DefinitionError, match="exactly two dimensions"):
        MultiPartitionsDefinition({"a": StaticPartitionsDefinition(["x"])})
    with pytest.raises(DefinitionError, match="day of the month"):
        MonthlyPartitionsDefinition("2026-01-01", day_offset=31)


def test_a_multi_asset_and_a_graph_asset_check_their_partitions_and_mappings() -> None:
    daily = DailyPartitionsDefinition("2026-01-01")
    with pytest.raises(DefinitionError, match=r"multi-asset 'split_events': "
                                              r"partition_mappings names 'orders', which is "
                                              r"not upstream of it; its upstream: events"):
        multi_asset(outs={"a": AssetOut(), "b": AssetOut()}, partitions_def=daily,
                    partition_mappings={"orders": IdentityPartitionMapping()})(split_events)
    with pytest.raises(DefinitionError, match="must be a PartitionMapping"):
        multi_asset(outs={"a": AssetOut(), "b": AssetOut()}, partitions_def=daily,
                    partition_mappings={"events": "identity"})(split_events)  # type: ignore[dict-item]
    with pytest.raises(DefinitionError, match="partitions_def must be a partitions definition"):
        multi_asset(outs={"a": AssetOut()}, partitions_def="daily")(split_events)  # type: ignore[arg-type]
    split = multi_asset(outs={"a": AssetOut(), "b": AssetOut()}, partitions_def=daily,
                        partition_mappings={"events": AllPartitionMapping()})(split_events)
    assert [(d.key, d.partitions_def, list(d.partition_mappings)) for d in split.assets] == [
        ("a", daily, ["events"]), ("b", daily, ["events"])]
    with pytest.raises(DefinitionError, match=r"asset 'loud': partition_mappings names "
                                              r"'orders', which is not upstream of it"):
        graph_asset(partitions_def=daily,
                    partition_mappings={"orders": IdentityPartitionMapping()})(loud)
    made = graph_asset(partitions_def=daily,
                       partition_mappings={"events": AllPartitionMapping()})(loud)
    assert (made.partitions_def, list(made.partition_mappings)) == (daily, ["events"])


def split_events(events: str) -> tuple[str, str]:
    return events, events


@op
def upper(text: str) -> str:
    return text.upper()


def loud(events: str) -> str:
    return upper(events)  # type: ignore[no-any-return]


def test_partitioned_assets_and_jobs_snapshot_their_partitions() -> None:
    daily = DailyPartitionsDefinition("2026-01-01", timezone="Europe/Paris")

    @asset(partitions_def=daily)
    def events() -> int:
        return 1

    @asset(partitions_def=daily, partition_mappings={"events": TimeWindowPartitionMapping(-1)})
    def rolling(events: dict[str, int]) -> int:
        return sum(events.values())

    @op
    def work() -> None:
        pass

    @job(partitions_def=StaticPartitionsDefinition(["eu", "us"]))
    def regional() -> None:
        work()

    defs = Definitions(assets=[events, rolling], jobs=[
        define_asset_job("daily_assets", [events, rolling]), regional])
    snapshot = snapshot_definitions(defs, "here")
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(snapshot), type=LocationSnapshot)
    assert decoded == snapshot
    by_key = {a.key: a for a in decoded.assets}
    assert by_key["events"].partitions == daily.snapshot
    assert by_key["rolling"].partition_mappings == {
        "events": TimeWindowPartitionMapping(-1).snapshot}
    assert decoded.job("daily_assets").partitions == daily.snapshot  # type: ignore[union-attr]
    assert decoded.job("regional").partitions == StaticPartitionsDefinition(  # type: ignore
        ["eu", "us"]).snapshot
    # the control plane enumerates from the snapshot alone
    assert keys.partition_keys(by_key["events"].partitions,  # type: ignore[arg-type]
                               now=at(2026, 1, 3, 1, zone=PARIS)) == ["2026-01-01", "2026-01-02"]


def test_an_asset_job_refuses_assets_partitioned_differently() -> None:
    @asset(partitions_def=DailyPartitionsDefinition("2026-01-01"))
    def days() -> int:
        return 1

    @asset(partitions_def=StaticPartitionsDefinition(["eu"]))
    def regions() -> int:
        return 1

    with pytest.raises(DefinitionError, match="different partitions"):
        Definitions(assets=[days, regions], jobs=[define_asset_job("both", [days, regions])])
    with pytest.raises(DefinitionError, match="partition_mappings names 'nope'"):
        asset(partition_mappings={"nope": AllPartitionMapping()})(lambda: 1)


def test_start_is_read_as_wall_clock_time_in_the_timezone() -> None:
    daily = DailyPartitionsDefinition(datetime(2026, 1, 1, tzinfo=UTC), timezone="Asia/Tokyo")
    window = daily.time_window_for_partition_key("2026-01-01")
    assert window.start == datetime(2026, 1, 1, tzinfo=ZoneInfo("Asia/Tokyo"))


def test_a_partitioned_run_stores_each_partition_and_loads_the_mapped_ones() -> None:
    from tether import IOManager, materialize

    daily = DailyPartitionsDefinition("2026-01-01")
    seen: list[tuple[str, str]] = []

    @asset(partitions_def=daily)
    def events(context) -> int:  # type: ignore[no-untyped-def]
        window = context.partition_time_window
        seen.append((context.partition_key, window.start.isoformat()))
        return int(context.partition_key[-2:])

    @asset(partitions_def=daily,
           partition_mappings={"events": TimeWindowPartitionMapping(start_offset=-1)})
    def two_days(events: dict[str, int] | int) -> dict[str, int] | int:
        return events

    class Shelf(IOManager):
        def __init__(self) -> None:
            self.values: dict[tuple[str | None, str | None], object] = {}

        def handle_output(self, context, obj):  # type: ignore[no-untyped-def]
            self.values[context.asset_key, context.partition_key] = obj

        def load_input(self, context):  # type: ignore[no-untyped-def]
            return self.values[context.asset_key, context.partition_key]

    shelf = Shelf()
    for day in ("2026-01-01", "2026-01-02"):
        result = materialize([events, two_days], resources={"io_manager": shelf},
                             partition_key=day)
        assert result.success
    assert seen == [("2026-01-01", "2026-01-01T00:00:00+00:00"),
                    ("2026-01-02", "2026-01-02T00:00:00+00:00")]
    assert shelf.values["events", "2026-01-02"] == 2
    # the first day has no previous one: one value; then a dict of both days by key
    assert shelf.values["two_days", "2026-01-01"] == 1
    assert shelf.values["two_days", "2026-01-02"] == {"2026-01-01": 1, "2026-01-02": 2}
    planned = [e for e in result.events if type(e).__name__ == "AssetMaterializationPlanned"]
    assert [(e.asset_key, e.partition) for e in planned] == [  # type: ignore[attr-defined]
        ("events", "2026-01-02"), ("two_days", "2026-01-02")]


def test_a_run_of_a_partitioned_job_needs_a_known_partition() -> None:
    from tether import materialize

    @asset(partitions_def=StaticPartitionsDefinition(["eu", "us"]))
    def sales(context) -> str:  # type: ignore[no-untyped-def]
        return str(context.partition_key)

    missing = materialize([sales], raise_on_error=False)
    assert not missing.success
    assert "is partitioned: give the partition to run" in str(missing.events[-1])
    unknown = materialize([sales], partition_key="asia", raise_on_error=False)
    assert "has no partition 'asia'; its partitions: static: eu, us" in str(unknown.events[-1])

    @op
    def plain() -> None:
        pass

    @job
    def unpartitioned() -> None:
        plain()

    odd = unpartitioned.execute_in_process(partition_key="eu", raise_on_error=False)
    assert "job 'unpartitioned' is not partitioned" in str(odd.events[-1])


def test_a_schedule_built_from_a_partitioned_job_runs_the_window_that_just_ended() -> None:
    from tether import build_schedule_from_partitioned_job
    from tether.sdk import evaluate_schedule

    @asset(partitions_def=DailyPartitionsDefinition("2026-01-01", timezone="Europe/Paris",
                                                    hour_offset=2))
    def events() -> int:
        return 1

    daily = define_asset_job("daily", [events],
                             partitions_def=DailyPartitionsDefinition(
                                 "2026-01-01", timezone="Europe/Paris", hour_offset=2))
    schedule = build_schedule_from_partitioned_job(daily)
    assert (schedule.snapshot.cron, schedule.snapshot.timezone) == ("0 2 * * *",
                                                                   "Europe/Paris")
    outcome = evaluate_schedule(schedule, at(2026, 3, 29, 2, zone=PARIS))
    assert [(r.partition, r.run_key) for r in outcome.run_requests] == [
        ("2026-03-28", "2026-03-28")]
    defs = Definitions(assets=[events], schedules=[schedule])
    assert defs.get_job("daily").partitions_def is not None

    @op
    def plain() -> None:
        pass

    @job
    def unpartitioned() -> None:
        plain()

    with pytest.raises(DefinitionError, match="must be partitioned by hour, day, week or month"):
        build_schedule_from_partitioned_job(unpartitioned)


def test_a_sensor_result_adds_dynamic_partitions_and_requests_their_runs() -> None:
    from tether import RunRequest, SensorResult, sensor
    from tether.sdk import evaluate_sensor
    from tether.wire import AddDynamicPartitions

    files = DynamicPartitionsDefinition("files")

    @asset(partitions_def=files)
    def rows() -> int:
        return 1

    @sensor(assets=[rows])
    def new_files(context):  # type: ignore[no-untyped-def]
        return SensorResult(run_requests=[RunRequest(partition_key="b.csv")],
                            dynamic_partitions_requests=[files.build_add_request(["b.csv"])],
                            cursor="b.csv")

    outcome = evaluate_sensor(new_files, None, None)
    assert outcome.error is None
    assert outcome.dynamic_partitions_requests == [AddDynamicPartitions(name="files",
                                                                        keys=["b.csv"])]
    assert [r.partition for r in outcome.run_requests] == ["b.csv"]
    assert outcome.cursor == "b.csv"

    @sensor(assets=[rows])
    def only_adds(context):  # type: ignore[no-untyped-def]
        return SensorResult(dynamic_partitions_requests=[files.build_add_request(["c"])])

    added = evaluate_sensor(only_adds, None, None)
    assert added.run_requests == [] and "dynamic partitions changed" in str(added.skip_reason)
    with pytest.raises(DefinitionError, match="without '"):
        files.build_add_request(["a|b"])
