"""Dagster's ``MetadataValue``: its static methods for the kinds of value Tether records
(text, numbers, URLs, paths, JSON, Markdown, booleans); the others raise, naming the
method."""

from __future__ import annotations

import builtins
from pathlib import PurePath
from typing import Any, NoReturn

from ..sdk import Metadata
from ..wire import FloatValue, IntValue, JsonValue, MarkdownValue, PathValue, TextValue, UrlValue
from ._errors import NotInTether

_INSTEAD = ("record it as MetadataValue.text(...), .json(...) or .md(...), or as a plain "
            "value (str, int, float, Path, list, dict)")


def _unsupported(method: str) -> Any:
    def raises(*args: Any, **kwargs: Any) -> NoReturn:
        raise NotInTether(f"MetadataValue.{method}(...)", _INSTEAD)

    raises.__name__ = method
    return staticmethod(raises)


class MetadataValue:
    """``MetadataValue.md(...)``, ``.text``, ``.int``, ``.float``, ``.url``, ``.path``,
    ``.json``, ``.bool``, ``.null``: the values Tether's own ``Metadata`` makes."""

    @staticmethod
    def text(text: str) -> TextValue:
        return Metadata.text(text)

    @staticmethod
    def int(value: builtins.int) -> IntValue:
        return Metadata.int(value)

    @staticmethod
    def float(value: builtins.float) -> FloatValue:
        return Metadata.float(value)

    @staticmethod
    def url(url: str) -> UrlValue:
        return Metadata.url(url)

    @staticmethod
    def path(path: str | PurePath) -> PathValue:
        return Metadata.path(path)

    @staticmethod
    def json(data: Any) -> JsonValue:
        return Metadata.json(data)

    @staticmethod
    def md(data: str) -> MarkdownValue:
        return Metadata.md(data)

    @staticmethod
    def bool(value: builtins.bool) -> JsonValue:
        return Metadata.json(builtins.bool(value))

    @staticmethod
    def null() -> JsonValue:
        return Metadata.json(None)

    table = _unsupported("table")
    table_schema = _unsupported("table_schema")
    column_lineage = _unsupported("column_lineage")
    timestamp = _unsupported("timestamp")
    asset = _unsupported("asset")
    job = _unsupported("job")
    dagster_run = _unsupported("dagster_run")
    notebook = _unsupported("notebook")
    python_artifact = _unsupported("python_artifact")
    pool = _unsupported("pool")
    code_references = _unsupported("code_references")
