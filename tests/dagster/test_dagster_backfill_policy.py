"""``dg.BackfillPolicy`` on a Dagster ``@asset`` reaches Tether's snapshot; where Tether does not
take it (a ``@multi_asset``'s ``AssetOut``), it is refused with what to do instead."""

from __future__ import annotations

import pytest

import tether.dagster as dg
from tether.errors import DefinitionError
from tether.sdk import snapshot_definitions
from tether.wire import BackfillPolicySnapshot


def test_a_dagster_assets_backfill_policy_reaches_the_snapshot() -> None:
    @dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2025-01-01"),
              backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=5))
    def events(context: dg.AssetExecutionContext) -> list[str]:
        return list(context.partition_keys)

    [asset] = snapshot_definitions(dg.Definitions(assets=[events]), "here").assets
    assert asset.backfill_policy == BackfillPolicySnapshot(max_partitions_per_run=5)


def test_an_asset_outs_backfill_policy_is_refused_with_what_to_do() -> None:
    with pytest.raises(DefinitionError, match="give backfill_policy= to the partitioned @asset"):
        dg.AssetOut(backfill_policy=dg.BackfillPolicy.single_run())
