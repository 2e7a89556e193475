"""Checking a launch's run config against the JSON Schema its code server exported.

The control plane never runs user code: the schema (``msgspec.json.schema`` of the jobs'
``Config`` types, in the location's snapshot) is all it has. It checks the subset msgspec
emits (types, required and unknown fields, enums, unions, arrays, tuples, dicts) and words
each error as the run worker's msgspec would, with the path: ``$.ops.load.config.limit:
expected int, got str``. Value constraints (``Meta(ge=...)``) are left to the run worker,
which converts the config again and fails the run before its first step with the same path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_NAMES = {"integer": "int", "number": "float", "string": "str", "boolean": "bool",
          "null": "null", "object": "object", "array": "array"}


def run_config_error(schema: Mapping[str, Any], run_config: Any) -> str | None:
    """The first way ``run_config`` breaks ``schema`` ("<path>: <problem>"), or None."""
    if not schema:
        return None
    return _check(run_config, schema, schema.get("$defs", {}), "$")


def _resolve(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        schema = defs[schema["$ref"].rpartition("/")[2]]
    return schema


def _check(value: Any, schema: Mapping[str, Any], defs: Mapping[str, Any],
           path: str) -> str | None:
    schema = _resolve(schema, defs)
    if "anyOf" in schema:
        options = [_resolve(option, defs) for option in schema["anyOf"]]
        for option in options:
            if _matches_type(value, option):
                return _check(value, option, defs, path)
        expected = " | ".join(_describe(option) for option in options)
        return f"{path}: expected {expected}, got {_kind(value)}"
    if "enum" in schema:
        allowed = schema["enum"]
        if any(type(value) is type(item) and value == item for item in allowed):
            return None
        return f"{path}: invalid enum value {value!r}"
    if not _matches_type(value, schema):
        return f"{path}: expected {_describe(schema)}, got {_kind(value)}"
    if isinstance(value, dict):
        return _check_object(value, schema, defs, path)
    if isinstance(value, list):
        return _check_array(value, schema, defs, path)
    return None


def _check_object(value: dict[str, Any], schema: Mapping[str, Any],
                  defs: Mapping[str, Any], path: str) -> str | None:
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            error = _check(item, properties[key], defs, f"{path}.{key}")
        elif extra is False:
            error = f"{path}: object contains unknown field {key}"
        elif isinstance(extra, Mapping):
            error = _check(item, extra, defs, f"{path}[...]")
        else:
            error = None
        if error is not None:
            return error
    for name in schema.get("required", ()):
        if name not in value:
            return f"{path}: object missing required field {name}"
    return None


def _check_array(value: list[Any], schema: Mapping[str, Any], defs: Mapping[str, Any],
                 path: str) -> str | None:
    prefix = schema.get("prefixItems")
    if prefix is not None:
        if len(value) != len(prefix):
            return f"{path}: expected array of length {len(prefix)}, got {len(value)}"
        pairs = list(zip(value, prefix, strict=True))
    else:
        items = schema.get("items", {})
        pairs = [(item, items) for item in value]
    for index, (item, item_schema) in enumerate(pairs):
        if isinstance(item_schema, Mapping):
            error = _check(item, item_schema, defs, f"{path}[{index}]")
            if error is not None:
                return error
    return None


def _matches_type(value: Any, schema: Mapping[str, Any]) -> bool:
    match schema.get("type"):
        case None:
            return True
        case "integer":
            return isinstance(value, int) and not isinstance(value, bool)
        case "number":
            return isinstance(value, int | float) and not isinstance(value, bool)
        case "string":
            return isinstance(value, str)
        case "boolean":
            return isinstance(value, bool)
        case "null":
            return value is None
        case "object":
            return isinstance(value, dict)
        case "array":
            return isinstance(value, list)
    return True


def _describe(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return " | ".join(repr(item) for item in schema["enum"])
    return _NAMES.get(schema.get("type", ""), "any")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    for python_type, name in ((int, "int"), (float, "float"), (str, "str"), (list, "array"),
                              (dict, "object")):
        if isinstance(value, python_type):
            return name
    return type(value).__name__
