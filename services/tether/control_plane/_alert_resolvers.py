"""GraphQL resolvers of alert policies (list, create, delete, test) and their deliveries.
Admin tokens only: a policy holds channel secrets and decides who is woken at night."""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from ariadne import MutationType, ObjectType, QueryType

from ._audit import audited
from ._resolvers import GraphQLContext, Info
from .alerts import policy_from, shown_channel
from .errors import BadInput, Forbidden
from .storage import DeliveryRecord, PolicyRecord

query = QueryType()
mutation = MutationType()
policy_type = ObjectType("AlertPolicy")
delivery_type = ObjectType("AlertDelivery")

DELIVERY_PAGE_LIMIT = 500


def _require_admin(context: GraphQLContext, what: str) -> None:
    if context.token.role != "admin":
        raise Forbidden(f"a {context.token.role} token cannot {what}; use an admin token")


@query.field("alertPolicies")
async def _policies(_: None, info: Info) -> list[PolicyRecord]:
    _require_admin(info.context, "read alert policies")
    return await to_thread.run_sync(info.context.store.list_alert_policies)


@query.field("alertDeliveries")
async def _deliveries(_: None, info: Info, limit: int = 50, policy: str | None = None,
                      status: str | None = None) -> list[DeliveryRecord]:
    context = info.context
    _require_admin(context, "read alert deliveries")
    if not 0 < limit <= DELIVERY_PAGE_LIMIT:
        raise BadInput(f"limit must be between 1 and {DELIVERY_PAGE_LIMIT}, got {limit}")
    return await to_thread.run_sync(lambda: context.store.alert_deliveries(
        limit, policy=policy or None, status=status or None))


@mutation.field("createAlertPolicy")
async def _create(_: None, info: Info, policy: Any) -> PolicyRecord:
    context = info.context
    name = str(policy.get("name", "")) if isinstance(policy, dict) else ""
    async with audited(context.store, context.actor, "alert.create", name):
        _require_admin(context, "create alert policies")
        spec = policy_from(policy)
        return await to_thread.run_sync(
            lambda: context.store.create_alert_policy(spec, actor=context.actor))


@mutation.field("deleteAlertPolicy")
async def _delete(_: None, info: Info, name: str) -> PolicyRecord:
    context = info.context
    async with audited(context.store, context.actor, "alert.delete", name):
        _require_admin(context, "delete alert policies")
        return await to_thread.run_sync(
            lambda: context.store.delete_alert_policy(name, actor=context.actor))


@mutation.field("testAlertPolicy")
async def _test(_: None, info: Info, name: str) -> DeliveryRecord:
    context = info.context
    async with audited(context.store, context.actor, "alert.test", name):
        _require_admin(context, "test alert policies")
        return await to_thread.run_sync(
            lambda: context.store.test_alert(name, actor=context.actor))


@policy_type.field("filters")
def _filters(record: PolicyRecord, _: Info) -> dict[str, Any]:
    filters = record.filters
    return {"jobs": filters.jobs, "locations": filters.locations, "tags": filters.tags,
            "asset_groups": filters.asset_groups}


@policy_type.field("channelKind")
def _channel_kind(record: PolicyRecord, _: Info) -> str:
    return str(record.channel.__struct_config__.tag)


@policy_type.field("channel")
def _channel(record: PolicyRecord, _: Info) -> dict[str, Any]:
    return shown_channel(record.channel)


def _alert_field(name: str) -> Any:
    def resolve(record: DeliveryRecord, _: Info) -> Any:
        return getattr(record.alert, name)
    return resolve


for _field in ("title", "text", "path", "test"):
    delivery_type.set_field(_field, _alert_field(_field))
delivery_type.set_alias("policy", "policy_name")

BINDABLES = [query, mutation, policy_type, delivery_type]
