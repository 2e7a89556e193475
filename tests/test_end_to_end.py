"""The whole path, with real processes: launch → poller → launcher → run worker → Redis →
uploader → control plane, on the embedded default and on PostgreSQL + Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import EXAMPLE_WORKSPACE
from .deployment import (
    CANCEL,
    LAUNCH,
    LOCATIONS,
    RUN,
    Deployment,
    databases,
    deployed,
    one_location,
    run_to_end,
    wait_loaded,
    worker_events,
)


@pytest.fixture(params=["sqlite+valkey", "postgres+redis"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    database_url, redis_url = databases(request, request.param, tmp_path)
    with deployed(database_url=database_url, redis_url=redis_url, data_dir=tmp_path) as running:
        yield running


def test_example_job_runs_end_to_end(deployment: Deployment) -> None:
    wait_loaded(deployment)
    run = run_to_end(deployment, "hello_job")

    assert run["status"] == "SUCCESS", deployment.output()
    assert run["seen_statuses"][0] in ("QUEUED", "STARTING", "STARTED", "SUCCESS")
    events = worker_events(run)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    types = [e["type"] for e in events]
    assert types[0] == "RUN_START" and types[-1] == "RUN_SUCCESS"
    steps = {e["stepKey"] for e in events if e["type"] == "STEP_SUCCESS"}
    assert {"extract", "transform", "load"} <= steps
    assert run["stepsSucceeded"] == len(steps)
    for step in steps:
        step_types = [e["type"] for e in events if e["stepKey"] == step]
        assert step_types.index("STEP_START") < step_types.index("STEP_SUCCESS")
    cp_types = [e["type"] for e in run["events"] if e["seq"] is None]
    assert cp_types[:2] == ["RUN_QUEUED", "RUN_STARTING"]
    assert any(e["type"] == "LOG_MESSAGE" for e in events)

    stdout = "".join(c["data"] for c in run["logs"] if c["stream"] == "stdout")
    assert "total" in stdout.lower()
    assert any(c["stepKey"] == "load" for c in run["logs"] if c["stream"] == "stdout")


def test_failing_op_fails_the_run_with_the_users_traceback(deployment: Deployment) -> None:
    wait_loaded(deployment)
    run = run_to_end(deployment, "broken_job")

    assert run["status"] == "FAILURE"
    failures = [e for e in run["events"] if e["type"] == "STEP_FAILURE"]
    assert failures and "ValueError" in failures[0]["error"]["stack"]
    assert "defs.py" in failures[0]["error"]["stack"]
    assert run["events"][-1]["type"] in ("RUN_FAILURE", "RUN_LAUNCHED")
    assert any(e["type"] == "RUN_FAILURE" for e in run["events"])


def test_unknown_job_is_refused_with_the_known_jobs(deployment: Deployment) -> None:
    wait_loaded(deployment)
    response = deployment.http.post(
        "/graphql", json={"query": LAUNCH, "variables": {"job": "no_such_job"}})
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "JOB_NOT_FOUND"
    assert "hello_job" in body["errors"][0]["message"]
    assert deployment.graphql("{ runs { id } }")["runs"] == []


def test_a_location_that_fails_to_import_shows_the_users_traceback(tmp_path: Path,
                                                                  broker_url: str) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "defs.py").write_text("from tether import Definitions\n\n"
                                     "def half_written(:\n    pass\n")
    workspace = tmp_path / "workspace.toml"
    workspace.write_text(
        EXAMPLE_WORKSPACE.read_text().replace('working_directory = "."',
                                              f'working_directory = "{EXAMPLE_WORKSPACE.parent}"')
        + '\n[[locations]]\nname = "broken"\npython_file = "defs.py"\n'
        'working_directory = "project"\n')
    with deployed(redis_url=broker_url, workspace=workspace, data_dir=tmp_path) as deployment:
        def settled() -> dict | None:
            locations = {loc["name"]: loc for loc in deployment.graphql(LOCATIONS)["codeLocations"]}
            done = all(loc["status"] in ("LOADED", "ERROR") for loc in locations.values())
            return locations if len(locations) == 2 and done else None

        locations = deployment.wait_for(settled, what="both locations settled")
        assert locations["hello"]["status"] == "LOADED"
        assert locations["broken"]["status"] == "ERROR"
        assert "SyntaxError" in locations["broken"]["error"]
        assert "defs.py" in locations["broken"]["error"]

        cli = deployment.cli("location", "list")
        assert cli.returncode == 1
        assert "broken" in cli.stdout and "ERROR" in cli.stdout and "SyntaxError" in cli.stdout
        # the healthy location is unaffected
        assert run_to_end(deployment, "hello_job")["status"] == "SUCCESS"


def test_a_canceled_run_stops_its_step_runs_the_cleanup_and_ends_canceled(
        deployment: Deployment) -> None:
    wait_loaded(deployment)
    run_id = deployment.graphql(LAUNCH, job="slow_job")["launchRun"]["id"]

    def ticking() -> bool:
        events = deployment.graphql(RUN, id=run_id)["run"]["events"]
        return any(e["message"] == "tick 1" for e in events)

    deployment.wait_for(ticking, what="slow_job ticking")
    cancel = deployment.cli("run", "cancel", run_id, "--wait")
    assert cancel.returncode == 0, cancel.stdout + cancel.stderr
    assert "CANCELING" in cancel.stdout and "status: CANCELED" in cancel.stdout
    # the cancel is named as such, not as a failure with a KeyboardInterrupt traceback
    assert "STEP_CANCELED" in cancel.stdout
    assert "Run of slow_job was canceled during step wait_a_while" in cancel.stdout
    assert "FAILURE" not in cancel.stdout + cancel.stderr
    assert "KeyboardInterrupt" not in cancel.stdout + cancel.stderr

    run = deployment.graphql(RUN, id=run_id)["run"]
    assert run["status"] == "CANCELED" and run["error"] is None
    canceled = next(e for e in run["events"] if e["type"] == "STEP_CANCELED")
    assert canceled["stepKey"] == "wait_a_while" and canceled["error"] is None
    # the launcher's report that it sent SIGTERM travels apart from the run worker's
    # events (its results stream), so it may be recorded just after the run ended
    def terminating() -> list[str] | None:
        found = [e["type"] for e in deployment.graphql(RUN, id=run_id)["run"]["events"]]
        return found if "RUN_TERMINATING" in found else None

    types = deployment.wait_for(terminating, what="RUN_TERMINATING recorded")
    assert "RUN_CANCELING" in types and "RUN_CANCELED" in types
    assert types.index("RUN_CANCELING") < types.index("RUN_TERMINATING")
    assert not any("FAILURE" in t for t in types)
    stdout = "".join(c["data"] for c in run["logs"] if c["stream"] == "stdout")
    assert "cleaned up" in stdout
    # the run's ticks stopped: no tick near the end of the minute was logged
    assert not any(e["message"] == "tick 30" for e in run["events"])


AGENTS = """{ agents { id alive queues workers { kind pid runningRuns }
    codeServers { location running address } } }"""


def test_the_agent_heartbeats_with_its_workers_and_code_servers(
        deployment: Deployment) -> None:
    wait_loaded(deployment)

    def reported() -> dict | None:
        agents = deployment.graphql(AGENTS)["agents"]
        if not agents:
            return None
        kinds = {worker["kind"] for worker in agents[0]["workers"]}
        servers = agents[0]["codeServers"]
        complete = kinds == {"poller", "launcher", "supervisor", "uploader"} and servers
        return agents[0] if complete else None

    agent = deployment.wait_for(reported, timeout=30, what="a full heartbeat")
    assert agent["alive"] is True and agent["queues"] == ["default"]
    assert agent["codeServers"][0]["location"] == "hello"
    assert agent["codeServers"][0]["running"] is True

    cli = deployment.cli("agent", "list")
    assert cli.returncode == 0, cli.stderr
    assert agent["id"] in cli.stdout and "alive" in cli.stdout and "hello" in cli.stdout


def test_the_warm_launcher_runs_and_cancels_like_the_cold_one(tmp_path: Path,
                                                              broker_url: str) -> None:
    with deployed(redis_url=broker_url, data_dir=tmp_path,
                  env={"TETHER_RUN_LAUNCHER": "warm"}) as deployment:
        wait_loaded(deployment)
        for _ in range(2):
            run = run_to_end(deployment, "hello_job")
            assert run["status"] == "SUCCESS", deployment.output()
            stdout = "".join(c["data"] for c in run["logs"] if c["stream"] == "stdout")
            assert stdout == "total = 20\n"
        assert "zygote for hello ready" in deployment.output()

        run_id = deployment.graphql(LAUNCH, job="slow_job")["launchRun"]["id"]
        deployment.wait_for(
            lambda: any(e["message"] == "tick 1"
                        for e in deployment.graphql(RUN, id=run_id)["run"]["events"]),
            what="slow_job ticking")
        deployment.graphql(CANCEL, id=run_id)
        deployment.wait_for(
            lambda: deployment.graphql(RUN, id=run_id)["run"]["status"] == "CANCELED",
            what="slow_job CANCELED")
        # a forked run worker names the cancel as the cold one does
        deployment.wait_for(
            lambda: {"STEP_CANCELED", "RUN_CANCELED"} <= {
                e["type"] for e in deployment.graphql(RUN, id=run_id)["run"]["events"]},
            what="the cancel in slow_job's events")



RESOURCES_DEFS = '''
from pathlib import Path

from tether import Definitions, InitResourceContext, OpContext, Resource, job, op, resource

JOURNAL = Path({journal!r})


def note(line):
    with JOURNAL.open("a") as file:
        file.write(line + "\\n")


class Warehouse(Resource):
    name: str

    def setup_for_execution(self, context: InitResourceContext) -> None:
        note(f"setup {{self.name}}")

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        note(f"teardown {{self.name}}")


@resource
def cache():
    note("setup cache")
    yield "cache"
    note("teardown cache")


@op(pool="warehouse", tags={{"kind": "sql"}})
def load(context: OpContext, warehouse: Warehouse) -> int:
    note(f"load via {{warehouse.name}} and {{context.resources.cache}}")
    return 1


@op
def explode(value: int) -> None:
    note("explode")
    raise ValueError("the warehouse is on fire")


class Offline(Resource):
    def setup_for_execution(self, context: InitResourceContext) -> None:
        raise ConnectionError("the lake is offline")


@op
def swim(warehouse: Warehouse, lake: Offline) -> None:
    note("swim")


@job
def unready() -> None:
    swim()


@job(tags={{"team": "data", "tier": "1"}})
def tended() -> None:
    load()


@job
def burning() -> None:
    explode(load())


defs = Definitions(jobs=[tended, burning, unready],
                   resources={{"warehouse": Warehouse(name="wh"), "cache": cache,
                               "lake": Offline()}})
'''


def test_resources_are_set_up_and_torn_down_around_a_real_run_and_job_tags_tag_it(
        tmp_path: Path, broker_url: str) -> None:
    journal = tmp_path / "journal.txt"
    workspace = one_location(tmp_path, "tended", RESOURCES_DEFS.format(journal=str(journal)),
                             working_directory="project")
    with deployed(redis_url=broker_url, workspace=workspace, data_dir=tmp_path) as deployment:
        wait_loaded(deployment)
        jobs = deployment.graphql(
            "{ codeLocations { jobs { name tags nodes { name pool tags } } } }"
        )["codeLocations"][0]["jobs"]
        assert {"name": "tended", "tags": {"team": "data", "tier": "1"},
                "nodes": [{"name": "load", "pool": "warehouse", "tags": {"kind": "sql"}}]} in jobs

        run = run_to_end(deployment, "tended")
        assert run["status"] == "SUCCESS", deployment.output()
        assert journal.read_text().splitlines() == [
            "setup wh", "setup cache", "load via wh and cache", "teardown cache",
            "teardown wh"]
        tags = deployment.graphql("query($id: ID!) { run(id: $id) { tags } }",
                                  id=run["id"])["run"]["tags"]
        assert tags["team"] == "data" and tags["tier"] == "1"
        # the run executes a step of pool warehouse (no limit set here: it did not wait)
        assert tags["tether/pool/warehouse"] == "load"

        journal.unlink()
        run = run_to_end(deployment, "burning")
        assert run["status"] == "FAILURE"
        # torn down after the failed step, before the run's outcome
        assert journal.read_text().splitlines() == [
            "setup wh", "setup cache", "load via wh and cache", "explode", "teardown cache",
            "teardown wh"]

        journal.unlink()
        run = run_to_end(deployment, "unready")
        assert run["status"] == "FAILURE"
        # no step ran; what was set up before the failing setup is torn down
        assert journal.read_text().splitlines() == ["setup wh", "teardown wh"]
        assert not any(e["type"] == "STEP_START" for e in run["events"])
        failure = next(e for e in run["events"] if e["type"] == "RUN_FAILURE")
        assert "resource 'lake' failed to set up: ConnectionError: the lake is offline" \
            in failure["message"]
        assert "defs.py" in failure["error"]["stack"]
