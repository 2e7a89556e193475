"""The audit log and token expiry through the real GraphQL endpoint, on SQLite and PostgreSQL:
who launched, canceled, deployed, created and revoked what is recorded with the change;
only admins read it; expired tokens are refused; last use shows."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import sqlalchemy as sa

from tether.control_plane import create_app
from tether.control_plane.errors import StorageError, TokenExpired, UnstorableInput
from tether.control_plane.storage import Actor, Store
from tether.control_plane.storage._tokens import LAST_USED_RESOLUTION
from tether.settings import Settings
from tether.wire import ClaimRequest, EventBatch, RunStart

from ..waiting import eventually_async
from .conftest import FakeClock, load_location
from .test_http import MSGPACK, ControlPlane

pytestmark = pytest.mark.anyio

AUDIT = """query($action: String, $actor: String, $before: Int, $limit: Int) {
  auditLog(action: $action, actor: $actor, before: $before, limit: $limit) {
    id at action target outcome detail
    actor { kind name tokenId role via client } } }"""
LAUNCH = 'mutation { launchRun(jobName: "hello_job") { id } }'
CANCEL = "mutation($id: ID!) { terminateRun(id: $id) { status } }"
DEPLOY = """mutation { deployLocation(location: {name: "etl", module: "etl.defs"}) { name } }"""
CREATE = """mutation($kind: String!, $name: String!, $role: String, $expiresIn: String) {
  createToken(kind: $kind, name: $name, role: $role, expiresIn: $expiresIn) {
    token info { id name role expiresAt lastUsedAt } } }"""
REVOKE = "mutation($id: Int!) { revokeToken(id: $id) { id revokedAt } }"
TOKENS = "{ tokens { id name lastUsedAt expiresAt revokedAt } }"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def cp(tmp_path: Path, database_url: str) -> AsyncIterator[ControlPlane]:
    """The control plane on SQLite and on PostgreSQL, with the workspace's ``hello``."""
    workspace = tmp_path / "workspace.toml"
    workspace.write_text('[[locations]]\nname = "hello"\nmodule = "hello.defs"\n')
    settings = Settings(data_dir=str(tmp_path), database_url=database_url,
                        workspace=str(workspace), lease_seconds=60)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        store = Store.from_url(settings.resolved_database_url)
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 4242))
        async with httpx.AsyncClient(transport=transport, base_url="http://cp") as http:
            yield ControlPlane(
                http=http, store=store,
                agent_token=store.create_token("agent", name="test agent"),
                user_token=store.create_token("user", role="admin", name="ada"),
            )
        store.close()


async def data(cp: ControlPlane, query: str, token: str | None = None, **variables: Any
               ) -> dict[str, Any]:
    body = (await cp.graphql(query, token=token, **variables)).json()
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]
    return result


async def error_code(cp: ControlPlane, query: str, token: str, **variables: Any) -> str:
    body = (await cp.graphql(query, token=token, **variables)).json()
    code: str = body["errors"][0]["extensions"]["code"]
    return code


async def test_launch_cancel_deploy_and_token_changes_are_recorded_with_who_and_where(
        cp: ControlPlane) -> None:
    load_location(cp.store)
    run_id = (await data(cp, LAUNCH))["launchRun"]["id"]
    await data(cp, CANCEL, id=run_id)
    await data(cp, DEPLOY)
    created = (await data(cp, CREATE, kind="user", name="bob", role="viewer"))["createToken"]
    await data(cp, REVOKE, id=created["info"]["id"])

    log = (await data(cp, AUDIT))["auditLog"]
    ada = [entry for entry in log if entry["actor"]["name"] == "ada"]
    # newest first: the revocation, then back to the launch
    assert [(e["action"], e["target"], e["outcome"]) for e in ada] == [
        ("token.revoke", str(created["info"]["id"]), "ok"),
        ("token.create", str(created["info"]["id"]), "ok"),
        ("location.deploy", "etl", "ok"),
        ("run.cancel", run_id, "ok"),
        ("run.launch", run_id, "ok"),
        ("token.first_use", str(ada[0]["actor"]["tokenId"]), "ok"),
    ]
    [ada_token] = [t for t in cp.store.list_tokens() if t.name == "ada"]
    assert all(e["actor"] == {"kind": "user", "name": "ada", "tokenId": ada_token.id,
                              "role": "admin", "via": "graphql", "client": "203.0.113.7"}
               for e in ada)
    assert "job 'hello_job'" in ada[-2]["detail"] and "'bob'" in ada[0]["detail"]
    assert [e["id"] for e in log] == sorted((e["id"] for e in log), reverse=True)
    # the workspace file's deploy at start-up is on record too
    startup = [e for e in log if e["actor"]["via"] == "startup"]
    assert [(e["action"], e["target"], e["actor"]["kind"]) for e in startup] == [
        ("location.deploy", "hello", "system")]


async def test_refused_actions_are_recorded_with_the_reason(cp: ControlPlane) -> None:
    load_location(cp.store)
    run_id = (await data(cp, LAUNCH))["launchRun"]["id"]
    viewer = cp.store.create_token("user", role="viewer", name="vic")
    assert await error_code(cp, CANCEL, viewer, id=run_id) == "FORBIDDEN"
    assert await error_code(cp, DEPLOY, viewer) == "FORBIDDEN"
    assert await error_code(cp, CANCEL, cp.user_token, id="no-such-run") == "RUN_NOT_FOUND"

    refused = (await data(cp, AUDIT))["auditLog"]
    refused = [e for e in refused if e["outcome"] == "refused"]
    assert [(e["actor"]["name"], e["action"], e["target"]) for e in refused] == [
        ("ada", "run.cancel", "no-such-run"),
        ("vic", "location.deploy", "etl"),
        ("vic", "run.cancel", run_id),
    ]
    assert "viewer token cannot cancel runs" in refused[2]["detail"]
    # nothing was done: the run is still queued
    assert (await data(cp, '{ runs { status } }'))["runs"] == [{"status": "QUEUED"}]


async def test_only_admins_read_the_audit_log_and_no_api_changes_it(cp: ControlPlane) -> None:
    for role in ("viewer", "launcher"):
        token = cp.store.create_token("user", role=role, name=role)  # type: ignore[arg-type]
        assert await error_code(cp, AUDIT, token) == "FORBIDDEN"
        assert await error_code(cp, TOKENS, token) == "FORBIDDEN"
    assert await error_code(cp, REVOKE, cp.store.create_token("user", role="launcher"),
                            id=1) == "FORBIDDEN"
    schema = await data(cp, "{ __schema { mutationType { fields { name } } } }")
    mutations = {field["name"] for field in schema["__schema"]["mutationType"]["fields"]}
    assert not {name for name in mutations if "audit" in name.lower()}
    assert (await data(cp, AUDIT))["auditLog"]


async def test_the_log_filters_by_action_and_actor_and_pages_newest_first(
        cp: ControlPlane) -> None:
    load_location(cp.store)
    launcher = cp.store.create_token("user", role="launcher", name="lin")
    for token in (cp.user_token, launcher, cp.user_token):
        await data(cp, LAUNCH, token=token)
    launches = (await data(cp, AUDIT, action="run.launch"))["auditLog"]
    assert [e["actor"]["name"] for e in launches] == ["ada", "lin", "ada"]
    assert [e["action"] for e in (await data(cp, AUDIT, actor="lin"))["auditLog"]] == [
        "run.launch", "token.first_use"]
    first = (await data(cp, AUDIT, action="run.launch", limit=2))["auditLog"]
    rest = (await data(cp, AUDIT, action="run.launch", limit=2,
                       before=first[-1]["id"]))["auditLog"]
    assert [e["id"] for e in first + rest] == [e["id"] for e in launches]


async def test_an_expired_token_is_refused_saying_when_it_expired(cp: ControlPlane) -> None:
    # the agent's first: it has expired by the time the user's has
    agent = (await data(cp, CREATE, kind="agent", name="short agent",
                        expiresIn="1s"))["createToken"]
    created = (await data(cp, CREATE, kind="user", name="short", role="viewer",
                          expiresIn="1s"))["createToken"]
    assert created["info"]["expiresAt"] is not None

    async def refused() -> httpx.Response | None:
        response = await cp.graphql("{ runs { id } }", token=created["token"])
        if response.status_code == 401:
            return response
        assert response.status_code == 200
        return None

    response = await eventually_async(refused, timeout=30, every=0.05,
                                      what="the expired token refused")
    assert response.status_code == 401
    assert "token 'short' expired at" in response.json()["error"]
    claim = await cp.http.post(
        "/agent/v1/claim", content=msgspec.msgpack.encode(ClaimRequest(agent_id="a",
                                                                       wait_seconds=0)),
        headers={**MSGPACK, "authorization": f"Bearer {agent['token']}"})
    assert claim.status_code == 401 and "expired at" in claim.json()["error"]
    assert await error_code(cp, CREATE, cp.user_token, kind="user", name="x",
                            expiresIn="90 days") == "BAD_INPUT"


async def test_last_use_shows_in_the_token_list(cp: ControlPlane) -> None:
    before = {t["name"]: t for t in (await data(cp, TOKENS))["tokens"]}
    assert before["test agent"]["lastUsedAt"] is None
    run_start = RunStart(run_id="r", attempt=1, seq=1, timestamp=1.0, job_name="j")
    for _ in range(3):
        response = await cp.agent("events", EventBatch(events=[run_start]))
        assert response.status_code == 200
    after = {t["name"]: t for t in (await data(cp, TOKENS))["tokens"]}
    assert after["test agent"]["lastUsedAt"] is not None
    assert abs(after["test agent"]["lastUsedAt"] - time.time()) < 60
    first_uses = (await data(cp, AUDIT, action="token.first_use",
                             actor="test agent"))["auditLog"]
    assert [(e["actor"]["kind"], e["actor"]["via"]) for e in first_uses] == [
        ("agent", "agent-api")]


def use(store: Store, token: str) -> None:
    """What the agent API does with each request's token."""
    info = store.authenticate(token)
    assert info is not None
    store.note_use(info, via="agent-api")


def test_last_use_is_written_at_most_once_a_minute(store: Store, clock: FakeClock) -> None:
    token = store.create_token("agent", name="busy")
    [record] = store.list_tokens()
    writes: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute",
                    lambda *args: writes.append(args[2]) if "UPDATE tokens" in args[2] else None)
    for _ in range(200):
        use(store, token)
        clock.advance(0.1)
    # 20 seconds of requests, 200 of them: one write (the first use)
    assert len(writes) == 1
    first = store.get_token(record.id)
    assert first is not None and first.last_used_at == 1_700_000_000.0
    clock.advance(LAST_USED_RESOLUTION)
    use(store, token)
    later = store.get_token(record.id)
    assert later is not None and later.last_used_at == clock.now
    first_uses = store.audit_log(action="token.first_use")
    assert [e.target for e in first_uses] == [str(record.id)]


def test_an_expired_token_is_refused_and_its_ui_sessions_end(store: Store,
                                                             clock: FakeClock) -> None:
    token = store.create_token("user", role="admin", name="temp", expires_in=90 * 86400)
    info = store.authenticate(token)
    assert info is not None and info.expires_at == clock.now + 90 * 86400
    session_id, _ = store.create_session(info.id, 365 * 86400)
    assert store.get_session(session_id) is not None
    clock.advance(90 * 86400)
    with pytest.raises(TokenExpired, match="token 'temp' expired at"):
        store.authenticate(token)
    assert store.get_session(session_id) is None
    [record] = store.list_tokens()
    assert record.expires_at == clock.now


def test_a_change_is_never_done_without_its_record(store: Store) -> None:
    load_location(store)
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE audit_log"))
    actor = Actor(kind="cli", name="ops", via="cli")
    with pytest.raises((StorageError, UnstorableInput)):
        store.launch_run("hello_job", actor=actor)
    with pytest.raises((StorageError, UnstorableInput)):
        store.create_token("user", name="orphan", actor=actor)
    assert store.list_runs() == []
    assert [t.name for t in store.list_tokens()] == []
