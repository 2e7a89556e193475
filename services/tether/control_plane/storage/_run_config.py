"""Checking a launch's run config against the JSON Schema its code server exported, and the
config a launch form starts from.

The control plane never runs user code: the schema (``msgspec.json.schema`` of the jobs'
``Config`` types, in the location's snapshot) is all it has. It checks the subset msgspec
emits (types, required and unknown fields, enums, unions, arrays, tuples, dicts) and reports
every error, each worded as the run worker's msgspec would, with the path:
``$.ops.load.config.limit: expected int, got str``. A missing object is reported as the
required fields inside it (``$.ops.load.config.table: missing required field``), so a launch
with no config says what it needs. Value constraints (``Meta(ge=...)``) are left to the run
worker, which converts the config again and fails the run before its first step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

_NAMES = {"integer": "int", "number": "float", "string": "str", "boolean": "bool",
          "null": "null", "object": "object", "array": "array"}


def run_config_errors(schema: Mapping[str, Any], run_config: Any) -> list[str]:
    """Every way ``run_config`` breaks ``schema``, each "<path>: <problem>"; [] if none."""
    if not schema:
        return []
    problems: list[str] = []
    _check(run_config, schema, schema.get("$defs", {}), "$", problems)
    return problems


class Scaffold(NamedTuple):
    """A run config to start from: every field of the job's configs with its default, and
    null for each required field (``required`` lists them: path and type)."""

    config: dict[str, Any]
    required: list[str]


def config_scaffold(schema: Mapping[str, Any]) -> Scaffold:
    """The scaffold of a job's run config schema ({} for a job that takes no config)."""
    if not schema:
        return Scaffold({}, [])
    required: list[str] = []
    config = _scaffold(schema, schema.get("$defs", {}), "", required)
    return Scaffold(config if isinstance(config, dict) else {}, required)


def _scaffold(schema: Mapping[str, Any], defs: Mapping[str, Any], path: str,
              required: list[str]) -> Any:
    schema = _resolve(schema, defs)
    if schema.get("type") != "object" or "properties" not in schema:
        required.append(f"{path} ({_describe_any(schema, defs)})")
        return None
    value: dict[str, Any] = {}
    for name, field in schema["properties"].items():
        if "default" in field:
            value[name] = field["default"]
        else:
            # a required field, or a step's entry under ops: filled in turn
            value[name] = _scaffold(field, defs, f"{path}.{name}".lstrip("."), required)
    return value


def _describe_any(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> str:
    if "anyOf" in schema:
        return " | ".join(_describe(_resolve(option, defs)) for option in schema["anyOf"])
    return _describe(schema)


def _resolve(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        schema = defs[schema["$ref"].rpartition("/")[2]]
    return schema


def _check(value: Any, schema: Mapping[str, Any], defs: Mapping[str, Any], path: str,
           problems: list[str]) -> None:
    schema = _resolve(schema, defs)
    if "anyOf" in schema:
        options = [_resolve(option, defs) for option in schema["anyOf"]]
        for option in options:
            if _matches_type(value, option):
                _check(value, option, defs, path, problems)
                return
        expected = " | ".join(_describe(option) for option in options)
        problems.append(f"{path}: expected {expected}, got {_kind(value)}")
        return
    if "enum" in schema:
        allowed = schema["enum"]
        if not any(type(value) is type(item) and value == item for item in allowed):
            problems.append(f"{path}: invalid enum value {value!r}")
        return
    if not _matches_type(value, schema):
        problems.append(f"{path}: expected {_describe(schema)}, got {_kind(value)}")
    elif isinstance(value, dict):
        _check_object(value, schema, defs, path, problems)
    elif isinstance(value, list):
        _check_array(value, schema, defs, path, problems)


def _check_object(value: dict[str, Any], schema: Mapping[str, Any],
                  defs: Mapping[str, Any], path: str, problems: list[str]) -> None:
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            _check(item, properties[key], defs, f"{path}.{key}", problems)
        elif extra is False:
            problems.append(f"{path}: object contains unknown field {key}")
        elif isinstance(extra, Mapping):
            _check(item, extra, defs, f"{path}[...]", problems)
    for name in schema.get("required", ()):
        if name not in value:
            _missing(properties.get(name, {}), defs, f"{path}.{name}", problems)


def _missing(schema: Mapping[str, Any], defs: Mapping[str, Any], path: str,
             problems: list[str]) -> None:
    """A required field that is absent: an object is reported as the required fields inside
    it, down to the leaves the user must give."""
    schema = _resolve(schema, defs)
    inner = schema.get("required", ()) if schema.get("type") == "object" else ()
    if not inner:
        problems.append(f"{path}: missing required field")
    for name in inner:
        _missing(schema.get("properties", {}).get(name, {}), defs, f"{path}.{name}", problems)


def _check_array(value: list[Any], schema: Mapping[str, Any], defs: Mapping[str, Any],
                 path: str, problems: list[str]) -> None:
    prefix = schema.get("prefixItems")
    if prefix is not None:
        if len(value) != len(prefix):
            problems.append(f"{path}: expected array of length {len(prefix)}, got {len(value)}")
            return
        pairs = list(zip(value, prefix, strict=True))
    else:
        items = schema.get("items", {})
        pairs = [(item, items) for item in value]
    for index, (item, item_schema) in enumerate(pairs):
        if isinstance(item_schema, Mapping):
            _check(item, item_schema, defs, f"{path}[{index}]", problems)


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
