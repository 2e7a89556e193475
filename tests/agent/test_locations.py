"""Code locations as CI and an operator use them, on a real deployment: `tether location
deploy|redeploy|remove`, code servers that die, a supervisor that restarts, and a redeploy
while a run is in progress."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
import redis

from tether.agent.supervisor import HEALTH_INTERVAL
from tether.broker import keys
from tether.wire import CodeServerRecord

from ..deployment import LAUNCH, RUN_STATUS, Deployment, deployed
from ..waiting import holds

LOCATION = "query($name: String!) { codeLocation(name: $name) { name status error generation } }"

GOOD = """
import time
from tether import Definitions, job, op

@op
def step() -> str:
    time.sleep(float(__import__("os").environ.get("STEP_SECONDS", "0")))
    return "done"

@job
def nightly() -> None:
    step()

defs = Definitions(jobs=[nightly])
"""
BROKEN = "from tether import op\n\n@op\ndef step(:\n    pass\n"


# the agent host's secret, which only run workers read (through EnvVar)
SECRET_URL = "postgresql://etl:hunter2-secret@warehouse.internal/sales"

CONFIGURED = """
from tether import Config, Definitions, EnvVar, OpContext, Resource, job, op

class LoadConfig(Config, frozen=True):
    table: str
    limit: int = 100

class Warehouse(Resource, frozen=True):
    url: str

@op
def load(context: OpContext, config: LoadConfig, warehouse: Warehouse) -> None:
    context.log.info(f"{config.table} limit {config.limit} via a {len(warehouse.url)}-char url")

@job
def nightly() -> None:
    load()

defs = Definitions(jobs=[nightly], resources={"warehouse": Warehouse(url=EnvVar("WH_URL"))})
"""


@pytest.fixture
def deployment(tmp_path: Path, broker_url: str) -> Iterator[Deployment]:
    workspace = tmp_path / "workspace.toml"
    workspace.write_text("locations = []\n")
    with deployed(redis_url=broker_url, workspace=workspace, data_dir=tmp_path,
                  env={"WH_URL": SECRET_URL}) as running:
        yield running


def tether(deployment: Deployment, *args: str, cwd: Path | None = None
           ) -> subprocess.CompletedProcess[str]:
    """The CLI as a CI job runs it: only the control plane's URL and a user token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env.update(TETHER_URL=deployment.url, TETHER_TOKEN=deployment.user_token,
               TETHER_DATA_DIR=str(deployment.data_dir))
    return subprocess.run([sys.executable, "-m", "tether", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def servers_of(deployment: Deployment, location: str) -> list[CodeServerRecord]:
    client = redis.Redis.from_url(deployment.env["TETHER_REDIS_URL"])
    try:
        raw = client.hgetall(keys.CODE_SERVERS)
    finally:
        client.close()
    records = [msgspec.msgpack.decode(value, type=CodeServerRecord) for value in raw.values()]
    return [record for record in records if record.location == location]


def only_server(deployment: Deployment, location: str) -> CodeServerRecord | None:
    """The location's one recorded server, or None while there are more (or none)."""
    records = servers_of(deployment, location)
    return records[0] if len(records) == 1 else None


def alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def answers(record: CodeServerRecord) -> bool:
    """Whether the recorded server answers GetSnapshot, as the supervisor's queries do."""
    import asyncio

    from tether.codeserver import CodeServerClient
    from tether.errors import CodeServerError

    async def query() -> bool:
        async with CodeServerClient(record.address) as client:
            try:
                await client.get_snapshot(timeout=1.0)
            except CodeServerError:
                return False
            return True

    return asyncio.run(query())


def test_deploy_from_ci_fails_on_code_that_cannot_load_and_passes_once_fixed(
        deployment: Deployment, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "defs.py").write_text(BROKEN)

    failed = tether(deployment, "location", "deploy", "nightly", "--python-file", "defs.py",
                    "--working-directory", "project", "--wait", "--timeout", "60",
                    cwd=tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "failed to load (ERROR)" in failed.stderr
    assert "SyntaxError" in failed.stderr and "def step(:" in failed.stderr
    location = deployment.graphql(LOCATION, name="nightly")["codeLocation"]
    assert location["status"] == "ERROR" and "defs.py" in location["error"]

    (project / "defs.py").write_text(GOOD)
    fixed = tether(deployment, "location", "redeploy", "nightly", "--wait", "--timeout", "60")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "Code location nightly LOADED" in fixed.stdout and "1 job(s)" in fixed.stdout
    location = deployment.graphql(LOCATION, name="nightly")["codeLocation"]
    assert (location["status"], location["error"]) == ("LOADED", None)
    deployment.wait_for(lambda: only_server(deployment, "nightly"), timeout=15,
                        what="the broken deploy's server to stop")

    # deploying the same spec again, as every CI run does, loads it again and stays LOADED
    again = tether(deployment, "location", "deploy", "nightly", "--python-file", "defs.py",
                   "--working-directory", "project", "--wait", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    listing = tether(deployment, "location", "list")
    assert listing.returncode == 0
    assert listing.stdout.splitlines() == ["nightly              LOADED   jobs: nightly; assets: 0"]
    run_id = deployment.graphql(LAUNCH, job="nightly")["launchRun"]["id"]
    deployment.wait_for(lambda: deployment.graphql(RUN_STATUS, id=run_id)["run"]["status"] ==
                        "SUCCESS", what="the run of the deployed job")

    # the server the second deploy replaced drains, then stops
    current = deployment.wait_for(lambda: only_server(deployment, "nightly"), timeout=15,
                                  what="the replaced server to stop")
    removed = tether(deployment, "location", "remove", "nightly")
    assert removed.returncode == 0, removed.stderr
    assert deployment.graphql(LOCATION, name="nightly")["codeLocation"] is None
    deployment.wait_for(lambda: not alive(current.pid) and not servers_of(deployment, "nightly"),
                        timeout=15, what="the removed location's code server to stop")
    unknown = tether(deployment, "location", "redeploy", "nightly")
    assert unknown.returncode == 1 and "no code location named 'nightly'" in unknown.stderr


def test_a_killed_code_server_is_back_and_a_restarted_supervisor_adopts_it(
        deployment: Deployment, tmp_path: Path) -> None:
    (tmp_path / "defs.py").write_text(GOOD)
    deployed = tether(deployment, "location", "deploy", "nightly", "--python-file", "defs.py",
                      "--wait", cwd=tmp_path)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    [first] = servers_of(deployment, "nightly")

    os.kill(first.pid, signal.SIGKILL)
    killed_at = time.monotonic()

    def replaced() -> CodeServerRecord | None:
        records = [r for r in servers_of(deployment, "nightly") if r.pid != first.pid]
        return records[0] if records and answers(records[0]) else None

    second = deployment.wait_for(replaced, timeout=15, what="a new code server")
    assert time.monotonic() - killed_at < 5
    assert deployment.graphql(LOCATION, name="nightly")["codeLocation"]["status"] == "LOADED"

    # the supervisor dies; its successor takes over the healthy server instead of a new one
    supervisor = deployment.processes["supervisor"]
    os.kill(supervisor.pid, signal.SIGKILL)
    supervisor.wait()
    deployment.start("supervisor")
    log = deployment.logs["supervisor"]
    deployment.wait_for(lambda: f"adopted the code server of nightly (pid {second.pid}"
                        in log.read_text(), timeout=20, what="the server to be adopted")

    def kept() -> bool:
        return alive(second.pid) and "starting a code server for nightly" not in \
            log.read_text().split(f"adopted the code server of nightly (pid {second.pid}")[1]

    # the supervisor checks the adopted server's health twice, and keeps it
    holds(kept, seconds=2 * HEALTH_INTERVAL + 0.5, what="the adopted server kept")
    assert [r.pid for r in servers_of(deployment, "nightly")] == [second.pid]
    assert alive(second.pid) and answers(second)
    assert "starting a code server for nightly" not in log.read_text().split(
        f"adopted the code server of nightly (pid {second.pid}")[1]

    # and it still serves: a redeploy goes through the adopting supervisor
    redeployed = tether(deployment, "location", "redeploy", "nightly", "--wait")
    assert redeployed.returncode == 0, redeployed.stdout + redeployed.stderr
    deployment.wait_for(lambda: not alive(second.pid), timeout=15,
                        what="the replaced server to stop")


# the redeploy must fit within the run, and the querier's pace is a wall-clock one: beside
# other tests the new code server's start took longer than the run
@pytest.mark.alone
def test_a_redeploy_during_a_run_leaves_no_query_gap_and_the_run_succeeds(
        deployment: Deployment, tmp_path: Path) -> None:
    (tmp_path / "defs.py").write_text(GOOD)
    # the run must outlast the redeploy (a new code server's start, on a busy machine
    # several seconds), or there is no run during it
    deployed = tether(deployment, "location", "deploy", "nightly", "--python-file", "defs.py",
                      "--env", "STEP_SECONDS=12", "--wait", cwd=tmp_path)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    [before] = servers_of(deployment, "nightly")

    gaps: list[float] = []
    queries = 0
    stop = threading.Event()

    def query_continuously() -> None:
        nonlocal queries
        while not stop.is_set():
            # as a client does: look the location's servers up, query; if none answers,
            # look again (the lookup may predate a switch) and query the current ones
            queries += 1
            if not any(answers(r) for r in servers_of(deployment, "nightly")) and not any(
                    answers(r) for r in servers_of(deployment, "nightly")):
                gaps.append(time.monotonic())
            # a client's pace, until the test is done with the redeploy
            time.sleep(0.02)

    querier = threading.Thread(target=query_continuously)
    querier.start()
    try:
        run_id = deployment.graphql(LAUNCH, job="nightly")["launchRun"]["id"]
        deployment.wait_for(lambda: deployment.graphql(RUN_STATUS, id=run_id)["run"]["status"] ==
                            "STARTED", what="the run to start")
        redeployed = tether(deployment, "location", "redeploy", "nightly", "--wait")
        assert redeployed.returncode == 0, redeployed.stdout + redeployed.stderr
        assert deployment.graphql(RUN_STATUS, id=run_id)["run"]["status"] == "STARTED"
        status = deployment.wait_for(
            lambda: (s := deployment.graphql(RUN_STATUS, id=run_id)["run"]["status"]) in (
                "SUCCESS", "FAILURE") and s, what="the run to end")
    finally:
        stop.set()
        querier.join()
    assert status == "SUCCESS"
    after = deployment.wait_for(lambda: only_server(deployment, "nightly"), timeout=15,
                                what="the old server to stop")
    assert after.pid != before.pid and not alive(before.pid)
    assert queries > 20 and gaps == []


def test_a_run_config_is_checked_before_the_run_exists_and_reaches_the_op(
        deployment: Deployment, tmp_path: Path) -> None:
    (tmp_path / "defs.py").write_text(CONFIGURED)
    deployed = tether(deployment, "location", "deploy", "nightly", "--python-file", "defs.py",
                      "--wait", cwd=tmp_path)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr

    bad = tether(deployment, "run", "launch", "nightly", "--config",
                 '{"ops": {"load": {"config": {"table": "sales", "limit": "10"}}}}')
    assert bad.returncode == 1
    assert "invalid run config for job nightly: $.ops.load.config.limit: expected int, " \
        "got str" in bad.stderr
    missing = tether(deployment, "run", "launch", "nightly")
    assert missing.returncode == 1
    assert "invalid run config for job nightly: $.ops.load.config.table: missing required " \
        "field" in missing.stderr
    # and the shape to start from: defaults filled in, null where a value is required
    shape = missing.stderr.partition("replace each null):\n")[2]
    assert json.loads(shape) == {"ops": {"load": {"config": {"table": None, "limit": 100}}}}
    both = tether(deployment, "run", "launch", "nightly", "--config",
                  '{"ops": {"load": {"config": {"limit": "10"}}}}')
    assert "invalid run config for job nightly: 2 problems:\n" \
        "  $.ops.load.config.limit: expected int, got str\n" \
        "  $.ops.load.config.table: missing required field" in both.stderr
    assert deployment.graphql("{ runs { id } }")["runs"] == []

    good = tether(deployment, "run", "launch", "nightly", "--wait", "--config",
                  '{"ops": {"load": {"config": {"table": "sales"}}}}')
    assert good.returncode == 0, good.stdout + good.stderr
    assert f"sales limit 100 via a {len(SECRET_URL)}-char url" in good.stdout
    # the value was read in the run worker, from the agent host's environment only
    stored = [path.read_bytes() for path in tmp_path.glob("tether.db*")]
    assert stored and not any(SECRET_URL.encode() in data for data in stored)


def test_an_unset_env_var_is_reported_once_without_tethers_frames(
        deployment: Deployment, tmp_path: Path) -> None:
    (tmp_path / "defs.py").write_text(CONFIGURED.replace('EnvVar("WH_URL")',
                                                         'EnvVar("NOT_SET_URL")'))
    deployed = tether(deployment, "location", "deploy", "nightly", "--python-file", "defs.py",
                      "--wait", cwd=tmp_path)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    problem = "the environment variable NOT_SET_URL is not set"

    launched = tether(deployment, "run", "launch", "nightly", "--wait", "--config",
                      '{"ops": {"load": {"config": {"table": "sales"}}}}')
    assert launched.returncode == 1
    shown = launched.stdout + launched.stderr
    assert shown.count(problem) == 1, shown
    assert "Traceback" not in shown and "tether/sdk" not in shown
    run_id = launched.stdout.split()[2]

    logs = tether(deployment, "run", "logs", run_id, "--only", "events")
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.count(problem) == 1, logs.stdout
    assert "Traceback" not in logs.stdout
