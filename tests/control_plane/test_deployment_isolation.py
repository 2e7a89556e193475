"""The tenant-isolation matrix: deployments alpha and beta each hold a location, runs, a
schedule, a sensor, dynamic partitions, an alert policy, an agent and tokens. With alpha's
tokens, every GraphQL query and mutation that names one of beta's objects (by name, and by
guessing its ids) is refused or finds nothing, and beta is left as it was; asking for beta
itself is refused. The matrix is checked against the schema: a field added to Query or
Mutation without an entry here fails the test. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tether.control_plane import create_app
from tether.control_plane._graphql import build_schema
from tether.control_plane.alerts._policy import policy_from
from tether.control_plane.storage import Actor, BackfillSpec, Store
from tether.settings import Settings
from tether.wire import (
    AgentHeartbeat,
    AssetSnapshot,
    JobSnapshot,
    LoadLocation,
    LocationLoaded,
    LocationSnapshot,
    LocationSpec,
    LogChunk,
    OpNodeSnapshot,
    ScheduleSnapshot,
    SensorSnapshot,
    StaticPartitions,
)

pytestmark = pytest.mark.anyio

ACTOR = Actor(kind="cli", name="setup", via="cli")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _snapshot(prefix: str) -> LocationSnapshot:
    job = f"{prefix}_job"
    return LocationSnapshot(
        location="hello",
        jobs=[JobSnapshot(name=job, nodes=[OpNodeSnapshot(name="make", op="make",
                                                          asset_key=f"{prefix}_asset")]),
              JobSnapshot(name=f"{prefix}_regions", nodes=[OpNodeSnapshot(name="load",
                                                                          op="load")],
                          partitions=StaticPartitions(keys=("eu", "us")))],
        assets=[AssetSnapshot(key=f"{prefix}_asset")],
        schedules=[ScheduleSnapshot(name=f"{prefix}_schedule", job_name=job, cron="0 * * * *")],
        sensors=[SensorSnapshot(name=f"{prefix}_sensor", job_name=job)])


def _populate(store: Store, prefix: str) -> dict[str, Any]:
    """A deployment's objects; what names them (their ids, names and markers)."""
    store.deploy_location(LocationSpec(name="hello", module=f"{prefix}.defs", queue="default"))
    [load] = store.claim_work(f"agent-{prefix}", ["default"], 10, 60)
    assert isinstance(load.payload, LoadLocation)
    store.store_results([LocationLoaded(work_id=load.work_id, epoch=load.epoch,
                                        location="hello", snapshot=_snapshot(prefix),
                                        generation=load.payload.generation)])
    runs = [store.launch_run(f"{prefix}_job", actor=ACTOR) for _ in range(2)]
    store.admit_queued_runs()
    store.claim_work(f"agent-{prefix}", ["default"], 10, 60)
    store.store_logs([LogChunk(run_id=runs[0], attempt=1, stream="stdout", seq=1,
                               data=f"{prefix} output\n")])
    store.add_dynamic_partitions(f"{prefix}_parts", ["k1"], actor=ACTOR)
    store.set_automation_running("schedule", f"{prefix}_schedule", running=True, actor=ACTOR)
    store.create_alert_policy(policy_from({
        "name": f"{prefix}_policy", "triggers": ["RUN_FAILURE"],
        "channel": {"kind": "webhook", "url": "http://127.0.0.1:9/x"}}), actor=ACTOR)
    store.record_heartbeat(AgentHeartbeat(agent_id=f"agent-{prefix}", version="1",
                                          queues=["default"], timestamp=1.0))
    agent_token = store.issue_token("agent", name=f"{prefix} agent", actor=ACTOR)[1]
    backfills = [store.launch_backfill(BackfillSpec(location="hello",
                                                    job_name=f"{prefix}_regions"), actor=ACTOR)
                 for _ in range(2)]
    return {"runs": runs, "agent_token_id": agent_token.id, "backfills": backfills}


@dataclass
class World:
    http: httpx.AsyncClient
    store: Store
    # alpha's user token: admin in alpha, no role anywhere else
    token: str
    beta: dict[str, Any]
    # the names and ids of beta's objects the last request named
    sent: tuple[str, ...] = ()

    async def graphql(self, document: str, deployment: str = "alpha",
                      **variables: Any) -> dict[str, Any]:
        request = document + json.dumps(variables)
        self.sent = tuple(re.findall(r"beta_\w+", request)) + tuple(
            named for named in (*self.beta["runs"], *self.beta["backfills"])
            if named in request)
        response = await self.http.post(
            "/graphql", json={"query": document, "variables": variables},
            headers={"authorization": f"Bearer {self.token}",
                     "x-tether-deployment": deployment})
        body: dict[str, Any] = response.json()
        return body

    def beta_state(self) -> Any:
        """Everything of beta a mutation from alpha must leave as it was."""
        beta = self.store.scoped("beta")
        return (
            [(r.run_id, r.status) for r in beta.list_runs()],
            [(loc.name, loc.spec.module, loc.generation, loc.status)
             for loc in beta.list_locations()],
            [(a.kind, a.name, a.running) for a in beta.list_automations()],
            [[t.id for t in beta.list_ticks(a.kind, a.location, a.name)]
             for a in beta.list_automations()],
            beta.dynamic_partitions("beta_parts"),
            [p.name for p in beta.list_alert_policies()],
            [(t.id, t.revoked_at) for t in beta.list_tokens() if t.kind == "agent"],
            [d.name for d in self.store.list_deployments()],
            [(b.id, b.status) for b in beta.list_backfills(100)],
        )


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[World]:
    settings = Settings(data_dir=str(tmp_path), database_url=database_url, lease_seconds=60)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        store = Store.from_url(database_url)
        for name in ("alpha", "beta"):
            store.create_deployment(name, branch=f"feature-{name}")
        _populate(store.scoped("alpha"), "alpha")
        beta = _populate(store.scoped("beta"), "beta")
        token = store.create_token("user", "viewer", "alpha admin", roles={"alpha": "admin"})
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://cp") as http:
            yield World(http=http, store=store, token=token, beta=beta)
        store.close()


# what names beta's objects in a response: its jobs, assets, schedules, sensors, partitions,
# policies, agent, tokens and modules (the location's own name, hello, is alpha's too)
BETA_MARKERS = ("beta_", "beta.defs", "agent-beta", "beta agent", "beta output")

Check = Callable[[World, dict[str, Any]], None]


def _finds_nothing_of_beta(world: World, body: dict[str, Any]) -> None:
    """Nothing of beta's in the answer, but for the names the request itself sent, which
    an error message may repeat ("no job named 'beta_job'")."""
    text = json.dumps(body)
    for sent in world.sent:
        text = text.replace(sent, "")
    assert not any(marker in text for marker in BETA_MARKERS), text
    assert not any(run_id in text for run_id in world.beta["runs"]), text
    assert not any(backfill_id in text for backfill_id in world.beta["backfills"]), text


def _refused(*codes: str) -> Check:
    def check(world: World, body: dict[str, Any]) -> None:
        assert body.get("errors"), body
        assert body["errors"][0]["extensions"]["code"] in codes, body
        _finds_nothing_of_beta(world, body)
    return check


# Query and Mutation fields: (document, variables made from beta's objects, check). Every
# document names beta's objects: its run ids, job, asset, schedule, sensor, partitions,
# policy and agent token id.
QUERIES: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]], Check]] = {
    "runs": ("{ runs(limit: 100) { id jobName location } }", lambda b: {},
             _finds_nothing_of_beta),
    "run": ("query($id: ID!) { run(id: $id) { id jobName } }",
            lambda b: {"id": b["runs"][0]}, _finds_nothing_of_beta),
    "codeLocations": ("{ codeLocations { name module jobs { name } } }", lambda b: {},
                      _finds_nothing_of_beta),
    "codeLocation": ('{ codeLocation(name: "hello") { name module jobs { name } } }',
                     lambda b: {}, _finds_nothing_of_beta),
    "jobs": ("{ jobs { name location } }", lambda b: {}, _finds_nothing_of_beta),
    "job": ('{ job(name: "beta_job") { name } }', lambda b: {}, _finds_nothing_of_beta),
    "assets": ("{ assets { key } }", lambda b: {}, _finds_nothing_of_beta),
    "agents": ("{ agents { id } }", lambda b: {}, _finds_nothing_of_beta),
    "dynamicPartitions": ('{ dynamicPartitions(name: "beta_parts") }', lambda b: {},
                          _finds_nothing_of_beta),
    "automations": ("{ automations { kind name running } }", lambda b: {},
                    _finds_nothing_of_beta),
    "tokens": ("{ tokens { id name kind deployment } }", lambda b: {},
               _finds_nothing_of_beta),
    "auditLog": ("{ auditLog(limit: 500) { action target detail } }", lambda b: {},
                 _finds_nothing_of_beta),
    "alertPolicies": ("{ alertPolicies { name } }", lambda b: {}, _finds_nothing_of_beta),
    "alertDeliveries": ('{ alertDeliveries(policy: "beta_policy") { id } }', lambda b: {},
                        _finds_nothing_of_beta),
    "backfills": ("{ backfills(limit: 100) { id jobName } }", lambda b: {},
                  _finds_nothing_of_beta),
    "backfill": ("query($id: ID!) { backfill(id: $id) { id jobName } }",
                 lambda b: {"id": b["backfills"][0]}, _finds_nothing_of_beta),
    "deployment": ("{ deployment { name } }", lambda b: {}, _finds_nothing_of_beta),
    "deployments": ("{ deployments { name } }", lambda b: {},
                    lambda w, body: (_finds_nothing_of_beta(w, body), _only_alpha(body))[0]),
}


def _only_alpha(body: dict[str, Any]) -> None:
    assert body["data"]["deployments"] == [{"name": "alpha"}], body


MUTATIONS: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]], Check]] = {
    "launchRun": ('mutation { launchRun(jobName: "beta_job") { id } }', lambda b: {},
                  _refused("JOB_NOT_FOUND")),
    "materializeAssets": (
        'mutation { materializeAssets(location: "hello", assetKeys: ["beta_asset"]) { id } }',
        lambda b: {}, _refused("BAD_INPUT")),
    "reexecuteRun": ("mutation($id: ID!) { reexecuteRun(id: $id) { id } }",
                     lambda b: {"id": b["runs"][0]}, _refused("RUN_NOT_FOUND")),
    "terminateRun": ("mutation($id: ID!) { terminateRun(id: $id) { id } }",
                     lambda b: {"id": b["runs"][1]}, _refused("RUN_NOT_FOUND")),
    # alpha's own location of the same name: beta's is untouched (beta_state)
    "deployLocation": ('mutation { deployLocation(location: {name: "hello", '
                       'module: "alpha.defs"}) { name generation } }', lambda b: {},
                       _finds_nothing_of_beta),
    "redeployLocation": ('mutation { redeployLocation(name: "hello") { name } }',
                         lambda b: {}, _finds_nothing_of_beta),
    "addDynamicPartitions": ('mutation { addDynamicPartitions(name: "beta_parts", '
                             'keys: ["k2"]) }', lambda b: {}, lambda w, body: None),
    "deleteDynamicPartitions": ('mutation { deleteDynamicPartitions(name: "beta_parts", '
                                'keys: ["k1", "k2"]) }', lambda b: {}, lambda w, body: None),
    "setAutomationRunning": ('mutation { setAutomationRunning(kind: "schedule", '
                             'name: "beta_schedule", running: false) { name } }',
                             lambda b: {}, _refused("BAD_INPUT")),
    "tickAutomation": ('mutation { tickAutomation(kind: "schedule", name: "beta_schedule") '
                       '{ id } }', lambda b: {}, _refused("BAD_INPUT")),
    "createToken": ('mutation { createToken(kind: "agent", name: "new agent") '
                    '{ info { deployment } } }', lambda b: {},
                    lambda w, body: _created_in_alpha(body)),
    "revokeToken": ("mutation($id: Int!) { revokeToken(id: $id) { id } }",
                    lambda b: {"id": b["agent_token_id"]}, _refused("BAD_INPUT")),
    "createAlertPolicy": ("mutation($p: JSON!) { createAlertPolicy(policy: $p) { name } }",
                          lambda b: {"p": {"name": "alpha_more", "triggers": ["RUN_FAILURE"],
                                           "channel": {"kind": "webhook",
                                                       "url": "http://127.0.0.1:9/y"}}},
                          _finds_nothing_of_beta),
    "deleteAlertPolicy": ('mutation { deleteAlertPolicy(name: "beta_policy") { name } }',
                          lambda b: {}, _refused("BAD_INPUT")),
    "testAlertPolicy": ('mutation { testAlertPolicy(name: "beta_policy") { id } }',
                        lambda b: {}, _refused("BAD_INPUT")),
    "launchBackfill": ('mutation { launchBackfill(jobName: "beta_regions") { id } }',
                       lambda b: {}, _refused("JOB_NOT_FOUND")),
    "cancelBackfill": ("mutation($id: ID!) { cancelBackfill(id: $id) { id } }",
                       lambda b: {"id": b["backfills"][0]}, _refused("BAD_INPUT")),
    "rerunFailedBackfill": ("mutation($id: ID!) { rerunFailedBackfill(id: $id) { id } }",
                            lambda b: {"id": b["backfills"][1]}, _refused("BAD_INPUT")),
    "createDeployment": ('mutation { createDeployment(name: "beta", commit: "guessed") '
                         '{ name } }', lambda b: {}, _refused("FORBIDDEN")),
    "deleteDeployment": ('mutation { deleteDeployment(name: "beta") }', lambda b: {},
                         _refused("FORBIDDEN")),
    # last: alpha's own location goes
    "removeLocation": ('mutation { removeLocation(name: "hello") { name } }', lambda b: {},
                       _finds_nothing_of_beta),
}


def _created_in_alpha(body: dict[str, Any]) -> None:
    assert body["data"]["createToken"]["info"]["deployment"] == "alpha", body


def test_the_matrix_covers_every_field_of_the_schema() -> None:
    schema = build_schema()
    assert schema.query_type is not None and schema.mutation_type is not None
    assert set(QUERIES) == set(schema.query_type.fields)
    assert set(MUTATIONS) == set(schema.mutation_type.fields)


async def test_alphas_token_finds_and_changes_nothing_of_beta(world: World) -> None:
    before = world.beta_state()
    for name, (document, variables, check) in QUERIES.items():
        body = await world.graphql(document, **variables(world.beta))
        assert "errors" not in body, (name, body)
        check(world, body)
    for name, (document, variables, check) in MUTATIONS.items():
        body = await world.graphql(document, **variables(world.beta))
        check(world, body)
        assert world.beta_state() == before, name


async def test_alphas_token_is_refused_in_beta(world: World) -> None:
    for document, _, _ in QUERIES.values():
        body = await world.graphql(document, deployment="beta")
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", body
        assert "data" not in body
    unknown = await world.graphql("{ runs { id } }", deployment="gamma")
    assert unknown["errors"][0]["extensions"]["code"] == "DEPLOYMENT_NOT_FOUND"


async def test_only_an_admin_in_prod_manages_user_tokens(world: World) -> None:
    """User tokens are global: alpha's admin lists, creates and revokes alpha's agent tokens
    only, not the user tokens (its own included) nor another deployment's agent tokens; an
    admin in prod, working in alpha, manages both."""
    prod_admin = world.store.create_token("user", "admin", "prod admin")
    world.store.create_token("user", "viewer", "beta viewer", roles={"beta": "viewer"})
    user_ids = {t.id for t in world.store.list_tokens() if t.kind == "user"}
    assert len(user_ids) == 3
    alpha_agents = {t.id for t in world.store.scoped("alpha").list_tokens()
                    if t.kind == "agent"}

    listed = await world.graphql("{ tokens { id kind deployment } }")
    assert {int(t["id"]) for t in listed["data"]["tokens"]} == alpha_agents, listed
    assert {(t["kind"], t["deployment"]) for t in listed["data"]["tokens"]} == {
        ("agent", "alpha")}

    created = await world.graphql(
        'mutation { createToken(kind: "user", name: "sneaky", role: "admin") { token } }')
    assert created["errors"][0]["extensions"]["code"] == "FORBIDDEN", created
    assert "only an admin in prod creates user tokens" in created["errors"][0]["message"]
    for user_id in sorted(user_ids):
        revoked = await world.graphql("mutation($id: Int!) { revokeToken(id: $id) { id } }",
                                      id=user_id)
        assert revoked["errors"][0]["extensions"]["code"] == "BAD_INPUT", revoked
    assert {t.id for t in world.store.list_tokens()
            if t.kind == "user" and t.revoked_at is None} == user_ids

    # an admin in prod, asking in alpha: the user tokens and alpha's agent tokens
    world.token = prod_admin
    listed = await world.graphql("{ tokens { id kind deployment } }")
    assert {int(t["id"]) for t in listed["data"]["tokens"]} == user_ids | alpha_agents
    created = await world.graphql(
        'mutation { createToken(kind: "user", name: "new user") { info { id kind } } }')
    assert created["data"]["createToken"]["info"]["kind"] == "user", created
    [beta_viewer_id] = [t.id for t in world.store.list_tokens() if t.name == "beta viewer"]
    revoked = await world.graphql("mutation($id: Int!) { revokeToken(id: $id) { id } }",
                                  id=beta_viewer_id)
    assert "errors" not in revoked, revoked
    assert [t.revoked_at is not None for t in world.store.list_tokens()
            if t.id == beta_viewer_id] == [True]
