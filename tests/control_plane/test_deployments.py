"""Deployments: each sees only its own rows, an agent token works only in its deployment
(claims, events, logs, results: by ID guessing too), and deleting a branch deployment leaves
none of its rows behind. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import sqlalchemy as sa

from tether.control_plane import create_app
from tether.control_plane._daemons import daemons
from tether.control_plane.errors import BadInput, DeploymentNotFound
from tether.control_plane.storage import Actor, QueueLimits, Store, metadata
from tether.control_plane.storage._deployments import scoped_tables
from tether.control_plane.storage._scope import scope_statement
from tether.errors import JobNotFoundError
from tether.settings import Settings
from tether.wire import (
    ClaimRequest,
    ClaimResponse,
    EventBatch,
    HeartbeatReply,
    JobSnapshot,
    LaunchRun,
    LoadLocation,
    LocationLoaded,
    LocationSnapshot,
    LocationSpec,
    LogBatch,
    LogChunk,
    ResultBatch,
    RunLaunched,
    RunStart,
    ScheduleSnapshot,
)

from .conftest import FakeClock, snapshot

ACTOR = Actor(kind="cli", name="ci", via="cli")

# the tables that have no deployment column of their own, and why (the rule is in
# storage/_schema.py); a new table must be scoped or named here
UNSCOPED = {
    "deployments": "the deployments themselves",
    "ui_sessions": "a token's",
    "token_roles": "a token's roles, one row per deployment",
    "tokens": "global: an agent token names its one deployment, a user token has roles",
    "daemon_leases": "global: one leader per daemon works through every deployment",
    "audit_log": "global, each entry naming the deployment it was made in",
    "backfill_partitions": "read only by its backfill's id, found through scoped backfills",
}


def test_every_table_is_scoped_or_says_why_not() -> None:
    scoped = {table.name for table in scoped_tables()}
    assert scoped | set(UNSCOPED) == set(metadata.tables)
    assert not scoped & set(UNSCOPED)


def test_a_scoped_statement_limits_every_table_it_reads_and_subquery() -> None:
    from tether.control_plane.storage._schema import runs, tokens, work_items

    query = (sa.select(runs.c.run_id)
             .where(runs.c.run_id.in_(sa.select(work_items.c.run_id).scalar_subquery())))
    text = str(scope_statement(query, "beta"))
    assert "runs.deployment = " in text and "work_items.deployment = " in text
    # a global table has nothing to add
    assert "WHERE" not in str(scope_statement(sa.select(tokens), "beta"))
    assert "runs.deployment = " in str(scope_statement(runs.update().values(status="X"), "b"))


def _spec(name: str, module: str) -> LocationSpec:
    return LocationSpec(name=name, module=module, queue="default")


def _load(store: Store, module: str, jobs: tuple[str, ...] = ("hello_job",)) -> None:
    """Deploy location "hello" in the store's deployment and answer its load as its agent."""
    store.deploy_location(_spec("hello", module))
    [item] = [item for item in store.claim_work("loader", ["default"], 100, 60)
              if isinstance(item.payload, LoadLocation)]
    assert isinstance(item.payload, LoadLocation)
    assert item.payload.location.module == module
    receipt = store.store_results([LocationLoaded(
        work_id=item.work_id, epoch=item.epoch, location="hello",
        snapshot=snapshot("hello", jobs), generation=item.payload.generation)])
    assert receipt.stored == 1


@dataclass
class Pair:
    alpha: Store
    beta: Store


@pytest.fixture
def pair(store: Store) -> Pair:
    store.create_deployment("alpha", branch="feature-a", commit="a" * 40)
    store.create_deployment("beta", branch="feature-b", commit="b" * 40)
    alpha, beta = store.scoped("alpha"), store.scoped("beta")
    # the same location name in both, with different code
    _load(alpha, "alpha.defs", ("alpha_job",))
    _load(beta, "beta.defs", ("beta_job",))
    return Pair(alpha, beta)


def test_each_deployment_sees_its_own_locations_and_runs(store: Store, pair: Pair) -> None:
    a_run = pair.alpha.launch_run("alpha_job")
    b_run = pair.beta.launch_run("beta_job")
    assert [loc.spec.module for loc in pair.alpha.list_locations()] == ["alpha.defs"]
    assert [loc.spec.module for loc in pair.beta.list_locations()] == ["beta.defs"]
    assert [run.run_id for run in pair.alpha.list_runs()] == [a_run]
    assert pair.alpha.get_run(b_run) is None and pair.beta.get_run(a_run) is None
    assert pair.alpha.run_events(b_run) == []
    # prod (the store unscoped by the test) has none of them
    assert store.list_runs() == [] and store.list_locations() == []
    with pytest.raises(JobNotFoundError, match="known jobs: alpha_job"):
        pair.alpha.launch_run("beta_job")


def test_an_agent_claims_only_its_deployments_work(pair: Pair) -> None:
    a_run = pair.alpha.launch_run("alpha_job")
    b_run = pair.beta.launch_run("beta_job")
    pair.alpha.admit_queued_runs()
    pair.beta.admit_queued_runs()
    claimed = pair.alpha.claim_work("agent-a", ["default"], 100, 60)
    assert [item.payload.run_id for item in claimed
            if isinstance(item.payload, LaunchRun)] == [a_run]
    assert not pair.alpha.has_pending_work(["default"])
    assert pair.beta.has_pending_work(["default"])
    [b_item] = pair.beta.claim_work("agent-b", ["default"], 100, 60)
    assert isinstance(b_item.payload, LaunchRun) and b_item.payload.run_id == b_run


def test_uploads_about_another_deployments_runs_are_rejected(pair: Pair) -> None:
    """An agent of alpha that guesses beta's run id, work id and tick id changes nothing."""
    b_run = pair.beta.launch_run("beta_job")
    pair.beta.admit_queued_runs()
    [b_item] = pair.beta.claim_work("agent-b", ["default"], 100, 60)
    before = pair.beta.get_run(b_run)
    events = pair.alpha.store_events([RunStart(run_id=b_run, attempt=1, seq=1, job_name="beta_job",
                                               timestamp=1.0)])
    logs = pair.alpha.store_logs([LogChunk(run_id=b_run, attempt=1, stream="stdout", seq=1,
                                           data="guessed\n")])
    results = pair.alpha.store_results([
        RunLaunched(work_id=b_item.work_id, epoch=b_item.epoch, run_id=b_run, attempt=1,
                    pid=1),
        RunLaunched(work_id="", epoch=0, run_id=b_run, attempt=1, pid=1)])
    assert (events.stored, events.rejected) == (0, 1)
    assert (logs.stored, logs.rejected) == (0, 1)
    assert (results.stored, results.rejected) == (0, 2)
    assert pair.beta.get_run(b_run) == before
    assert [event.type for event in pair.beta.run_events(b_run)] == [
        "RUN_QUEUED", "RUN_STARTING"]
    assert pair.beta.run_logs(b_run) == []
    # the same uploads from beta's own agent are stored
    assert pair.beta.store_events([RunStart(run_id=b_run, attempt=1, seq=1, job_name="beta_job",
                                            timestamp=1.0)]).stored == 1


def test_a_location_result_reaches_only_its_deployments_location(pair: Pair) -> None:
    [beta_hello] = pair.beta.list_locations()
    receipt = pair.alpha.store_results([LocationLoaded(
        work_id="", epoch=0, location="hello", snapshot=snapshot("hello", ("guessed_job",)),
        generation=beta_hello.generation + 1)])
    assert receipt.stored == 1  # alpha's own "hello": a newer load of it
    assert [job.name for job in pair.beta.get_location("hello").snapshot.jobs] == ["beta_job"]


def test_deleting_a_branch_deployment_leaves_no_row_behind(store: Store, pair: Pair) -> None:
    run = pair.beta.launch_run("beta_job")
    pair.beta.admit_queued_runs()
    pair.beta.claim_work("agent-b", ["default"], 100, 60)
    pair.beta.store_logs([LogChunk(run_id=run, attempt=1, stream="stdout", seq=1, data="x")])
    token = pair.beta.create_token("agent", name="beta agent")
    removed = store.delete_deployment("beta")
    assert removed["runs"] == 1 and removed["compute_logs"] == 1 and removed["tokens"] == 1
    with store.engine.connect() as conn:
        for table in scoped_tables():
            left = conn.execute(sa.select(sa.func.count()).select_from(table)
                                .where(table.c.deployment == "beta")).scalar_one()
            assert left == 0, table.name
        assert conn.execute(sa.text("SELECT count(*) FROM compute_logs")).scalar_one() == 0
    assert store.authenticate(token) is None
    assert store.get_deployment("beta") is None
    # alpha is untouched
    assert [loc.spec.module for loc in pair.alpha.list_locations()] == ["alpha.defs"]
    with pytest.raises(BadInput, match="prod"):
        store.delete_deployment("prod")
    with pytest.raises(DeploymentNotFound):
        store.delete_deployment("beta")


def test_creating_a_deployment_is_idempotent_and_checks_its_name(store: Store) -> None:
    first, created = store.create_deployment("pr-12", branch="feature-x", commit="1" * 40)
    again, created_again = store.create_deployment("pr-12", branch="feature-x",
                                                   commit="2" * 40)
    assert created and not created_again
    assert again.commit == "2" * 40 and again.created_at == first.created_at
    assert [d.name for d in store.list_deployments()] == ["pr-12", "prod"]
    for bad in ("PR-12", "-x", "a" * 64, "a_b", ""):
        with pytest.raises(BadInput, match="lowercase letters, digits and dashes"):
            store.create_deployment(bad)
    with pytest.raises(DeploymentNotFound):
        store.scoped("nowhere").create_token("agent")


def test_a_branch_deployment_copies_the_locations_of_its_source(store: Store) -> None:
    _load(store, "hello.defs")
    store.create_deployment("pr-1", branch="feature-x", copy_from="prod")
    branch = store.scoped("pr-1")
    [copied] = branch.list_locations()
    assert copied.spec.module == "hello.defs" and copied.status == "LOADING"
    [item] = branch.claim_work("agent-pr-1", ["default"], 10, 60)
    assert isinstance(item.payload, LoadLocation)
    # again: nothing new to deploy
    store.create_deployment("pr-1", branch="feature-x", copy_from="prod")
    assert branch.claim_work("agent-pr-1", ["default"], 10, 60) == []


# -- the agent API, over HTTP ---------------------------------------------------------------

MSGPACK = {"content-type": "application/msgpack"}


@dataclass
class Api:
    http: httpx.AsyncClient
    store: Store

    async def post(self, token: str, path: str, body: Any) -> httpx.Response:
        return await self.http.post(
            f"/agent/v1/{path}", content=msgspec.msgpack.encode(body),
            headers={**MSGPACK, "authorization": f"Bearer {token}"})


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def api(tmp_path: Path, database_url: str) -> AsyncIterator[Api]:
    settings = Settings(data_dir=str(tmp_path), database_url=database_url, lease_seconds=60)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        store = Store.from_url(database_url)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://cp") as http:
            yield Api(http, store)
        store.close()


@pytest.mark.anyio
async def test_an_agent_token_works_only_in_its_deployment(api: Api) -> None:
    api.store.create_deployment("alpha")
    api.store.create_deployment("beta")
    alpha, beta = api.store.scoped("alpha"), api.store.scoped("beta")
    a_token = alpha.create_token("agent", name="alpha agent")
    _load(beta, "beta.defs", ("beta_job",))
    b_run = beta.launch_run("beta_job")
    beta.admit_queued_runs()

    reply = await api.post(a_token, "heartbeat", {"agent_id": "agent-a", "version": "1",
                                                  "queues": ["default"], "timestamp": 1.0})
    assert reply.status_code == 200
    assert msgspec.msgpack.decode(reply.content, type=HeartbeatReply).deployment == "alpha"
    claim = await api.post(a_token, "claim", ClaimRequest(agent_id="agent-a", wait_seconds=0))
    assert msgspec.msgpack.decode(claim.content, type=ClaimResponse).items == []
    events = await api.post(a_token, "events", EventBatch(events=[
        RunStart(run_id=b_run, attempt=1, seq=1, timestamp=1.0, job_name="beta_job")]))
    logs = await api.post(a_token, "logs", LogBatch(chunks=[
        LogChunk(run_id=b_run, attempt=1, stream="stdout", seq=1, data="x")]))
    results = await api.post(a_token, "results", ResultBatch(results=[
        RunLaunched(work_id="", epoch=0, run_id=b_run, attempt=1, pid=1)]))
    for response in (events, logs, results):
        assert response.status_code == 200 and msgspec.msgpack.decode(
            response.content)["rejected"] == 1
    assert [event.type for event in beta.run_events(b_run)] == ["RUN_QUEUED"]
    assert [agent.agent_id for agent in alpha.list_agents()] == ["agent-a"]
    assert beta.list_agents() == []


def _load_with_schedule(store: Store) -> None:
    store.deploy_location(_spec("hello", "hello.defs"))
    [item] = [item for item in store.claim_work("loader", ["default"], 100, 60)
              if isinstance(item.payload, LoadLocation)]
    assert isinstance(item.payload, LoadLocation)
    store.store_results([LocationLoaded(
        work_id=item.work_id, epoch=item.epoch, location="hello",
        generation=item.payload.generation,
        snapshot=LocationSnapshot(location="hello", jobs=[JobSnapshot(name="hello_job")],
                                  schedules=[ScheduleSnapshot(
                                      name="hourly", job_name="hello_job", cron="0 * * * *",
                                      default_running=True)]))])


def test_schedules_do_not_tick_in_a_branch_deployment_until_started(
        store: Store, clock: FakeClock) -> None:
    store.create_deployment("pr-1", branch="feature-x")
    branch = store.scoped("pr-1")
    _load_with_schedule(store)
    _load_with_schedule(branch)
    [prod_schedule] = store.list_automations()
    [branch_schedule] = branch.list_automations()
    assert prod_schedule.running and not branch_schedule.running
    for _ in range(2):  # the first turn notes when the schedule started; the next ticks
        store.start_due_ticks()
        branch.start_due_ticks()
        clock.advance(7200)
    assert store.list_ticks("schedule", "hello", "hourly")
    assert branch.list_ticks("schedule", "hello", "hourly") == []
    assert branch.next_tick_time() is None
    branch.set_automation_running("schedule", "hourly", running=True)
    clock.advance(3600)
    branch.start_due_ticks()
    assert branch.list_ticks("schedule", "hello", "hourly")


def test_the_daemons_work_in_every_deployment(database_url: str, clock: FakeClock,
                                             tmp_path: Path) -> None:
    """The run queue admits runs in each deployment, each under its own limit: one run at
    a time in prod does not hold a branch deployment's run back."""
    store = Store.from_url(database_url, clock=clock, limits=QueueLimits(max_concurrent_runs=1))
    store.migrate()
    store.create_deployment("pr-2")
    branch = store.scoped("pr-2")
    _load(branch, "pr.defs", ("pr_job",))
    _load(store, "hello.defs", ("hello_job",))
    # each deployment starts one run at once and queues the other: its own limit
    prod_runs = [store.launch_run("hello_job") for _ in range(2)]
    branch_runs = [branch.launch_run("pr_job") for _ in range(2)]
    store.terminate_run(prod_runs[0])
    branch.terminate_run(branch_runs[0])
    [run_queue] = [daemon for daemon in daemons(store, Settings(data_dir=str(tmp_path)))
                   if daemon.name == "run_queue"]
    did = run_queue.turn()
    assert did == (f"admitted 1 queued run(s): {prod_runs[1]}; "
                   f"[pr-2] admitted 1 queued run(s): {branch_runs[1]}")
    assert [item.payload.run_id for item in branch.claim_work("a", ["default"], 10, 60)
            if isinstance(item.payload, LaunchRun)] == [branch_runs[1]]
    assert [item.payload.run_id for item in store.claim_work("a", ["default"], 10, 60)
            if isinstance(item.payload, LaunchRun)] == [prod_runs[1]]
    store.close()


def test_the_run_monitor_removes_expired_branch_deployments(
        store: Store, clock: FakeClock, tmp_path: Path) -> None:
    store.create_deployment("pr-3", ttl_seconds=3600)
    store.create_deployment("pr-4")
    _load(store.scoped("pr-3"), "pr.defs", ("pr_job",))
    [monitor] = [daemon for daemon in daemons(store, Settings(data_dir=str(tmp_path)))
                 if daemon.name == "run_monitor"]
    assert "expired" not in monitor.turn()
    clock.advance(3601)
    assert "removed 1 expired branch deployment(s): pr-3" in monitor.turn()
    assert [d.name for d in store.list_deployments()] == ["pr-4", "prod"]


def test_a_branch_deployment_expires_after_its_last_activity(
        store: Store, clock: FakeClock, tmp_path: Path) -> None:
    """A run launched, a location deployed or a change made in it keeps a branch deployment;
    its activity is written at most once a minute, not on every request."""
    store.create_deployment("pr-5", ttl_seconds=3600)
    created_at = clock.now
    branch = store.scoped("pr-5")
    [monitor] = [daemon for daemon in daemons(store, Settings(data_dir=str(tmp_path)))
                 if daemon.name == "run_monitor"]

    def activity() -> float:
        record = store.get_deployment("pr-5")
        assert record is not None
        return record.last_activity_at

    clock.advance(3000)
    _load(branch, "pr.defs", ("pr_job",))  # a location deployed
    assert activity() == created_at + 3000
    clock.advance(30)
    branch.launch_run("pr_job")  # within the minute: not written again
    assert activity() == created_at + 3000
    clock.advance(3000)  # 3,030 s after the deployment: kept
    assert "expired" not in monitor.turn()
    branch.launch_run("pr_job")  # a run launched
    assert activity() == created_at + 6030
    clock.advance(3000)
    branch.add_dynamic_partitions("regions", ["eu"], actor=ACTOR)  # a change made in it
    assert activity() == created_at + 9030
    # reads are no activity
    clock.advance(3601)
    branch.list_runs()
    branch.list_locations()
    assert activity() == created_at + 9030
    assert "removed 1 expired branch deployment(s): pr-5" in monitor.turn()
    assert store.get_deployment("pr-5") is None
