"""Metadata of a materialization: typed values an asset reports about what it made (a row
count, a URL, a preview of the table), carried by its ASSET_MATERIALIZATION event."""

from __future__ import annotations

from typing import Any

import msgspec


class _Value(msgspec.Struct, kw_only=True, frozen=True, tag_field="kind"):
    pass


class TextValue(_Value, frozen=True, tag="text"):
    text: str


class IntValue(_Value, frozen=True, tag="int"):
    value: int


class FloatValue(_Value, frozen=True, tag="float"):
    value: float


class UrlValue(_Value, frozen=True, tag="url"):
    url: str


class PathValue(_Value, frozen=True, tag="path"):
    path: str


class JsonValue(_Value, frozen=True, tag="json"):
    data: Any


class MarkdownValue(_Value, frozen=True, tag="markdown"):
    markdown: str


class TablePreview(_Value, frozen=True, tag="table"):
    """The first rows of a table: its column names and up to a few rows of values."""

    columns: list[str]
    rows: list[list[Any]] = []


MetadataValue = (
    TextValue | IntValue | FloatValue | UrlValue | PathValue | JsonValue | MarkdownValue
    | TablePreview
)


def metadata_kind(value: MetadataValue) -> str:
    """The value's tag, e.g. ``"int"``."""
    return type(value).__struct_config__.tag  # type: ignore[return-value]


def metadata_text(value: MetadataValue) -> str:
    """The value as one short line of text, for the CLI, the UI and GraphQL."""
    match value:
        case TextValue():
            return value.text
        case IntValue() | FloatValue():
            return str(value.value)
        case UrlValue():
            return value.url
        case PathValue():
            return value.path
        case JsonValue():
            return msgspec.json.encode(value.data).decode()
        case MarkdownValue():
            return value.markdown
        case TablePreview():
            return f"table: {', '.join(value.columns)} ({len(value.rows)} rows shown)"
    raise AssertionError(f"unhandled metadata value {value!r}")
