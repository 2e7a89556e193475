"""Typed config of ops and assets, and resources passed to them by name.

An op declares its config with a parameter annotated by a :class:`Config` subclass (a
msgspec Struct: fields, types, defaults); the run config supplies it under
``ops.<step>.config``. The code server exports the JSON Schema of each job's run config in
its snapshot, so the control plane checks a launch before it creates the run; the run
worker converts the config again, in the user's environment, and hands the op an instance.

A resource is an object an op receives by parameter name, from ``Definitions(resources=
{...})``; a parameter annotated by a :class:`Resource` subclass asks for one. Field values
given as :class:`EnvVar` are read from the environment of the run worker when a step first
needs the resource, so secrets never leave the user's network.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from ..errors import DefinitionError, RunConfigError

if TYPE_CHECKING:
    from ._graph import JobDefinition


class Config(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Base class of an op's or asset's config: declare fields with types and defaults.

        class LoadConfig(Config):
            table: str
            limit: int = 100
    """


class Resource(msgspec.Struct, kw_only=True, dict=True):
    """Base class of a resource (a client, a connection's settings) that ops receive by
    parameter name; its fields may be :class:`EnvVar` values.

    Define ``setup_for_execution(self, context)`` to open what the run needs (it may keep
    it on ``self``: each run gets its own copy) and ``teardown_after_execution(self,
    context)`` to close it; both are called once per run (see ``tether.sdk._resources``).
    Not frozen, so that setup can keep a client on the instance (``self._client = ...``).
    """


class EnvVar:
    """A value read from the environment variable ``name`` of the run worker (the user's
    environment), when a step first needs the resource that holds it."""

    __slots__ = ("default", "name")

    def __init__(self, name: str, default: str | None = None) -> None:
        self.name = name
        self.default = default

    def __repr__(self) -> str:
        return f"EnvVar({self.name!r})"

    def resolve(self, environ: Mapping[str, str], where: str) -> str:
        value = environ.get(self.name, self.default)
        if value is None:
            raise DefinitionError(
                f"{where}: the environment variable {self.name} is not set; set it in the "
                "code location's env (`tether location deploy --env`) or the agent's host"
            )
        return value


def resolve_resource(name: str, resource: Any, environ: Mapping[str, str]) -> Any:
    """``resource`` with every :class:`EnvVar` field replaced by its value."""
    if not isinstance(resource, msgspec.Struct):
        return resource
    changes = {
        field: value.resolve(environ, f"resource {name!r}, field {field!r}")
        for field in resource.__struct_fields__
        if isinstance(value := getattr(resource, field), EnvVar)
    }
    return msgspec.structs.replace(resource, **changes) if changes else resource


def check_tags(tags: Mapping[str, Any] | None, owner: str) -> dict[str, str]:
    """``tags`` as a dict of strings: tags travel in snapshots and run rows as text, so a
    non-string is refused where it is declared."""
    checked = dict(tags or {})
    wrong = [key for key, value in checked.items()
             if not isinstance(key, str) or not isinstance(value, str)]
    if wrong:
        raise DefinitionError(f"{owner}: tags must map strings to strings; not so for "
                              f"{', '.join(map(repr, wrong))}")
    return checked


def config_path(step: str) -> str:
    return f"$.ops.{step}.config"


def resolve_run_config(job: JobDefinition, run_config: Mapping[str, Any]) -> dict[str, Any]:
    """The config instance of each step of ``job`` that declares one, from ``run_config``
    (defaults fill what it leaves out). Raises RunConfigError with a problem, path first, for
    each step whose config does not fit (msgspec reports the first problem within one)."""
    ops = run_config.get("ops", {})
    if not isinstance(ops, Mapping):
        raise RunConfigError(f"$.ops: expected object, got {_kind(ops)}")
    configs: dict[str, Any] = {}
    problems: list[str] = []
    for node in job.nodes:
        config_type = node.op.config_type
        if config_type is None:
            continue
        entry = ops.get(node.name, {})
        if not isinstance(entry, Mapping):
            problems.append(f"$.ops.{node.name}: expected object, got {_kind(entry)}")
            continue
        try:
            configs[node.name] = msgspec.convert(entry.get("config", {}), config_type)
        except msgspec.ValidationError as exc:
            problems.append(_located(str(exc), config_path(node.name)))
    if problems:
        raise RunConfigError(problems)
    return configs


def run_config_schema(job: JobDefinition) -> dict[str, Any]:
    """The JSON Schema of the run config of ``job``; empty when no step declares a config.
    Only the steps with a Config are constrained: others may still read ``op_config``."""
    typed = [(node.name, node.op.config_type) for node in job.nodes
             if node.op.config_type is not None]
    if not typed:
        return {}
    refs, definitions = msgspec.json.schema_components(
        [config_type for _, config_type in typed], ref_template="#/$defs/{name}")
    steps: dict[str, Any] = {}
    required_steps = []
    for (step, config_type), ref in zip(typed, refs, strict=True):
        needed = bool(definitions[config_type.__name__].get("required"))
        steps[step] = {"type": "object", "properties": {"config": ref},
                       **({"required": ["config"]} if needed else {})}
        if needed:
            required_steps.append(step)
    ops: dict[str, Any] = {"type": "object", "properties": steps}
    if required_steps:
        ops["required"] = required_steps
    schema: dict[str, Any] = {"type": "object", "properties": {"ops": ops}, "$defs": definitions}
    if required_steps:
        schema["required"] = ["ops"]
    return schema


def _located(message: str, prefix: str) -> str:
    """msgspec's "Expected `int`, got `str` - at `$.limit`" as
    "$.ops.load.config.limit: expected int, got str", and its "Object missing required field
    `table`" as "$.ops.load.config.table: missing required field" (the control plane's check
    words both the same way)."""
    text, sep, at = message.rpartition(" - at `$")
    path = prefix + at.rstrip("`") if sep else prefix
    text = text if sep else message
    missing = MISSING_FIELD.fullmatch(text)
    if missing:
        return f"{path}.{missing.group(1)}: missing required field"
    return f"{path}: {text[:1].lower()}{text[1:].replace('`', '')}"


MISSING_FIELD = re.compile(r"Object missing required field `(.+)`")


def _kind(value: Any) -> str:
    match value:
        case None:
            return "null"
        case bool():
            return "bool"
        case int():
            return "int"
        case float():
            return "float"
        case str():
            return "str"
        case list():
            return "array"
        case Mapping():
            return "object"
    return type(value).__name__
