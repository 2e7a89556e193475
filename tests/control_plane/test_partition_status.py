"""The partition status projection's rule, as a pure fold: the latest run to plan a partition
decides it, a failure leaves it failed, a success or cancel without a materialization leaves
it as it was."""

from __future__ import annotations

from tether.control_plane.storage._partition_status import (
    Ended,
    Materialized,
    PartitionRow,
    PartitionState,
    Planned,
    RunEnd,
    fold,
)


def folded(*facts: object) -> PartitionRow:
    row = PartitionRow()
    for fact in facts:
        row = fold(row, fact)  # type: ignore[arg-type]
    return row


def test_success_failure_and_rerun() -> None:
    assert folded(Planned("a")).status is PartitionState.IN_PROGRESS
    assert folded(Planned("a"), Materialized("a"), Ended("a", RunEnd.SUCCESS)).status is (
        PartitionState.MATERIALIZED)
    failed = folded(Planned("a"), Materialized("a"), Ended("a", RunEnd.SUCCESS),
                    Planned("b"), Ended("b", RunEnd.FAILURE))
    # the latest run failed: failed, though an earlier one materialized it
    assert failed.status is PartitionState.FAILED and failed.materialized_run_id == "a"
    rerun = fold(fold(fold(failed, Planned("c")), Materialized("c")), Ended("c", RunEnd.SUCCESS))
    assert rerun.status is PartitionState.MATERIALIZED and rerun.materialized_run_id == "c"


def test_a_run_that_ends_without_materializing_leaves_it_as_it_was() -> None:
    assert folded(Planned("a"), Ended("a", RunEnd.CANCELED)).status is PartitionState.MISSING
    assert folded(Planned("a"), Materialized("a"), Planned("b"),
                  Ended("b", RunEnd.SUCCESS)).status is PartitionState.MATERIALIZED
    # an older run's end does not settle the partition a newer run has in progress
    assert folded(Planned("a"), Planned("b"), Ended("a", RunEnd.FAILURE)).status is (
        PartitionState.IN_PROGRESS)
