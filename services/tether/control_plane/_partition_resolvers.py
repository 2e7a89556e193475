"""GraphQL resolvers of partitions: a job's or an asset's keys, an asset's status per
partition, and the keys of dynamic partitions (listed, added, deleted)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from anyio import to_thread
from ariadne import MutationType, ObjectType, QueryType

from tether import partitions
from tether.wire import PartitionsSnapshot

from ._audit import audited
from ._resolvers import AssetView, Info, JobView
from .errors import BadInput, Forbidden
from .storage import AssetPartitionStatus, PartitionState, Store

query = QueryType()
mutation = MutationType()
job = ObjectType("Job")
asset = ObjectType("Asset")
partitions_type = ObjectType("Partitions")
status_type = ObjectType("AssetPartitionStatus")


@dataclass(frozen=True, slots=True)
class PartitionsView:
    definition: PartitionsSnapshot
    # the keys of the dynamic partitions it takes keys from, read from the store
    dynamic: dict[str, list[str]]
    now: float
    # its keys now
    keys: list[str]

    @property
    def kind(self) -> str:
        return str(type(self.definition).__struct_config__.tag)

    @property
    def count(self) -> int:
        return len(self.keys)


async def _view(store: Store, definition: PartitionsSnapshot | None) -> PartitionsView | None:
    if definition is None:
        return None
    dynamic = await to_thread.run_sync(store.dynamic_keys_for, definition)
    now = time.time()
    return PartitionsView(definition=definition, dynamic=dynamic, now=now,
                          keys=partitions.partition_keys(definition, now=now, dynamic=dynamic))


@job.field("partitions")
async def _job_partitions(view: JobView, info: Info) -> PartitionsView | None:
    return await _view(info.context.store, view.partitions_def)


@asset.field("partitions")
async def _asset_partitions(view: AssetView, info: Info) -> PartitionsView | None:
    return await _view(info.context.store, view.partitions_def)


@asset.field("partitionStatus")
async def _asset_status(view: AssetView, info: Info) -> AssetPartitionStatus | None:
    if view.partitions_def is None:
        return None
    return await to_thread.run_sync(info.context.store.asset_partition_status, view.key,
                                    view.partitions_def)


@partitions_type.field("description")
def _description(view: PartitionsView, info: Info) -> str:
    return partitions.describe(view.definition, now=view.now, dynamic=view.dynamic)


@partitions_type.field("keys")
def _keys(view: PartitionsView, info: Info, offset: int = 0, limit: int = 1000) -> list[str]:
    _check_page(offset, limit)
    return view.keys[offset:offset + limit]


def _check_page(offset: int, limit: int) -> None:
    if offset < 0 or not 0 < limit <= 100_000:
        raise BadInput(f"offset must be 0 or more and limit 1 to 100000, got offset "
                       f"{offset}, limit {limit}")


@status_type.field("total")
def _total(status: AssetPartitionStatus, info: Info) -> int:
    return len(status.keys)


def _counter(state: PartitionState) -> object:
    def count(status: AssetPartitionStatus, info: Info) -> int:
        return status.counts[state]

    return count


for _field, _state in (("materialized", PartitionState.MATERIALIZED),
                       ("failed", PartitionState.FAILED),
                       ("inProgress", PartitionState.IN_PROGRESS),
                       ("missing", PartitionState.MISSING)):
    status_type.set_field(_field, _counter(_state))  # type: ignore[arg-type]


@status_type.field("keys")
def _status_keys(status: AssetPartitionStatus, info: Info, state: str,
                 limit: int = 100) -> list[str]:
    _check_page(0, limit)
    return status.with_state(PartitionState(state), limit)


@query.field("dynamicPartitions")
async def _dynamic(_: None, info: Info, name: str) -> list[str]:
    return await to_thread.run_sync(info.context.store.dynamic_partitions, name)


def _check_writer(info: Info) -> None:
    if info.context.token.role == "viewer":
        raise Forbidden("a viewer token cannot change dynamic partitions; use a launcher or "
                        "admin token")


@mutation.field("addDynamicPartitions")
async def _add(_: None, info: Info, name: str, keys: list[str]) -> list[str]:
    context = info.context
    async with audited(context.store, context.actor, "partitions.add", name):
        _check_writer(info)

        def add() -> list[str]:
            return context.store.add_dynamic_partitions(name, keys, actor=context.actor)

        return await to_thread.run_sync(add)


@mutation.field("deleteDynamicPartitions")
async def _delete(_: None, info: Info, name: str, keys: list[str]) -> int:
    context = info.context
    async with audited(context.store, context.actor, "partitions.delete", name):
        _check_writer(info)

        def delete() -> int:
            return context.store.delete_dynamic_partitions(name, keys, actor=context.actor)

        return await to_thread.run_sync(delete)


BINDABLES = [query, mutation, job, asset, partitions_type, status_type]
