"""Backfill policies: how a backfill runs an asset's partitions, in one run per partition
(the default), one run for the whole range (``single_run``), or runs of up to N consecutive
partitions (``multi_run``). A run of several partitions is a ranged run: its body reads
``context.partition_key_range`` and its value covers the range."""

from __future__ import annotations

from tether.wire import BackfillPolicySnapshot

from ..errors import DefinitionError


class BackfillPolicy:
    """Made by :meth:`single_run` or :meth:`multi_run`; ``snapshot`` is what the control
    plane sees."""

    __slots__ = ("snapshot",)

    def __init__(self, snapshot: BackfillPolicySnapshot) -> None:
        self.snapshot = snapshot

    @property
    def max_partitions_per_run(self) -> int | None:
        """The most partitions one run covers; None: the whole range in one run."""
        return self.snapshot.max_partitions_per_run

    @classmethod
    def single_run(cls) -> BackfillPolicy:
        """A backfill materializes every partition of the range in one run."""
        return cls(BackfillPolicySnapshot(max_partitions_per_run=None))

    @classmethod
    def multi_run(cls, max_partitions_per_run: int = 1) -> BackfillPolicy:
        """A backfill materializes the range in runs of up to ``max_partitions_per_run``
        consecutive partitions each."""
        if (isinstance(max_partitions_per_run, bool)
                or not isinstance(max_partitions_per_run, int) or max_partitions_per_run < 1):
            raise DefinitionError(f"BackfillPolicy.multi_run: max_partitions_per_run must be "
                                  f"a whole number of at least 1, got {max_partitions_per_run!r}")
        return cls(BackfillPolicySnapshot(max_partitions_per_run=max_partitions_per_run))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BackfillPolicy) and other.snapshot == self.snapshot

    def __hash__(self) -> int:
        return hash(self.snapshot)

    def __repr__(self) -> str:
        if self.max_partitions_per_run is None:
            return "BackfillPolicy.single_run()"
        return f"BackfillPolicy.multi_run(max_partitions_per_run={self.max_partitions_per_run})"


def check_backfill_policy(value: object, partitioned: bool, where: str
                          ) -> BackfillPolicy | None:
    """``value`` as a definition's backfill policy: a BackfillPolicy of a partitioned one."""
    if value is None:
        return None
    if not isinstance(value, BackfillPolicy):
        raise DefinitionError(f"{where}: backfill_policy must be BackfillPolicy.single_run() "
                              f"or BackfillPolicy.multi_run(max_partitions_per_run=N), "
                              f"got {value!r}")
    if not partitioned:
        raise DefinitionError(f"{where}: backfill_policy={value!r} is for partitioned assets "
                              f"(a backfill runs partitions); give it partitions_def= too, or "
                              f"leave the policy out")
    return value
