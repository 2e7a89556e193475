"""Rows to records: every query's row becomes its typed record (:mod:`._records`) here, so no
module reads a row's columns by hand in two places, and no Row leaves the store."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict, TypeVar

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


def row_to(record_type: type[R], row: AnyRow, **decoded: Any) -> R:
    """The record whose fields are the row's columns of the same names, as stored, but for
    the fields given ``decoded`` (the row may hold more columns than the record)."""
    names, columns, by_position = _columns(record_type, frozenset(decoded))
    if by_position:
        return record_type(*columns(row), **decoded)
    return record_type(**dict(zip(names, columns(row), strict=True)), **decoded)


@functools.cache
def _columns(record_type: type[DataclassInstance], decoded: frozenset[str]) -> tuple[
        tuple[str, ...], Callable[[AnyRow], tuple[Any, ...]], bool]:
    """The record's fields read from a row's columns (all but ``decoded``), a getter of them,
    and whether they can go by position (no decoded field before them): built once per
    record type, as the event and log pages map thousands of rows."""
    every = tuple(field.name for field in fields(record_type))
    names = tuple(name for name in every if name not in decoded)
    getter = operator.attrgetter(*names)
    columns = getter if len(names) > 1 else lambda row: (getter(row),)
    return names, columns, every[:len(names)] == names


def event_record(row: AnyRow) -> EventRecord:
    return row_to(EventRecord, row, error=fact_of_row(row).error)


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
    return row_to(Projection, row, status=RunStatus(row.status),
                  error=_codec.error_from_json(row.error))


class RunJson(TypedDict):
    """A run row's JSON columns, decoded, by the name of the field each fills."""

    run_config: dict[str, Any]
    tags: dict[str, Any]
    step_selection: list[str] | None
    input_runs: dict[str, str]


def run_json(row: AnyRow) -> RunJson:
    return RunJson(run_config=_codec.dict_json_decoder.decode(row.run_config),
                   tags=_codec.dict_json_decoder.decode(row.tags),
                   step_selection=_codec.steps_from_json(row.step_selection),
                   input_runs=_codec.input_runs_from_json(row.input_runs))


def run_record(row: AnyRow) -> RunRecord:
    return row_to(RunRecord, row, status=RunStatus(row.status),
                  error=_codec.error_from_json(row.error), **run_json(row))
