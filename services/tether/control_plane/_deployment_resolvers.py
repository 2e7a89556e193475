"""GraphQL resolvers of deployments: the one a request works in, the list, and creating and
deleting branch deployments (admin tokens)."""

from __future__ import annotations

from anyio import to_thread
from ariadne import MutationType, QueryType

from ._audit import audited
from ._resolvers import GraphQLContext, Info
from .errors import BadInput, DeploymentNotFound, Forbidden
from .storage import DeploymentRecord

query = QueryType()
mutation = MutationType()


def _require_admin(context: GraphQLContext, what: str) -> None:
    if context.token.role != "admin":
        raise Forbidden(f"a {context.token.role} token cannot {what} (its role in deployment "
                        f"{context.store.deployment}); use an admin token")


def _require_role(context: GraphQLContext, deployment: str, roles: tuple[str, ...],
                  what: str) -> None:
    """The token must have one of ``roles`` in ``deployment`` too (a deployment other than
    the request's is changed or read only by a token with a role there)."""
    _, token = context.store.access(context.token, deployment)
    if token.role not in roles:
        raise Forbidden(f"a token with role {token.role} in deployment {deployment!r} cannot "
                        f"{what}; it needs {' or '.join(roles)} there")


@query.field("deployment")
async def _deployment(_: None, info: Info) -> DeploymentRecord:
    store = info.context.store
    found = await to_thread.run_sync(store.get_deployment, store.deployment)
    if found is None:  # deleted since the request began
        raise DeploymentNotFound(store.deployment)
    return found


@query.field("deployments")
async def _deployments(_: None, info: Info) -> list[DeploymentRecord]:
    """The deployments the token has a role in."""
    context = info.context

    def listed() -> list[DeploymentRecord]:
        roles = context.store.token_roles(context.token.id)
        return [d for d in context.store.list_deployments() if not roles or d.name in roles]

    return await to_thread.run_sync(listed)


@mutation.field("createDeployment")
async def _create_deployment(_: None, info: Info, name: str, branch: str | None = None,
                             commit: str | None = None, ttl_hours: float | None = None,
                             **arguments: str | None) -> DeploymentRecord:
    context = info.context
    source = arguments.get("from")
    async with audited(context.store, context.actor, "deployment.create", name):
        _require_admin(context, "create deployments")
        if ttl_hours is not None and ttl_hours <= 0:
            raise BadInput(f"ttlHours must be positive, got {ttl_hours}")

        def create() -> DeploymentRecord:
            if context.store.get_deployment(name) is not None:
                _require_role(context, name, ("admin",), "update it")
            if source is not None:
                _require_role(context, source, ("viewer", "launcher", "admin"),
                              "copy its locations")
            record, _ = context.store.create_deployment(
                name, branch=branch, commit=commit, copy_from=source,
                ttl_seconds=None if ttl_hours is None else ttl_hours * 3600,
                actor=context.actor)
            return record

        return await to_thread.run_sync(create)


@mutation.field("deleteDeployment")
async def _delete_deployment(_: None, info: Info, name: str) -> int:
    context = info.context
    async with audited(context.store, context.actor, "deployment.delete", name):
        _require_admin(context, "delete deployments")

        def delete() -> int:
            _require_role(context, name, ("admin",), "delete it")
            return sum(context.store.delete_deployment(name, actor=context.actor).values())

        return await to_thread.run_sync(delete)


BINDABLES = [query, mutation]
