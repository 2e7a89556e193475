"""Metadata about outputs: ``Output(value, metadata=...)``, ``MaterializeResult``,
``context.add_output_metadata``, typed on the way into the materialization event."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from tether import (
    AssetOut,
    AssetSpec,
    Definitions,
    MaterializeResult,
    Metadata,
    OpContext,
    Output,
    asset,
    define_asset_job,
    job,
    multi_asset,
    op,
)
from tether.errors import DefinitionError
from tether.sdk import RunEmitter, execute_job, snapshot_definitions
from tether.wire import (
    AssetMaterialization,
    FloatValue,
    IntValue,
    JsonValue,
    LogMessage,
    MarkdownValue,
    PathValue,
    RunEvent,
    StepFailure,
    TablePreview,
    TextValue,
    UrlValue,
)


@asset
def orders(context: OpContext) -> Output:
    rows = [{"id": 1, "total": 9.5}, {"id": 2, "total": 3.0}]
    context.add_output_metadata({"rows": 1, "source": "shop"})
    return Output(rows, metadata={
        "rows": len(rows),  # the Output's value wins over the context's
        "mean": 6.25,
        "dashboard": Metadata.url("https://bi.example/orders"),
        "file": Path("/data/orders.parquet"),
        "schema": {"id": "int", "total": "float"},
        "notes": Metadata.md("**fresh**"),
        "preview": Metadata.table(rows),
    })


@asset
def external() -> MaterializeResult:
    return MaterializeResult(metadata={"written": 3})


@asset
def bad_metadata() -> Output:
    return Output(1, metadata={"client": object()})


@op
def counted(context: OpContext) -> int:
    context.add_output_metadata({"count": 3})
    return 3


@job
def op_job() -> None:
    counted()


DEFS = Definitions(assets=[orders, external, bad_metadata],
                   jobs=[define_asset_job("shop", selection=["orders", "external"]),
                         define_asset_job("bad", selection=["bad_metadata"]), op_job])


def run(job_name: str, storage: Path) -> list[RunEvent]:
    events: list[RunEvent] = []
    execute_job(DEFS, job_name, emitter=RunEmitter(run_id="r", attempt=1, sink=events.append),
                location="loc", storage_dir=str(storage))
    return events


def materializations(events: list[RunEvent]) -> dict[str, dict[str, Any]]:
    return {e.asset_key: e.metadata for e in events if isinstance(e, AssetMaterialization)}


def test_output_and_context_metadata_are_typed_on_the_materialization(tmp_path: Path) -> None:
    found = materializations(run("shop", tmp_path))
    assert found["orders"] == {
        "rows": IntValue(value=2),
        "source": TextValue(text="shop"),
        "mean": FloatValue(value=6.25),
        "dashboard": UrlValue(url="https://bi.example/orders"),
        "file": PathValue(path="/data/orders.parquet"),
        "schema": JsonValue(data={"id": "int", "total": "float"}),
        "notes": MarkdownValue(markdown="**fresh**"),
        "preview": TablePreview(columns=["id", "total"], rows=[[1, 9.5], [2, 3.0]]),
    }
    # the event crosses the process boundary as the wire encodes it
    event = next(e for e in run("shop", tmp_path) if isinstance(e, AssetMaterialization))
    assert msgspec.json.decode(msgspec.json.encode(event), type=AssetMaterialization) == event
    assert found["external"] == {"written": IntValue(value=3)}
    # a MaterializeResult hands nothing to the IO manager
    assert sorted(p.name for p in (tmp_path / "loc" / "assets").iterdir()) == ["orders.pickle"]


def test_metadata_that_cannot_be_recorded_fails_the_step_naming_the_label(
        tmp_path: Path) -> None:
    events = run("bad", tmp_path)
    [failure] = [e for e in events if isinstance(e, StepFailure)]
    assert failure.error.class_name == "MetadataError"
    assert failure.error.message.startswith("metadata 'client': cannot record a object")
    assert materializations(events) == {}


def test_an_ops_output_metadata_is_logged(tmp_path: Path) -> None:
    logs = [e.message for e in run("op_job", tmp_path) if isinstance(e, LogMessage)]
    assert logs == ["output metadata: count=3"]


def test_a_table_preview_keeps_the_first_rows() -> None:
    preview = Metadata.table(([n, n * n] for n in range(100)), columns=["n", "square"])
    assert preview.columns == ["n", "square"] and len(preview.rows) == 10
    assert preview.rows[3] == [3, 9]


def test_definition_metadata_is_typed_into_the_snapshot_of_each_asset_form() -> None:
    @asset(metadata={"owner_team": "sales", "sla_hours": 6, "docs":
                     Metadata.url("https://wiki.example/orders"), "columns": ["id", "total"]})
    def orders() -> int:
        return 1

    @multi_asset(outs={"low": AssetOut(metadata={"unit": Metadata.text("eur")}),
                       "high": AssetOut()})
    def bounds(orders: int) -> tuple[int, int]:
        return orders, orders

    spec = AssetSpec("s3/landing", metadata={"bucket": Path("/data/landing")})
    defs = Definitions(assets=[orders, bounds, spec])
    by_key = {a.key: a.metadata for a in snapshot_definitions(defs, "loc").assets}
    assert by_key == {
        "orders": {"owner_team": TextValue(text="sales"), "sla_hours": IntValue(value=6),
                   "docs": UrlValue(url="https://wiki.example/orders"),
                   "columns": JsonValue(data=["id", "total"])},
        "low": {"unit": TextValue(text="eur")}, "high": {},
        "s3/landing": {"bucket": PathValue(path="/data/landing")}}
    # the wire carries the types: a control plane reads them back as they were
    snapshot = snapshot_definitions(defs, "loc")
    again = msgspec.json.decode(msgspec.json.encode(snapshot), type=type(snapshot))
    assert again.assets == snapshot.assets


def test_definition_metadata_that_cannot_be_recorded_fails_the_definition() -> None:
    with pytest.raises(DefinitionError,
                       match=r"asset 'orders': metadata 'conn': cannot record a object"):
        @asset(metadata={"conn": object()})
        def orders() -> int:
            return 1
