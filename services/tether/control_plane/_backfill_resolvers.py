"""GraphQL resolvers of backfills: launch one (of a job or an asset selection, a range or a
list of partitions), list them, read one with its counts and runs, cancel one, re-run the
failed partitions of one."""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from ariadne import MutationType, ObjectType, QueryType

from ._audit import audited
from ._resolvers import GraphQLContext, Info, _launcher
from .errors import BadInput, Forbidden
from .storage import BACKFILL_TAG, BackfillRecord, BackfillSpec, RunRecord

query = QueryType()
mutation = MutationType()
backfill = ObjectType("Backfill")

# the most backfills, partitions or runs one page holds
PAGE_LIMIT = 10_000


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= PAGE_LIMIT:
        raise BadInput(f"limit must be between 1 and {PAGE_LIMIT}, got {limit}")


@query.field("backfills")
async def _backfills(_: None, info: Info, limit: int = 50) -> list[BackfillRecord]:
    _check_limit(limit)
    return await to_thread.run_sync(info.context.store.list_backfills, limit)


@query.field("backfill")
async def _backfill(_: None, info: Info, id: str) -> BackfillRecord | None:
    return await to_thread.run_sync(info.context.store.get_backfill, id)


@mutation.field("launchBackfill")
async def _launch_backfill(_: None, info: Info, **args: Any) -> BackfillRecord | None:
    context = info.context
    store = context.store
    job_name, assets = args.get("job_name"), args.get("asset_selection")
    target = job_name or ", ".join(assets or ()) or "?"
    async with audited(store, context.actor, "backfill.launch", target):
        tags = args.get("tags")
        if tags is not None and not isinstance(tags, dict):
            raise BadInput(f"tags must be an object, got {type(tags).__name__}")
        spec = BackfillSpec(location=args.get("location"), job_name=job_name,
                            asset_selection=assets, first=args.get("from"),
                            last=args.get("to"), keys=args.get("partitions"),
                            tags={**(tags or {}), **_launcher(context)})

        def launch() -> BackfillRecord | None:
            return store.get_backfill(store.launch_backfill(spec, actor=context.actor))

        record = await to_thread.run_sync(launch)
    context.signal.notify()
    return record


def _check_writer(context: GraphQLContext, what: str) -> None:
    if context.token.role == "viewer":
        raise Forbidden(f"a viewer token cannot {what}; use a launcher or admin token")


@mutation.field("cancelBackfill")
async def _cancel_backfill(_: None, info: Info, id: str) -> BackfillRecord:
    context = info.context
    async with audited(context.store, context.actor, "backfill.cancel", id):
        _check_writer(context, "cancel backfills")
        record = await to_thread.run_sync(
            lambda: context.store.cancel_backfill(id, actor=context.actor))
    context.signal.notify()
    return record


@mutation.field("rerunFailedBackfill")
async def _rerun_failed(_: None, info: Info, id: str) -> BackfillRecord | None:
    context = info.context
    store = context.store
    async with audited(store, context.actor, "backfill.rerun_failed", id):
        _check_writer(context, "re-run backfills")

        def rerun() -> BackfillRecord | None:
            return store.get_backfill(store.rerun_failed_backfill(id, actor=context.actor))

        record = await to_thread.run_sync(rerun)
    context.signal.notify()
    return record


@backfill.field("counts")
def _counts(record: BackfillRecord, info: Info) -> list[dict[str, Any]]:
    return [{"status": status, "count": count} for status, count in sorted(
        record.counts.items())]


@backfill.field("partitionRange")
def _range(record: BackfillRecord, info: Info) -> str:
    return describe_range(record)


def describe_range(record: BackfillRecord) -> str:
    """Its partitions as asked for, in a few words: "2026-01-01 to 2026-12-01", "3 listed"."""
    if record.partition_list is None:
        return f"{record.range_first} to {record.range_last}"
    return f"{len(record.partition_list)} listed"


@backfill.field("partitions")
def _partitions(record: BackfillRecord, info: Info, offset: int = 0,
                limit: int = 1000) -> list[str]:
    _check_limit(limit)
    if offset < 0:
        raise BadInput(f"offset must be 0 or more, got {offset}")
    return record.keys()[offset:offset + limit]


@backfill.field("runs")
async def _runs(record: BackfillRecord, info: Info, limit: int = 50) -> list[RunRecord]:
    _check_limit(limit)
    return await to_thread.run_sync(lambda: info.context.store.list_runs(
        limit, tag=(BACKFILL_TAG, record.id)))


BINDABLES = [query, mutation, backfill]
