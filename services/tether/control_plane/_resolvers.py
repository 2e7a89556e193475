"""GraphQL resolvers: thin adapters from the schema to the store (in a worker thread).

Names are converted between the schema's camelCase and Python's snake_case by Ariadne
(``convert_names_case``), so records' attributes resolve without per-field code.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
from anyio import to_thread
from ariadne import MutationType, ObjectType, QueryType, ScalarType
from graphql import GraphQLResolveInfo
from graphql.utilities import value_from_ast_untyped

from tether import _telemetry as telemetry
from tether.wire import (
    AssetCheckSnapshot,
    AssetSnapshot,
    CodeServerStatus,
    JobSnapshot,
    MetadataValue,
    OpNodeSnapshot,
    OpOutputSnapshot,
    PartitionsSnapshot,
    WorkerStatus,
    metadata_kind,
    metadata_text,
)

from ._audit import audited
from ._signal import WorkSignal
from .errors import BadInput, Forbidden
from .storage import (
    LAUNCHED_BY_TAG,
    Actor,
    AgentRecord,
    CheckEvaluation,
    CheckSummary,
    LocationRecord,
    Materialization,
    ReexecutionStrategy,
    RunRecord,
    Store,
    TokenInfo,
    config_scaffold,
    will_retry,
)


@dataclass(frozen=True, slots=True)
class GraphQLContext:
    store: Store
    signal: WorkSignal
    token: TokenInfo
    # the token as the audit log records it, with where the request came from
    actor: Actor


@dataclass(frozen=True, slots=True)
class JobView:
    name: str
    location: str
    description: str
    nodes: list[OpNodeSnapshot]
    run_config_schema: dict[str, Any]
    tags: dict[str, str]
    partitions_def: PartitionsSnapshot | None = None

    @property
    def run_config_scaffold(self) -> dict[str, Any]:
        return config_scaffold(self.run_config_schema).config


@dataclass(frozen=True, slots=True)
class AssetView:
    key: str
    key_path: list[str]
    location: str
    description: str
    deps: list[str]
    group_name: str
    owners: list[str]
    tags: dict[str, str]
    kinds: list[str]
    code_version: str | None
    computed_by: str | None
    external: bool
    checks: list[AssetCheckSnapshot]
    partitions_def: PartitionsSnapshot | None = None
    # what its definition says about it, by label
    metadata: dict[str, MetadataValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AssetCheckView:
    name: str
    asset_key: str
    description: str
    blocking: bool
    additional_deps: list[str]
    step_key: str


def _job_view(location: str, job: JobSnapshot) -> JobView:
    return JobView(name=job.name, location=location, description=job.description, nodes=job.nodes,
                   run_config_schema=job.run_config_schema, tags=job.tags,
                   partitions_def=job.partitions)


def _asset_view(location: str, asset: AssetSnapshot) -> AssetView:
    return AssetView(
        key=asset.key, key_path=asset.path, location=location, description=asset.description,
        deps=asset.deps, group_name=asset.group_name, owners=asset.owners, tags=asset.tags,
        kinds=asset.kinds, code_version=asset.code_version, computed_by=asset.computed_by,
        external=asset.external, checks=asset.checks, partitions_def=asset.partitions,
        metadata=asset.metadata,
    )


def _jobs_of(record: LocationRecord) -> list[JobView]:
    jobs = record.snapshot.jobs if record.snapshot is not None else []
    return [_job_view(record.name, job) for job in jobs]


def _assets_of(record: LocationRecord) -> list[AssetView]:
    assets = record.snapshot.assets if record.snapshot is not None else []
    return [_asset_view(record.name, asset) for asset in assets]


Info = GraphQLResolveInfo[GraphQLContext]


def _context(info: Info) -> GraphQLContext:
    return info.context


json_scalar = ScalarType("JSON")


@json_scalar.serializer
def _serialize_json(value: Any) -> Any:
    return value


@json_scalar.value_parser
def _parse_json(value: Any) -> Any:
    return value


@json_scalar.literal_parser
def _parse_json_literal(node: Any, variables: dict[str, Any] | None = None) -> Any:
    return value_from_ast_untyped(node, variables)


query = QueryType()


@query.field("runs")
async def _runs(
    _: None,
    info: Info,
    limit: int = 50,
    status: str | None = None,
    job_name: str | None = None,
    partition: str | None = None,
) -> list[RunRecord]:
    store = _context(info).store
    if limit < 0:
        raise BadInput(f"limit must be zero or more, got {limit}")

    def list_runs() -> list[RunRecord]:
        return store.list_runs(limit, status=status, job_name=job_name, partition=partition)

    return await to_thread.run_sync(list_runs)


@query.field("run")
async def _run(_: None, info: Info, id: str) -> RunRecord | None:
    return await to_thread.run_sync(_context(info).store.get_run, id)


@query.field("codeLocations")
async def _code_locations(_: None, info: Info) -> list[LocationRecord]:
    return await to_thread.run_sync(_context(info).store.list_locations)


@query.field("jobs")
async def _jobs(_: None, info: Info) -> list[JobView]:
    records = await to_thread.run_sync(_context(info).store.list_locations)
    return [job for record in records for job in _jobs_of(record)]


@query.field("job")
async def _job(
    _: None, info: Info, name: str, location: str | None = None
) -> JobView | None:
    jobs = await _jobs(None, info)
    return next(
        (j for j in jobs if j.name == name and location in (None, j.location)), None
    )


@query.field("assets")
async def _assets(_: None, info: Info) -> list[AssetView]:
    records = await to_thread.run_sync(_context(info).store.list_locations)
    return [asset for record in records for asset in _assets_of(record)]


mutation = MutationType()


def _launcher(context: GraphQLContext) -> dict[str, str]:
    """The tag naming who launches a run, for the runs list; set here so that no caller can
    claim another name. Raises Forbidden for a viewer token."""
    if context.token.role == "viewer":
        raise Forbidden("a viewer token cannot launch runs; use a launcher or admin token")
    return {LAUNCHED_BY_TAG: context.token.name or f"token {context.token.id}"}


@mutation.field("launchRun")
async def _launch_run(
    _: None,
    info: Info,
    job_name: str,
    location: str | None = None,
    run_config: Any = None,
    tags: Any = None,
    partition: str | None = None,
) -> RunRecord | None:
    context = _context(info)
    store = context.store
    target = job_name if location is None else f"{location}/{job_name}"
    async with audited(store, context.actor, "run.launch", target):
        launcher = _launcher(context)
        if tags is not None and not isinstance(tags, dict):
            raise BadInput(f"tags must be an object, got {type(tags).__name__}")
        tags = {**(tags or {}), **launcher}

        def launch() -> RunRecord | None:
            # the trace of the run starts here; the work item carries it to the agent
            with telemetry.span("launchRun", attributes={"tether.job": job_name}
                                ) as traceparent:
                run_id = store.launch_run(job_name, location=location, run_config=run_config,
                                          tags=tags, traceparent=traceparent,
                                          actor=context.actor, partition=partition)
            return store.get_run(run_id)

        record = await to_thread.run_sync(launch)
    context.signal.notify()
    return record


@mutation.field("materializeAssets")
async def _materialize_assets(_: None, info: Info, location: str, asset_keys: list[str],
                              tags: Any = None) -> RunRecord | None:
    context = _context(info)
    store = context.store
    async with audited(store, context.actor, "run.launch", f"{location} assets"):
        launcher = _launcher(context)
        if tags is not None and not isinstance(tags, dict):
            raise BadInput(f"tags must be an object, got {type(tags).__name__}")
        tags = {**(tags or {}), **launcher}

        def launch() -> RunRecord | None:
            with telemetry.span("materializeAssets", attributes={"tether.location": location}
                                ) as traceparent:
                run_id = store.materialize_assets(location, asset_keys, tags=tags,
                                                  traceparent=traceparent, actor=context.actor)
            return store.get_run(run_id)

        record = await to_thread.run_sync(launch)
    context.signal.notify()
    return record


@mutation.field("reexecuteRun")
async def _reexecute_run(_: None, info: Info, id: str, strategy: str = "ALL_STEPS"
                         ) -> RunRecord | None:
    context = _context(info)
    store = context.store
    async with audited(store, context.actor, "run.reexecute", id):
        launcher = _launcher(context)

        def reexecute() -> RunRecord | None:
            with telemetry.span("reexecuteRun", attributes={"tether.parent_run_id": id}
                                ) as traceparent:
                run_id = store.reexecute_run(id, strategy=ReexecutionStrategy(strategy),
                                             tags=launcher, traceparent=traceparent,
                                             actor=context.actor)
            return store.get_run(run_id)

        record = await to_thread.run_sync(reexecute)
    context.signal.notify()
    return record


@mutation.field("terminateRun")
async def _terminate_run(_: None, info: Info, id: str) -> RunRecord:
    context = _context(info)
    async with audited(context.store, context.actor, "run.cancel", id):
        if context.token.role == "viewer":
            raise Forbidden("a viewer token cannot cancel runs; use a launcher or admin token")
        record = await to_thread.run_sync(
            lambda: context.store.terminate_run(id, actor=context.actor))
    context.signal.notify()
    return record


run = ObjectType("Run")


@run.field("id")
def _run_id(record: RunRecord, _: Info) -> str:
    return record.run_id


@run.field("willRetry")
def _run_will_retry(record: RunRecord, _: Info) -> bool:
    return will_retry(record)


@run.field("waitingReason")
async def _run_waiting_reason(record: RunRecord, info: Info) -> str | None:
    if record.status != "QUEUED":
        return None
    return await to_thread.run_sync(_context(info).store.waiting_reason, record.run_id)


@run.field("events")
async def _run_events(
    record: RunRecord, info: Info, after_id: int | None = None,
    limit: int | None = None,
) -> list[Any]:
    store = _context(info).store

    def events() -> list[Any]:
        return list(store.run_events(record.run_id, after_id=after_id, limit=limit))

    return await to_thread.run_sync(events)


@run.field("logs")
async def _run_logs(
    record: RunRecord, info: Info, stream: str | None = None,
    after_id: int | None = None,
) -> list[Any]:
    store = _context(info).store

    def logs() -> list[Any]:
        return list(store.run_logs(record.run_id, stream=stream, after_id=after_id))

    return await to_thread.run_sync(logs)


code_location = ObjectType("CodeLocation")


@code_location.field("jobs")
def _location_jobs(record: LocationRecord, _: Info) -> list[JobView]:
    return _jobs_of(record)


@code_location.field("assets")
def _location_assets(record: LocationRecord, _: Info) -> list[AssetView]:
    return _assets_of(record)


@query.field("agents")
async def _agents(_: None, info: Info) -> list[AgentRecord]:
    return await to_thread.run_sync(_context(info).store.list_agents)


agent = ObjectType("Agent")


@agent.field("id")
def _agent_id(record: AgentRecord, _: Info) -> str:
    return record.agent_id


@agent.field("alive")
def _agent_alive(record: AgentRecord, _: Info) -> bool:
    return record.is_alive(time.time())


@agent.field("workers")
def _agent_workers(record: AgentRecord, _: Info) -> list[WorkerStatus]:
    return record.heartbeat.workers


@agent.field("codeServers")
def _agent_code_servers(record: AgentRecord, _: Info) -> list[CodeServerStatus]:
    return [server for worker in record.heartbeat.workers for server in worker.code_servers]


@agent.field("recentErrors")
def _agent_recent_errors(record: AgentRecord, _: Info) -> list[str]:
    return [error for worker in record.heartbeat.workers for error in worker.recent_errors]


op_node = ObjectType("OpNode")


@op_node.field("asset")
def _node_asset(node: OpNodeSnapshot, _: Info) -> str | None:
    return node.asset_key


@op_node.field("outputs")
def _node_outputs(node: OpNodeSnapshot, _: Info) -> list[OpOutputSnapshot]:
    # a snapshot from before named outputs lists none: its node has the one, "result"
    return node.outputs or [OpOutputSnapshot(name="result", io_manager_key=node.io_manager_key)]


asset = ObjectType("Asset")


@asset.field("latestMaterialization")
async def _asset_latest(view: AssetView, info: Info) -> Materialization | None:
    found = await _asset_materializations(view, info, limit=1)
    return found[0] if found else None


@asset.field("status")
async def _asset_status(view: AssetView, info: Info) -> str:
    if view.external:
        return "EXTERNAL"
    steps = {view.key: [view.computed_by] if view.computed_by else []}
    states = await to_thread.run_sync(lambda: _context(info).store.asset_states(steps))
    return str(states[view.key].status)


@asset.field("materializations")
async def _asset_materializations(view: AssetView, info: Info,
                                  limit: int = 20) -> list[Materialization]:
    if not 1 <= limit <= 1000:
        raise BadInput("limit must be between 1 and 1000")
    return await to_thread.run_sync(
        lambda: _context(info).store.materializations(view.key, limit))


@asset.field("checks")
def _asset_checks(view: AssetView, _: Info) -> list[AssetCheckView]:
    return [AssetCheckView(name=check.name, asset_key=view.key, description=check.description,
                           blocking=check.blocking, additional_deps=check.additional_deps,
                           step_key=check.step) for check in view.checks]


@asset.field("checkSummary")
async def _asset_check_summary(view: AssetView, info: Info) -> CheckSummary | None:
    if not view.checks:
        return None
    checks = {view.key: [check.name for check in view.checks]}
    summaries = await to_thread.run_sync(_context(info).store.check_summaries, checks)
    return summaries[view.key]


check_summary = ObjectType("AssetCheckSummary")


@check_summary.field("notEvaluated")
def _check_summary_never(summary: CheckSummary, _: Info) -> int:
    return summary.never


asset_check = ObjectType("AssetCheck")


@asset_check.field("latestEvaluation")
async def _check_latest(view: AssetCheckView, info: Info) -> CheckEvaluation | None:
    found = await _check_evaluations(view, info, limit=1)
    return found[0] if found else None


@asset_check.field("evaluations")
async def _check_evaluations(view: AssetCheckView, info: Info,
                             limit: int = 20) -> list[CheckEvaluation]:
    if not 1 <= limit <= 1000:
        raise BadInput("limit must be between 1 and 1000")
    return await to_thread.run_sync(
        lambda: _context(info).store.check_evaluations(view.asset_key, limit, view.name))


@run.field("checkEvaluations")
async def _run_check_evaluations(record: RunRecord, info: Info) -> list[CheckEvaluation]:
    return await to_thread.run_sync(_context(info).store.run_check_evaluations, record.run_id)


materialization = ObjectType("Materialization")
check_evaluation = ObjectType("AssetCheckEvaluation")


@asset.field("metadata")
@materialization.field("metadata")
@check_evaluation.field("metadata")
def _materialization_metadata(record: AssetView | Materialization | CheckEvaluation,
                              _: Info) -> list[dict[str, Any]]:
    return [{"label": label, "kind": metadata_kind(value), "text": metadata_text(value),
             "value": _metadata_value(value)} for label, value in record.metadata.items()]


def _metadata_value(value: MetadataValue) -> Any:
    builtins = msgspec.to_builtins(value)
    builtins.pop("kind", None)
    # a one-field value is its field; a table stays {columns, rows}
    return next(iter(builtins.values())) if len(builtins) == 1 else builtins


BINDABLES = [json_scalar, query, mutation, run, code_location, agent, op_node, asset,
             materialization, asset_check, check_summary, check_evaluation]
