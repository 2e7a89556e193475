"""The ASGI app over real HTTP semantics (httpx's ASGI transport), on a SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec
import pytest

from tether.control_plane import create_app
from tether.control_plane.storage import RunStatus, Store
from tether.settings import Settings
from tether.wire import (
    AgentHeartbeat,
    BatchReceipt,
    ClaimRequest,
    ClaimResponse,
    ErrorInfo,
    EvaluateTick,
    EventBatch,
    HeartbeatReply,
    LaunchRun,
    LoadLocation,
    LocationLoaded,
    LogBatch,
    LogChunk,
    ResultBatch,
    RunFailure,
    RunLaunched,
    RunStart,
    RunSuccess,
    RunWorkerExited,
    ScheduleSnapshot,
    SensorSnapshot,
    StepFailure,
    StepStart,
    StepSuccess,
)

from .conftest import load_location, snapshot, spec

pytestmark = pytest.mark.anyio

LAUNCH = """mutation($job: String!, $config: JSON) {
  launchRun(jobName: $job, runConfig: $config) { id status attempt jobName location runConfig }
}"""
MSGPACK = {"content-type": "application/msgpack"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class ControlPlane:
    http: httpx.AsyncClient
    # a second store on the same database, as another process (the CLI) would have
    store: Store
    agent_token: str
    user_token: str

    async def agent(self, path: str, body: Any, token: str | None = None) -> httpx.Response:
        token = self.agent_token if token is None else token
        return await self.http.post(
            f"/agent/v1/{path}",
            content=msgspec.msgpack.encode(body),
            headers={**MSGPACK, "authorization": f"Bearer {token}"},
        )

    async def claim(self, wait_seconds: float, agent_id: str = "agent-1") -> ClaimResponse:
        request = ClaimRequest(agent_id=agent_id, wait_seconds=wait_seconds)
        response = await self.agent("claim", request)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/msgpack"
        return msgspec.msgpack.decode(response.content, type=ClaimResponse)

    async def graphql(self, query: str, token: str | None = None, **variables: Any
                      ) -> httpx.Response:
        token = self.user_token if token is None else token
        return await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"authorization": f"Bearer {token}"},
        )


@pytest.fixture
async def cp(tmp_path: Path) -> AsyncIterator[ControlPlane]:
    workspace = tmp_path / "workspace.toml"
    workspace.write_text('[[locations]]\nname = "hello"\nmodule = "hello.defs"\n')
    settings = Settings(data_dir=str(tmp_path), workspace=str(workspace), lease_seconds=60)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        store = Store.from_url(settings.resolved_database_url)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cp") as http:
            yield ControlPlane(
                http=http,
                store=store,
                agent_token=store.create_token("agent", name="test agent"),
                user_token=store.create_token("user", role="admin", name="test user"),
            )
        store.close()


async def test_healthz_needs_no_token(cp: ControlPlane) -> None:
    response = await cp.http.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok")


async def test_the_workspace_is_deployed_at_start_up(cp: ControlPlane) -> None:
    response = await cp.claim(wait_seconds=0)
    [item] = response.items
    assert isinstance(item.payload, LoadLocation) and item.payload.location.name == "hello"
    assert item.epoch == 1


async def test_agent_api_refuses_missing_wrong_and_user_tokens(cp: ControlPlane) -> None:
    body = ClaimRequest(agent_id="a", wait_seconds=0)
    missing = await cp.http.post("/agent/v1/claim", content=msgspec.msgpack.encode(body),
                                 headers=MSGPACK)
    wrong = await cp.agent("claim", body, token="tta_not-a-token")
    user = await cp.agent("claim", body, token=cp.user_token)
    for response in (missing, wrong, user):
        assert response.status_code == 401
        assert "create-token --kind agent" in response.json()["error"]
    assert "user tokens" in user.json()["error"]
    # nothing was claimed by the refused calls
    assert len((await cp.claim(wait_seconds=0)).items) == 1


async def test_the_heartbeat_answer_names_the_deployment_the_token_serves(
        cp: ControlPlane) -> None:
    beat = AgentHeartbeat(agent_id="a", version="1", queues=["default"], timestamp=0.0)
    response = await cp.agent("heartbeat", beat)
    assert response.status_code == 200, response.text
    assert msgspec.msgpack.decode(response.content, type=HeartbeatReply).deployment == "prod"
    # agents of earlier versions read it as the receipt they expect
    assert msgspec.msgpack.decode(response.content, type=BatchReceipt).stored == 1

    # a token of a branch deployment of the same control plane gets that one named
    cp.store.create_deployment("staging")
    token = cp.store.scoped("staging").create_token("agent", name="staging agent")
    answer = await cp.agent("heartbeat", beat, token=token)
    assert answer.status_code == 200, answer.text
    assert msgspec.msgpack.decode(answer.content, type=HeartbeatReply).deployment == "staging"


async def test_an_undecodable_body_is_a_400_with_the_reason(cp: ControlPlane) -> None:
    response = await cp.agent("events", {"events": [{"type": "NOPE"}]})
    assert response.status_code == 400
    assert "NOPE" in response.json()["error"]
    garbage = await cp.http.post("/agent/v1/claim", content=b"\xc1",
                                 headers={"authorization": f"Bearer {cp.agent_token}"})
    assert garbage.status_code == 400


async def test_graphql_needs_a_user_token(cp: ControlPlane) -> None:
    anonymous = await cp.http.post("/graphql", json={"query": "{ runs { id } }"})
    assert anonymous.status_code == 401
    assert "create-token --kind user" in anonymous.json()["error"]
    agent = await cp.graphql("{ runs { id } }", token=cp.agent_token)
    assert agent.status_code == 401


async def test_a_malformed_query_gets_a_readable_error(cp: ControlPlane) -> None:
    response = await cp.graphql("{ runs { id ")
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert "Syntax Error" in error["message"]
    unknown_field = await cp.graphql("{ runs { nope } }")
    assert "Cannot query field 'nope'" in unknown_field.json()["errors"][0]["message"]
    not_json = await cp.http.post("/graphql", content=b"{",
                                  headers={"authorization": f"Bearer {cp.user_token}"})
    assert not_json.status_code == 400 and "not JSON" in not_json.text


async def test_launching_an_unknown_job_names_the_known_ones(cp: ControlPlane) -> None:
    load_location(cp.store, jobs=("hello_job", "broken_job"))
    response = await cp.graphql(LAUNCH, job="no_such_job")
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "JOB_NOT_FOUND"
    assert "hello_job" in error["message"] and "broken_job" in error["message"]


async def test_launch_errors_carry_a_code(cp: ControlPlane) -> None:
    not_loaded = await cp.graphql(
        'mutation { launchRun(jobName: "hello_job", location: "hello") { id } }')
    assert not_loaded.json()["errors"][0]["extensions"]["code"] == "LOCATION_NOT_LOADED"
    load_location(cp.store)
    bad = await cp.graphql(LAUNCH, job="hello_job", config=[1, 2])
    assert bad.json()["errors"][0]["extensions"]["code"] == "BAD_INPUT"
    viewer = cp.store.create_token("user", role="viewer")
    forbidden = await cp.graphql(LAUNCH, token=viewer, job="hello_job")
    assert forbidden.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert cp.store.list_runs() == []


async def test_claim_returns_as_soon_as_a_run_is_launched(cp: ControlPlane) -> None:
    load_location(cp.store)
    launched_at: list[float] = []
    claims: list[ClaimResponse] = []

    async def poll() -> None:
        claims.append(await cp.claim(wait_seconds=20))

    async with anyio.create_task_group() as group:
        group.start_soon(poll)
        await anyio.sleep(0.3)
        launched_at.append(anyio.current_time())
        response = await cp.graphql(LAUNCH, job="hello_job", config={"ops": {"x": 1}})
    latency = anyio.current_time() - launched_at[0]

    run = response.json()["data"]["launchRun"]
    assert run["status"] == "QUEUED" and run["runConfig"] == {"ops": {"x": 1}}
    [item] = claims[0].items
    assert isinstance(item.payload, LaunchRun) and item.payload.run_id == run["id"]
    assert latency < 1.0


async def test_claim_finds_work_enqueued_by_another_process(cp: ControlPlane) -> None:
    load_location(cp.store)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            claims: list[ClaimResponse] = []

            async def poll() -> None:
                claims.append(await cp.claim(wait_seconds=20))

            group.start_soon(poll)
            await anyio.sleep(0.2)
            # the other store does not signal this process: the periodic re-check finds it
            started = anyio.current_time()
            run_id = await anyio.to_thread.run_sync(cp.store.launch_run, "hello_job")
    assert [item.payload.run_id for item in claims[0].items
            if isinstance(item.payload, LaunchRun)] == [run_id]
    assert anyio.current_time() - started < 1.5


async def test_claim_answers_empty_after_the_wait(cp: ControlPlane) -> None:
    await cp.claim(wait_seconds=0)  # take the workspace's load
    started = anyio.current_time()
    response = await cp.claim(wait_seconds=0.6)
    elapsed = anyio.current_time() - started
    assert response.items == []
    assert 0.6 <= elapsed < 1.5


async def test_an_agent_round_trip_shows_up_in_graphql(cp: ControlPlane) -> None:
    load_location(cp.store)
    run_id = (await cp.graphql(LAUNCH, job="hello_job")).json()["data"]["launchRun"]["id"]
    [item] = (await cp.claim(wait_seconds=1)).items
    t = 1_700_000_000.0
    results = ResultBatch(results=[RunLaunched(work_id=item.work_id, epoch=item.epoch,
                                               run_id=run_id, attempt=1, pid=99)])
    events = EventBatch(events=[
        RunStart(run_id=run_id, attempt=1, seq=1, timestamp=t, job_name="hello_job"),
        StepSuccess(run_id=run_id, attempt=1, seq=2, timestamp=t + 1, step_key="extract",
                    duration=0.2),
        RunSuccess(run_id=run_id, attempt=1, seq=3, timestamp=t + 2),
    ])
    logs = LogBatch(chunks=[LogChunk(run_id=run_id, attempt=1, stream="stdout", seq=1,
                                     data="total: 3\n", step_key="extract")])
    for path, body in (("results", results), ("events", events), ("events", events),
                       ("logs", logs)):
        response = await cp.agent(path, body)
        assert response.status_code == 200
    receipt = msgspec.msgpack.decode(response.content, type=BatchReceipt)
    assert receipt.stored == 1

    query = """query($id: ID!) { run(id: $id) {
        status stepsSucceeded startTime endTime
        events { seq type stepKey message }
        logs(stream: "stdout") { seq data stepKey } } }"""
    run = (await cp.graphql(query, id=run_id)).json()["data"]["run"]
    assert run["status"] == RunStatus.SUCCESS and run["stepsSucceeded"] == 1
    assert run["startTime"] == t and run["endTime"] == t + 2
    assert [e["seq"] for e in run["events"] if e["seq"] is not None] == [1, 2, 3]
    assert [e["type"] for e in run["events"] if e["seq"] is None] == [
        "RUN_QUEUED", "RUN_STARTING", "RUN_LAUNCHED"]
    assert run["logs"] == [{"seq": 1, "data": "total: 3\n", "stepKey": "extract"}]


async def test_catalog_queries_show_locations_jobs_and_assets(cp: ControlPlane) -> None:
    load_location(cp.store)
    query = """{
      codeLocations { name status error jobs { name } assets { key } }
      jobs { name location description nodes { name op asset
             inputs { name fromNode fromOutput nothing collect }
             outputs { name isRequired dynamic } mappedOver } }
      job(name: "hello_job", location: "hello") { name }
      missing: job(name: "hello_job", location: "other") { name }
      assets { key location deps }
      runs(status: QUEUED) { id }
    }"""
    data = (await cp.graphql(query)).json()["data"]
    assert data["codeLocations"] == [{"name": "hello", "status": "LOADED", "error": None,
                                      "jobs": [{"name": "hello_job"}],
                                      "assets": [{"key": "raw"}, {"key": "clean"}]}]
    [job] = data["jobs"]
    assert job["location"] == "hello" and job["description"] == "the hello_job"
    assert job["nodes"][0]["asset"] == "raw"
    assert job["nodes"][1]["inputs"] == [{"name": "rows", "fromNode": "extract",
                                          "fromOutput": "result", "nothing": False,
                                          "collect": False}]
    # a snapshot from before named outputs: one output, "result"
    assert job["nodes"][1]["outputs"] == [{"name": "result", "isRequired": True,
                                           "dynamic": False}]
    assert job["nodes"][1]["mappedOver"] is None
    assert data["job"] == {"name": "hello_job"} and data["missing"] is None
    assert {"key": "clean", "location": "hello", "deps": ["raw"]} in data["assets"]
    assert data["runs"] == []


async def test_a_failed_run_shows_its_error_in_graphql(cp: ControlPlane) -> None:
    load_location(cp.store)
    run_id = (await cp.graphql(LAUNCH, job="hello_job")).json()["data"]["launchRun"]["id"]
    exited = ResultBatch(results=[RunWorkerExited(run_id=run_id, attempt=1, exit_code=1,
                                                  stderr_tail="ImportError: no module x")])
    assert (await cp.agent("results", exited)).status_code == 200
    query = """query($id: ID!) { run(id: $id) { status error { className message stack }
        events { type level error { message } } } }"""
    run = (await cp.graphql(query, id=run_id)).json()["data"]["run"]
    assert run["status"] == "FAILURE"
    assert run["error"] == {"className": "RunWorkerExited",
                            "message": "Run worker exited with code 1",
                            "stack": "ImportError: no module x"}
    assert run["events"][-1] == {"type": "RUN_FAILURE", "level": "ERROR",
                                 "error": {"message": "Run worker exited with code 1"}}
    missing = (await cp.graphql(query, id="no-such-run")).json()["data"]["run"]
    assert missing is None


REEXECUTE = """mutation($id: ID!, $strategy: ReexecutionStrategy) {
  reexecuteRun(id: $id, strategy: $strategy) { id status jobName stepSelection tags } }"""


def error_of(response: httpx.Response) -> tuple[str, str]:
    [error] = response.json()["errors"]
    return error["extensions"]["code"], error["message"]


async def test_a_failed_run_is_re_executed_from_failure_through_graphql(
        cp: ControlPlane) -> None:
    load_location(cp.store)
    run_id = (await cp.graphql(LAUNCH, job="hello_job")).json()["data"]["launchRun"]["id"]
    code, message = error_of(await cp.graphql(REEXECUTE, id=run_id, strategy="FROM_FAILURE"))
    assert code == "BAD_INPUT" and f"run {run_id} is QUEUED" in message
    t = 1_700_000_000.0
    cp.store.store_events([
        RunStart(run_id=run_id, attempt=1, seq=1, timestamp=t, job_name="hello_job"),
        StepStart(run_id=run_id, attempt=1, seq=2, timestamp=t, step_key="extract"),
        StepSuccess(run_id=run_id, attempt=1, seq=3, timestamp=t, step_key="extract",
                    duration=0.1),
        StepStart(run_id=run_id, attempt=1, seq=4, timestamp=t, step_key="load"),
        StepFailure(run_id=run_id, attempt=1, seq=5, timestamp=t, step_key="load",
                    duration=0.1, error=ErrorInfo(class_name="ValueError", message="bad")),
        RunFailure(run_id=run_id, attempt=1, seq=6, timestamp=t, message="load failed"),
    ])

    response = await cp.graphql(REEXECUTE, id=run_id, strategy="FROM_FAILURE")
    new = response.json()["data"]["reexecuteRun"]
    assert new["status"] == "QUEUED" and new["jobName"] == "hello_job"
    # load takes extract's output, which extract stored: extract does not run again
    assert new["stepSelection"] == ["load"]
    assert new["tags"] == {"tether/parent_run_id": run_id, "tether/root_run_id": run_id,
                           "tether/user": "test user"}
    query = "query($id: ID!) { run(id: $id) { stepSelection } }"
    assert (await cp.graphql(query, id=new["id"])).json()["data"]["run"] == {
        "stepSelection": ["load"]}
    all_steps = (await cp.graphql(REEXECUTE, id=run_id)).json()["data"]["reexecuteRun"]
    assert all_steps["stepSelection"] is None and all_steps["id"] != new["id"]
    cp.store.store_events([
        RunStart(run_id=all_steps["id"], attempt=1, seq=1, timestamp=t, job_name="hello_job"),
        RunSuccess(run_id=all_steps["id"], attempt=1, seq=2, timestamp=t)])
    code, message = error_of(await cp.graphql(REEXECUTE, id=all_steps["id"],
                                              strategy="FROM_FAILURE"))
    assert code == "BAD_INPUT" and "succeeded: there is no failure to re-execute from" in message

    viewer = cp.store.create_token("user", role="viewer")
    assert error_of(await cp.graphql(REEXECUTE, token=viewer, id=run_id))[0] == "FORBIDDEN"
    assert error_of(await cp.graphql(REEXECUTE, id="nope"))[0] == "RUN_NOT_FOUND"
    assert error_of(await cp.graphql(REEXECUTE, id=run_id, strategy="SOME"))[0] == \
        "GRAPHQL_VALIDATION_FAILED"
    cp.store.remove_location("hello")
    code, message = error_of(await cp.graphql(REEXECUTE, id=run_id, strategy="FROM_FAILURE"))
    assert code == "LOCATION_NOT_FOUND" and "no code location named 'hello'" in message
    assert len(cp.store.list_runs()) == 3


async def test_a_database_failure_answers_503_with_retry_after(cp: ControlPlane) -> None:
    # the database loses the events table under the running control plane: the agent must be
    # told to retry later (and when), and keep its events
    load_location(cp.store)
    run_id = cp.store.launch_run("hello_job")
    with cp.store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE events")
    batch = EventBatch(events=[RunStart(run_id=run_id, attempt=1, seq=1, timestamp=1.0,
                                        job_name="hello_job")])
    response = await cp.agent("events", batch)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert "retry later" in response.json()["error"]


AUTOMATIONS = """query($kind: String) { automations(kind: $kind) { kind name location jobName
    running cron timezone minimumIntervalSeconds nextTickTime
    ticks(limit: 5) { status scheduledTime runIds } } }"""
SET_RUNNING = """mutation($kind: String!, $name: String!, $running: Boolean!) {
    setAutomationRunning(kind: $kind, name: $name, running: $running) { name running } }"""
TICK = """mutation($kind: String!, $name: String!, $time: Float) {
    tickAutomation(kind: $kind, name: $name, scheduledTime: $time) {
      id status scheduledTime } }"""


async def test_schedules_and_sensors_are_listed_started_and_stopped(cp: ControlPlane) -> None:
    cp.store.deploy_location(spec("hello"))
    [load] = [item for item in cp.store.claim_work("loader", ["default"], 10, 60)
              if isinstance(item.payload, LoadLocation)]
    with_automations = msgspec.structs.replace(
        snapshot(), schedules=[ScheduleSnapshot(name="nightly", job_name="hello_job",
                                                cron="0 2 * * *", timezone="Europe/Paris")],
        sensors=[SensorSnapshot(name="files", job_name="hello_job")])
    assert isinstance(load.payload, LoadLocation)
    cp.store.store_results([LocationLoaded(work_id=load.work_id, epoch=load.epoch,
                                           location="hello", snapshot=with_automations,
                                           generation=load.payload.generation)])

    listed = (await cp.graphql(AUTOMATIONS)).json()["data"]["automations"]
    assert [(a["kind"], a["name"], a["running"], a["nextTickTime"]) for a in listed] == [
        ("schedule", "nightly", False, None), ("sensor", "files", False, None)]
    assert listed[0]["cron"] == "0 2 * * *" and listed[1]["minimumIntervalSeconds"] == 30

    viewer = cp.store.create_token("user", role="viewer")
    refused = await cp.graphql(SET_RUNNING, token=viewer, kind="schedule", name="nightly",
                               running=True)
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    unknown = await cp.graphql(SET_RUNNING, kind="sensor", name="nope", running=True)
    [error] = unknown.json()["errors"]
    assert error["extensions"]["code"] == "BAD_INPUT" and "known: files" in error["message"]
    refused = await cp.graphql(TICK, token=viewer, kind="sensor", name="files")
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    [entry, *_] = cp.store.audit_log(action="sensor.tick")
    assert entry.outcome == "refused" and "viewer" in entry.detail
    ticked = (await cp.graphql(TICK, kind="schedule", name="nightly", time=1_796_083_200.0)
              ).json()["data"]["tickAutomation"]
    assert ticked["status"] == "EVALUATING" and ticked["scheduledTime"] == 1_796_083_200.0
    [asked] = [item.payload for item in cp.store.claim_work("agent", ["default"], 10, 60)
               if isinstance(item.payload, EvaluateTick)]
    assert (asked.tick_id, asked.name) == (ticked["id"], "nightly")
    started = await cp.graphql(SET_RUNNING, kind="schedule", name="nightly", running=True)
    assert started.json()["data"]["setAutomationRunning"] == {"name": "nightly", "running": True}
    [schedule] = (await cp.graphql(AUTOMATIONS, kind="schedule")).json()["data"]["automations"]
    assert schedule["running"] and schedule["nextTickTime"] > 0
    assert schedule["ticks"] == [{"status": "EVALUATING", "scheduledTime": 1_796_083_200.0,
                                  "runIds": []}]
