"""GraphQL resolvers of schedules and sensors: list them with their ticks, start and stop
them, tick them now."""

from __future__ import annotations

from anyio import to_thread
from ariadne import MutationType, ObjectType, QueryType

from tether import _telemetry as telemetry

from ._audit import audited
from ._resolvers import Info
from .errors import BadInput, Forbidden
from .storage import AutomationRecord, TickRecord

query = QueryType()
mutation = MutationType()
automation = ObjectType("Automation")

_KINDS = ("schedule", "sensor")


def _check_kind(kind: str) -> None:
    if kind not in _KINDS:
        raise BadInput(f"kind must be 'schedule' or 'sensor', got {kind!r}")


@query.field("automations")
async def _automations(_: None, info: Info, kind: str | None = None) -> list[AutomationRecord]:
    if kind is not None:
        _check_kind(kind)
    records = await to_thread.run_sync(info.context.store.list_automations)
    return [record for record in records if kind in (None, record.kind)]


@mutation.field("setAutomationRunning")
async def _set_running(_: None, info: Info, kind: str, name: str, running: bool,
                       location: str | None = None) -> AutomationRecord:
    context = info.context
    action = f"{kind}.{'start' if running else 'stop'}"
    async with audited(context.store, context.actor, action,
                       name if location is None else f"{location}/{name}"):
        if context.token.role == "viewer":
            raise Forbidden(f"a viewer token cannot start or stop a {kind}; use a launcher "
                            "or admin token")
        _check_kind(kind)

        def change() -> AutomationRecord:
            return context.store.set_automation_running(
                kind, name, running=running, location=location,  # type: ignore[arg-type]
                actor=context.actor)

        return await to_thread.run_sync(change)


@mutation.field("tickAutomation")
async def _tick(_: None, info: Info, kind: str, name: str, location: str | None = None,
                scheduled_time: float | None = None) -> TickRecord:
    context = info.context
    async with audited(context.store, context.actor, f"{kind}.tick",
                       name if location is None else f"{location}/{name}"):
        if context.token.role == "viewer":
            raise Forbidden(f"a viewer token cannot tick a {kind}; use a launcher or admin "
                            "token")
        _check_kind(kind)

        def tick() -> TickRecord:
            # the tick's trace starts here; its work item carries it to the code server
            with telemetry.span("tickAutomation", attributes={"tether.automation": name}
                                ) as traceparent:
                return context.store.tick_automation(
                    kind, name, location=location,  # type: ignore[arg-type]
                    scheduled_time=scheduled_time, traceparent=traceparent,
                    actor=context.actor)

        record = await to_thread.run_sync(tick)
    context.signal.notify()
    return record


@automation.field("ticks")
async def _ticks(record: AutomationRecord, info: Info, limit: int = 20) -> list[TickRecord]:
    if not 0 < limit <= 1000:
        raise BadInput(f"limit must be between 1 and 1000, got {limit}")

    def ticks() -> list[TickRecord]:
        return info.context.store.list_ticks(record.kind, record.location, record.name, limit)

    return await to_thread.run_sync(ticks)


BINDABLES = [query, mutation, automation]
