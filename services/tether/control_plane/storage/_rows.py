"""Rows to records: every query's row becomes its typed record (:mod:`._records`) here, so no
module reads a row's columns by hand in two places, and no Row leaves the store."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from sqlalchemy.engine import Row

from tether.wire import ErrorInfo

from . import _codec
from ._projection import Fact, Projection, RunStatus, fact_of
from ._records import EventRecord, RunRecord

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# any query's row, whatever its columns
AnyRow: TypeAlias = Row[*tuple[Any, ...]]
R = TypeVar("R", bound="DataclassInstance")


def row_to(record_type: type[R], row: AnyRow) -> R:
    """The record whose fields are the row's columns of the same names, as stored (the row
    may hold more); a record with a column to decode has a function of its own below."""
    return record_type(*_columns(record_type)(row))


@functools.cache
def _columns(record_type: type[DataclassInstance]) -> Callable[[AnyRow], tuple[Any, ...]]:
    """A getter of the record's fields from a row, in field order: built once per record
    type, as the event and log pages map thousands of rows."""
    names = [field.name for field in fields(record_type)]
    getter = operator.attrgetter(*names)
    return getter if len(names) > 1 else lambda row: (getter(row),)


def event_record(row: AnyRow) -> EventRecord:
    return EventRecord(
        id=row.id,
        run_id=row.run_id,
        attempt=row.attempt,
        seq=row.seq,
        type=row.type,
        timestamp=row.timestamp,
        step_key=row.step_key,
        level=row.level,
        message=row.message,
        error=fact_of_row(row).error,
    )


def fact_of_row(row: AnyRow) -> Fact:
    """What a stored event tells its run's projection (its seq, type, timestamp and body)."""
    if row.seq is not None and row.body is not None:
        return fact_of(_codec.event_decoder.decode(row.body))
    error: ErrorInfo | None = None
    if row.body is not None:
        error = _codec.error_decoder.decode(row.body)
    return Fact(type=row.type, timestamp=row.timestamp, error=error)


def projection_of(row: AnyRow) -> Projection:
    """A run row's projection columns."""
    return Projection(
        status=RunStatus(row.status),
        start_time=row.start_time,
        end_time=row.end_time,
        error=_codec.error_from_json(row.error),
        steps_succeeded=row.steps_succeeded,
        steps_failed=row.steps_failed,
    )


def run_record(row: AnyRow) -> RunRecord:
    projection = projection_of(row)
    return RunRecord(
        run_id=row.run_id,
        job_name=row.job_name,
        location=row.location,
        status=projection.status,
        attempt=row.attempt,
        run_config=_codec.dict_json_decoder.decode(row.run_config),
        tags=_codec.dict_json_decoder.decode(row.tags),
        created_at=row.created_at,
        updated_at=row.updated_at,
        start_time=projection.start_time,
        end_time=projection.end_time,
        error=projection.error,
        steps_succeeded=projection.steps_succeeded,
        steps_failed=projection.steps_failed,
        step_selection=_codec.steps_from_json(row.step_selection),
        input_runs=_codec.input_runs_from_json(row.input_runs),
    )
