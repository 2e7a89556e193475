"""Dagster's config forms over Tether's msgspec config: ``Config`` and
``ConfigurableResource`` classes whose fields may be given pydantic-style
(``x: int = Field(default_value=3, description="...")``, also ``pydantic.Field(default=3,
...)`` when pydantic is installed), in any order; and ``config_schema={"x": int}`` of ops
and assets, turned into one such class so that a launch is checked against it."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from typing import Annotated, Any

import msgspec

from .. import sdk
from ._errors import NotInTether

_NO_DEFAULT: Any = msgspec.UNSET


class Field:
    """Dagster's ``Field``: a config field's type, default and description, in an op's
    ``config_schema`` (``Field(int, default_value=3)``); also pydantic's form, for a
    ``Config`` class attribute (``limit: int = Field(default=3, description="...")``)."""

    __slots__ = ("config", "default_value", "description", "is_required")

    def __init__(self, config: Any = None, default_value: Any = _NO_DEFAULT,
                 is_required: bool | None = None, description: str | None = None, *,
                 default: Any = _NO_DEFAULT, default_factory: Any = None) -> None:
        if default_factory is not None:
            raise NotInTether("Field(default_factory=...)",
                              "give a default value (a list or dict default is copied for "
                              "each instance)")
        self.config = config
        self.default_value = default if default is not _NO_DEFAULT else default_value
        self.is_required = is_required
        self.description = description

    def __repr__(self) -> str:
        return f"Field({self.config!r}, default_value={self.default_value!r})"


def _field_parts(value: Any) -> tuple[Any, str | None] | None:
    """(default, description) of a Field-like class attribute: ours, or pydantic's FieldInfo
    (read by its attributes: pydantic is not a dependency). None: a plain default."""
    if isinstance(value, Field):
        return value.default_value, value.description
    kind = type(value)
    if kind.__name__ == "FieldInfo" and kind.__module__.startswith("pydantic"):
        factory = getattr(value, "default_factory", None)
        if factory is not None:
            raise NotInTether("Field(default_factory=...) in a Config class",
                              "give a default value, or none (a required field)")
        default = value.default
        # pydantic's "no default" marker is its PydanticUndefined
        if type(default).__name__ == "PydanticUndefinedType":
            default = _NO_DEFAULT
        return default, value.description
    return None


class _ConfigMeta(msgspec.StructMeta):
    """Reads Field attributes into defaults and descriptions (shown in the run config's JSON
    Schema), and makes the fields keyword-only, so that, as in pydantic, a field with a
    default may come before one without."""

    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any],
                **options: Any) -> Any:
        annotations = dict(namespace.get("__annotations__", {}))
        for attribute, value in list(namespace.items()):
            parts = _field_parts(value)
            if parts is None:
                continue
            default, description = parts
            if attribute in annotations and description:
                annotations[attribute] = Annotated[annotations[attribute],
                                                   msgspec.Meta(description=description)]
            if default is _NO_DEFAULT:
                del namespace[attribute]
            else:
                namespace[attribute] = _default(default)
        namespace["__annotations__"] = annotations
        options.setdefault("kw_only", True)
        return super().__new__(mcls, name, bases, namespace, **options)


def _default(value: Any) -> Any:
    # a mutable default is copied per instance, as pydantic does
    if isinstance(value, list | dict | set):
        return msgspec.field(default_factory=lambda: type(value)(value))
    return value


class Config(sdk.Config, metaclass=_ConfigMeta, frozen=True):
    """Dagster's ``Config``: an op's or asset's config class (a parameter annotated with it
    receives the step's config)."""


class ConfigurableResource(sdk.Resource, metaclass=_ConfigMeta):
    """Dagster's ``ConfigurableResource``: a resource whose fields are its config (values may
    be ``EnvVar``), with ``setup_for_execution`` / ``teardown_after_execution``."""


class ConfigurableIOManager(ConfigurableResource, sdk.IOManager):
    """Dagster's ``ConfigurableIOManager``: a configurable resource that is an IO manager
    (define ``handle_output`` and ``load_input``)."""


class EnvVar(sdk.EnvVar):
    """Dagster's ``EnvVar``: as a resource field's value, read by the run worker when a step
    first needs the resource; ``get_value()`` reads it now, in the user's code."""

    __slots__ = ()

    def __init__(self, env_var_name: str) -> None:
        super().__init__(env_var_name)

    @property
    def env_var_name(self) -> str:
        return self.name

    def get_value(self, default: str | None = None) -> str | None:
        return os.environ.get(self.name, default)


def schema_config(owner: str, config_schema: Any) -> type[sdk.Config]:
    """A Config class holding what ``config_schema`` declares: a mapping of field names to
    Python types or :class:`Field` s (other Dagster config types are not supported)."""
    if not isinstance(config_schema, Mapping):
        raise NotInTether(
            f"{owner}(config_schema={config_schema!r})",
            "give a mapping of field names to Python types or Field(type, default_value=...), "
            "or a Config class parameter")
    fields: list[tuple[str, Any, Any]] = []
    for name, declared in config_schema.items():
        field = declared if isinstance(declared, Field) else Field(declared)
        kind = field.config if field.config is not None else Any
        if isinstance(kind, Mapping) or (not isinstance(kind, type) and kind is not Any):
            raise NotInTether(
                f"{owner}(config_schema={{{name!r}: {kind!r}}})",
                "give each field a Python type (int, str, float, bool, list, dict); for "
                "nested config declare a Config class")
        if field.description:
            kind = Annotated[kind, msgspec.Meta(description=field.description)]
        if field.default_value is not _NO_DEFAULT:
            fields.append((name, kind, _default(field.default_value)))
        elif field.is_required is False:
            fields.append((name, kind | None, None))
        else:
            fields.append((name, kind))  # type: ignore[arg-type]
    made = msgspec.defstruct(f"{owner.replace(' ', '_')}_config", fields,
                             bases=(sdk.Config,), kw_only=True)
    return made  # type: ignore[return-value]


def with_config_defaults(fn: Callable[..., Any], config_type: type[sdk.Config]
                         ) -> Callable[..., Any]:
    """``fn`` (whose first parameter is ``context``) called with ``context.op_config``
    holding the config as ``config_type`` converts it: defaults filled in, as in Dagster."""

    @functools.wraps(fn)
    def call(context: sdk.OpContext, *args: Any, **kwargs: Any) -> Any:
        step = context.step_key.partition("[")[0]
        converted = msgspec.to_builtins(msgspec.convert(dict(context.op_config), config_type))
        ops = dict(context.run_config.get("ops") or {})
        ops[step] = {**(ops.get(step) or {}), "config": converted}
        context.run_config = {**context.run_config, "ops": ops}
        return fn(context, *args, **kwargs)

    return call
