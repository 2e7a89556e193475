"""Backfill policies: what they accept, what the snapshot carries to the control plane, and a
ranged run in the executor: the body sees the whole range, the value covering it is stored
once (and read whole downstream in the run), and each partition of the range is materialized.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tether import (
    AssetOut,
    BackfillPolicy,
    DailyPartitionsDefinition,
    Definitions,
    OpContext,
    StaticPartitionsDefinition,
    asset,
    define_asset_job,
    multi_asset,
)
from tether.errors import DefinitionError, PartitionError
from tether.sdk import RunEmitter, execute_job, snapshot_definitions
from tether.wire import (
    AssetMaterialization,
    AssetMaterializationPlanned,
    BackfillPolicySnapshot,
    LocationSnapshot,
    RunEvent,
    RunFailure,
)

DAILY = DailyPartitionsDefinition("2025-01-01")
SEEN: dict[str, Any] = {}


@asset(partitions_def=DAILY, backfill_policy=BackfillPolicy.single_run())
def totals(context: OpContext) -> dict[str, int]:
    SEEN["range"] = context.partition_key_range
    SEEN["keys"] = context.partition_keys
    SEEN["window"] = context.partition_time_window
    SEEN["ranged"] = context.has_partition_key_range
    try:
        SEEN["partition_key"] = context.partition_key
    except PartitionError as exc:
        SEEN["partition_key"] = f"refused: {exc}"
    return {key: int(key[-2:]) for key in context.partition_keys}


@asset(partitions_def=DAILY, backfill_policy=BackfillPolicy.single_run())
def report(totals: dict[str, int]) -> int:
    return sum(totals.values())


@multi_asset(outs={"a": AssetOut(), "b": AssetOut()}, partitions_def=DAILY,
             backfill_policy=BackfillPolicy.multi_run(max_partitions_per_run=7))
def pair() -> tuple[int, int]:
    return 1, 2


DEFS = Definitions(assets=[totals, report, pair],
                   jobs=[define_asset_job("daily_assets", ["totals", "report"])])


def _run(tmp_path: Path, partition_range: tuple[str, str] | None,
         partition: str | None = None) -> list[RunEvent]:
    events: list[RunEvent] = []
    execute_job(DEFS, "daily_assets", emitter=RunEmitter(run_id="r1", attempt=1,
                                                         sink=events.append),
                storage_dir=str(tmp_path),
                partition=partition, partition_range=partition_range)
    return events


def test_the_policies_and_what_they_refuse() -> None:
    assert BackfillPolicy.single_run().max_partitions_per_run is None
    assert BackfillPolicy.multi_run(max_partitions_per_run=10).max_partitions_per_run == 10
    assert BackfillPolicy.multi_run(3) == BackfillPolicy.multi_run(3) != BackfillPolicy.single_run()
    for bad in (0, -1, 2.5, True):
        with pytest.raises(DefinitionError, match="max_partitions_per_run must be a whole "
                           f"number of at least 1, got {bad!r}"):
            BackfillPolicy.multi_run(max_partitions_per_run=bad)  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match=r"asset 'plain': backfill_policy=BackfillPolicy."
                       r"single_run\(\) is for partitioned assets .* give it partitions_def"):
        @asset(backfill_policy=BackfillPolicy.single_run())
        def plain() -> None: ...
    with pytest.raises(DefinitionError, match="multi-asset 'both': backfill_policy="):
        @multi_asset(outs={"x": AssetOut()}, backfill_policy=BackfillPolicy.multi_run(2))
        def both() -> int: ...
    with pytest.raises(DefinitionError, match="backfill_policy must be BackfillPolicy"):
        @asset(partitions_def=DAILY, backfill_policy="single")  # type: ignore[arg-type]
        def typo() -> None: ...


def test_the_snapshot_carries_each_assets_policy() -> None:
    snapshot = snapshot_definitions(DEFS, "here")
    wire = msgspec.msgpack.decode(msgspec.msgpack.encode(snapshot), type=LocationSnapshot)
    policies = {asset.key: asset.backfill_policy for asset in wire.assets}
    assert policies == {"totals": BackfillPolicySnapshot(max_partitions_per_run=None),
                        "report": BackfillPolicySnapshot(max_partitions_per_run=None),
                        "a": BackfillPolicySnapshot(max_partitions_per_run=7),
                        "b": BackfillPolicySnapshot(max_partitions_per_run=7)}


def test_a_ranged_run_sees_the_range_stores_its_value_once_and_materializes_each(
        tmp_path: Path) -> None:
    events = _run(tmp_path, ("2025-01-01", "2025-01-03"))
    assert SEEN["range"] == ("2025-01-01", "2025-01-03")
    assert SEEN["keys"] == ["2025-01-01", "2025-01-02", "2025-01-03"]
    assert (SEEN["window"].start.isoformat(), SEEN["window"].end.isoformat()) == (
        "2025-01-01T00:00:00+00:00", "2025-01-04T00:00:00+00:00")
    assert SEEN["ranged"] is True
    assert SEEN["partition_key"].startswith("refused: ")
    assert "ranged run of partitions '2025-01-01' to '2025-01-03'" in SEEN["partition_key"]
    assert "read context.partition_key_range" in SEEN["partition_key"]
    stored = tmp_path / "local" / "assets" / "totals" / "2025-01-01...2025-01-03.pickle"
    assert pickle.loads(stored.read_bytes()) == {"2025-01-01": 1, "2025-01-02": 2,
                                                 "2025-01-03": 3}
    # the downstream asset of the run read the value of the whole range
    report_file = tmp_path / "local" / "assets" / "report" / "2025-01-01...2025-01-03.pickle"
    assert pickle.loads(report_file.read_bytes()) == 6
    made = [(event.asset_key, event.partition) for event in events
            if isinstance(event, AssetMaterialization)]
    planned = [(event.asset_key, event.partition) for event in events
               if isinstance(event, AssetMaterializationPlanned)]
    expected = [(key, day) for key in ("totals", "report")
                for day in ("2025-01-01", "2025-01-02", "2025-01-03")]
    assert made == expected and planned == expected


def test_a_run_of_one_partition_reads_it_as_a_range_of_one(tmp_path: Path) -> None:
    _run(tmp_path, None, partition="2025-01-02")
    assert SEEN["range"] == ("2025-01-02", "2025-01-02") and SEEN["keys"] == ["2025-01-02"]
    assert SEEN["partition_key"] == "2025-01-02"
    assert (tmp_path / "local" / "assets" / "totals" / "2025-01-02.pickle").exists()


@pytest.mark.parametrize(("partition", "partition_range", "message"), [
    (None, ("2025-01-03", "2025-01-01"), "'2025-01-01' comes before '2025-01-03'"),
    ("2025-01-01", ("2025-01-01", "2025-01-02"), "one partition or of a range of them"),
])
def test_a_bad_range_fails_the_run_before_its_first_step(
        tmp_path: Path, partition: str | None, partition_range: tuple[str, str],
        message: str) -> None:
    events = _run(tmp_path, partition_range, partition=partition)
    [failure] = [event for event in events if isinstance(event, RunFailure)]
    assert "invalid partition" in failure.message and message in failure.message


def test_a_policy_on_static_partitions_is_allowed() -> None:
    regions = StaticPartitionsDefinition(["eu", "us"])

    @asset(partitions_def=regions, backfill_policy=BackfillPolicy.multi_run(2))
    def by_region() -> None: ...

    assert by_region.backfill_policy == BackfillPolicy.multi_run(2)
