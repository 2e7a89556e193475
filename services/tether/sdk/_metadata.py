"""Metadata values an op or asset reports about its output: ``Metadata.url(...)`` and
friends for a typed value, or plain Python values, which :func:`coerce_metadata` types
(``str`` text, ``int``, ``float``, ``Path`` a path, lists and dicts JSON)."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePath
from typing import Any

import msgspec

from ..errors import MetadataError
from ..wire import (
    FloatValue,
    IntValue,
    JsonValue,
    MarkdownValue,
    MetadataValue,
    PathValue,
    TablePreview,
    TextValue,
    UrlValue,
)

_TYPED = (TextValue, IntValue, FloatValue, UrlValue, PathValue, JsonValue, MarkdownValue,
          TablePreview)
# rows of a table preview kept with the event: enough to recognize the data
TABLE_PREVIEW_ROWS = 10


class Metadata:
    """Typed metadata values: ``context.add_output_metadata({"dashboard": Metadata.url(u)})``."""

    @staticmethod
    def text(text: str) -> TextValue:
        return TextValue(text=str(text))

    @staticmethod
    def int(value: builtins.int) -> IntValue:
        return IntValue(value=value)

    @staticmethod
    def float(value: builtins.float) -> FloatValue:
        return FloatValue(value=value)

    @staticmethod
    def url(url: str) -> UrlValue:
        return UrlValue(url=url)

    @staticmethod
    def path(path: str | PurePath) -> PathValue:
        return PathValue(path=str(path))

    @staticmethod
    def json(data: Any) -> JsonValue:
        return JsonValue(data=_json("json", data))

    @staticmethod
    def md(markdown: str) -> MarkdownValue:
        return MarkdownValue(markdown=markdown)

    @staticmethod
    def table(rows: Iterable[Sequence[Any] | Mapping[str, Any]],
              columns: Sequence[str] | None = None,
              limit: builtins.int = TABLE_PREVIEW_ROWS) -> TablePreview:
        """A preview of the first ``limit`` rows: sequences under ``columns``, or mappings
        (whose first row's keys are the columns when ``columns`` is None)."""
        kept: list[Sequence[Any] | Mapping[str, Any]] = []
        for row in rows:
            if len(kept) == limit:
                break
            kept.append(row)
        if columns is None:
            first = kept[0] if kept else {}
            columns = list(first) if isinstance(first, Mapping) else \
                [f"column_{n}" for n in range(len(first))]
        names = [str(c) for c in columns]
        cells = [[row.get(c) for c in names] if isinstance(row, Mapping) else list(row)
                 for row in kept]
        return TablePreview(columns=names, rows=_json("table", cells))


def coerce_metadata(metadata: Mapping[str, Any]) -> dict[str, MetadataValue]:
    """Each value typed: a metadata value as it is, plain Python values by their type.
    Raises MetadataError naming the label of a value it cannot record."""
    typed: dict[str, MetadataValue] = {}
    for label, value in metadata.items():
        typed[str(label)] = _coerce(str(label), value)
    return typed


def _coerce(label: str, value: Any) -> MetadataValue:
    if isinstance(value, _TYPED):
        return value
    if isinstance(value, bool) or value is None:
        return JsonValue(data=value)
    if isinstance(value, int):
        return IntValue(value=value)
    if isinstance(value, float):
        return FloatValue(value=value)
    if isinstance(value, str):
        return TextValue(text=value)
    if isinstance(value, PurePath):
        return PathValue(path=str(value))
    if isinstance(value, Mapping | list | tuple):
        return JsonValue(data=_json(label, value))
    raise MetadataError(
        f"metadata {label!r}: cannot record a {type(value).__name__}; use a str, int, float, "
        "Path, list or dict, or a Metadata value (e.g. Metadata.text(str(value)))")


def _json(label: str, data: Any) -> Any:
    """``data`` as JSON builtins (dates as strings, ...); MetadataError if it is not JSON."""
    try:
        return msgspec.to_builtins(data, str_keys=True)
    except (TypeError, msgspec.EncodeError) as exc:
        raise MetadataError(f"metadata {label!r}: the value is not JSON ({exc})") from exc
