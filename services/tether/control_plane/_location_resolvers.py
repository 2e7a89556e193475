"""GraphQL resolvers of code-location deploys: deploy, redeploy and remove a location, and
the fields of a location that come from its spec."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from anyio import to_thread
from ariadne import MutationType, ObjectType, QueryType

from tether import _telemetry as telemetry
from tether.wire import LocationSpec

from ._audit import audited
from ._resolvers import GraphQLContext, Info
from .errors import BadInput, Forbidden
from .storage import LocationRecord, Role

# used in file names (code-server logs) and Redis keys on the agent side
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")

query = QueryType()
mutation = MutationType()
code_location = ObjectType("CodeLocation")


def _require(context: GraphQLContext, roles: tuple[Role, ...], action: str) -> None:
    if context.token.role not in roles:
        allowed = " or ".join(roles)
        raise Forbidden(f"a {context.token.role} token cannot {action}; use an {allowed} token")


def location_spec(value: dict[str, Any]) -> LocationSpec:
    """The spec of a ``LocationInput``; BadInput names what is wrong with it."""
    name = value.get("name", "")
    if not isinstance(name, str) or not _NAME.match(name):
        raise BadInput(
            f"location name {name!r} is not valid: use letters, digits, '_', '.' and '-' "
            "(at most 128, starting with a letter or digit)"
        )
    env = value.get("env") or {}
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        raise BadInput(f"location {name!r}: env must be an object of strings, got {env!r}")
    fields = {k: v for k, v in value.items() if v is not None}
    fields["env"] = env
    try:
        return msgspec.convert(fields, LocationSpec)
    except (msgspec.ValidationError, ValueError) as exc:
        raise BadInput(f"location {name!r}: {exc}") from exc


@query.field("codeLocation")
async def _code_location(_: None, info: Info, name: str) -> LocationRecord | None:
    return await to_thread.run_sync(info.context.store.get_location, name)


@mutation.field("deployLocation")
async def _deploy_location(_: None, info: Info, location: dict[str, Any]) -> LocationRecord:
    context = info.context
    async with audited(context.store, context.actor, "location.deploy",
                       str(location.get("name", ""))):
        _require(context, ("admin",), "deploy code locations")
        spec = location_spec(location)

        def deploy() -> LocationRecord:
            with telemetry.span("deployLocation",
                                attributes={"tether.location": spec.name}) as traceparent:
                return context.store.deploy_location(spec, traceparent=traceparent,
                                                     actor=context.actor)

        record = await to_thread.run_sync(deploy)
    context.signal.notify()
    return record


@mutation.field("redeployLocation")
async def _redeploy_location(_: None, info: Info, name: str) -> LocationRecord:
    context = info.context
    async with audited(context.store, context.actor, "location.redeploy", name):
        _require(context, ("admin", "launcher"), "redeploy code locations")

        def redeploy() -> LocationRecord:
            with telemetry.span("redeployLocation",
                                attributes={"tether.location": name}) as traceparent:
                return context.store.redeploy_location(name, traceparent=traceparent,
                                                       actor=context.actor)

        record = await to_thread.run_sync(redeploy)
    context.signal.notify()
    return record


@mutation.field("removeLocation")
async def _remove_location(_: None, info: Info, name: str) -> LocationRecord:
    context = info.context
    async with audited(context.store, context.actor, "location.remove", name):
        _require(context, ("admin",), "remove code locations")
        record = await to_thread.run_sync(
            lambda: context.store.remove_location(name, actor=context.actor))
    context.signal.notify()
    return record


@code_location.field("module")
def _module(record: LocationRecord, _: Info) -> str | None:
    return record.spec.module


@code_location.field("pythonFile")
def _python_file(record: LocationRecord, _: Info) -> str | None:
    return record.spec.python_file


@code_location.field("workingDirectory")
def _working_directory(record: LocationRecord, _: Info) -> str | None:
    return record.spec.working_directory


@code_location.field("python")
def _python(record: LocationRecord, _: Info) -> str | None:
    return record.spec.python


@code_location.field("attribute")
def _attribute(record: LocationRecord, _: Info) -> str:
    return record.spec.attribute


@code_location.field("queue")
def _queue(record: LocationRecord, _: Info) -> str:
    return record.spec.queue


@code_location.field("image")
def _image(record: LocationRecord, _: Info) -> str | None:
    return record.spec.image


@code_location.field("agentKind")
def _agent_kind(record: LocationRecord, _: Info) -> str | None:
    return record.spec.agent_kind


@code_location.field("envNames")
def _env_names(record: LocationRecord, _: Info) -> list[str]:
    return sorted(record.spec.env)


BINDABLES = [query, mutation, code_location]
