"""A real run, launched through a real deployment, whose user code tries to use the broker URL
its run worker was given: the run succeeds with its events stored, and the code could read no
work item, list no key, read back no event and write nothing but its own output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tether.broker import RQ_WORKER
from tether.broker._acl import user_name

from ..conftest import free_port
from ..deployment import AGENT, LAUNCH, RUN, Deployment, deployed, one_location, wait_loaded
from ..processes import processes_with_env
from ..waiting import launched_once_loaded

DEFS = '''
import os

import redis
import rq

from tether import Definitions, job, op

# every process that imports this code (code server, zygote, run worker) leaves its initial
# environment behind, as the code could read it
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       f"environ-{os.getpid()}"), "wb") as seen:
    seen.write(open("/proc/self/environ", "rb").read())


def attempt(what, call):
    try:
        call()
        print(f"{what}: allowed", flush=True)
    except redis.RedisError as exc:
        print(f"{what}: refused ({type(exc).__name__})", flush=True)


@op
def snoop() -> None:
    url = os.environ.get("TETHER_REDIS_URL", "")
    # in an RQ job, the broker connection at hand is the RQ worker's
    broker = redis.Redis.from_url(url) if url else rq.get_current_job().connection
    print(f"broker user: {broker.connection_pool.connection_kwargs.get('username')}")
    attempt("xread work", lambda: broker.xread({"tether:work:runs": "0"}))
    attempt("xrange work", lambda: broker.xrange("tether:work:code"))
    attempt("keys", lambda: broker.keys("*"))
    attempt("scan", lambda: broker.scan(0))
    attempt("xread events", lambda: broker.xread({"tether:out:events": "0"}))
    attempt("write results", lambda: broker.xadd("tether:out:results", {"m": b"x"}))
    attempt("write other key", lambda: broker.set("tether:launched:x:1", "x"))
    # what a run worker is given: its broker URL, log settings and where it stores outputs
    leaked = [name for name in os.environ if name.startswith("TETHER_") and name not in
              ("TETHER_REDIS_URL", "TETHER_LOG_LEVEL", "TETHER_LOG_FORMAT",
               "TETHER_STORAGE_DIR")]
    print(f"tether settings: {leaked}", flush=True)


@job
def snoop_job() -> None:
    snoop()


defs = Definitions(jobs=[snoop_job])
'''



@contextmanager
def snoop_deployment(tmp_path: Path, redis_url: str, launcher: str) -> Iterator[Deployment]:
    """A deployment serving the snoop location, whose run workers' broker user is this
    test's own (ACL users belong to the server), deleted afterwards."""
    workspace = one_location(tmp_path, "snoop", DEFS, working_directory=".")
    base_name = f"tether-test-{uuid.uuid4().hex[:10]}"
    agent = redis.Redis.from_url(redis_url)
    try:
        with deployed(redis_url=redis_url, workspace=workspace, data_dir=tmp_path,
                      processes=AGENT,
                      env={"TETHER_RUN_LAUNCHER": launcher,
                           "TETHER_BROKER_RUN_WORKER_USER": base_name}) as deployment:
            wait_loaded(deployment)
            yield deployment
    finally:
        db = int(agent.connection_pool.connection_kwargs.get("db") or 0)
        agent.acl_deluser(user_name(base_name, db), user_name(base_name, db, RQ_WORKER))
        agent.close()


@pytest.fixture(params=["valkey+process", "redis+warm"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Deployment]:
    broker, launcher = request.param.split("+")
    redis_url = request.getfixturevalue("broker_url" if broker == "valkey"
                                        else "system_redis_url")
    with snoop_deployment(tmp_path, redis_url, launcher) as deployment:
        yield deployment


def snooped(deployment: Deployment) -> str:
    """The output of a run of snoop_job, which must succeed with all its events stored."""
    run_id = deployment.graphql(LAUNCH, job="snoop_job")["launchRun"]["id"]
    run = deployment.wait_for(
        lambda: (r := deployment.graphql(RUN, id=run_id)["run"])["status"] == "SUCCESS"
        and any(e["type"] == "RUN_SUCCESS" for e in r["events"]) and r,
        what="the run to succeed")

    def stdout_of(run: dict) -> str:
        return "".join(c["data"] for c in run["logs"] if c["stream"] == "stdout")

    # the logs may trail the status by an upload
    if "tether settings" not in stdout_of(run):
        run = deployment.wait_for(
            lambda: "tether settings" in stdout_of(r := deployment.graphql(RUN, id=run_id)["run"])
            and r, timeout=10, what=f"the run's output (so far: {run})")
    stdout = stdout_of(run)

    events = [e for e in run["events"] if e["seq"] is not None]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "RUN_START" and events[-1]["type"] == "RUN_SUCCESS"
    return stdout


def test_user_code_in_a_run_can_only_append_its_output(deployment: Deployment) -> None:
    stdout = snooped(deployment)
    assert "broker user: tether-test-" in stdout
    # no process that imported the code had the agent's own broker URL in its environment
    agent_url = deployment.env["TETHER_REDIS_URL"].encode()
    environs = list(deployment.data_dir.glob("environ-*"))
    assert len(environs) >= 2, "the code server and a run worker (or zygote) imported it"
    assert [path.name for path in environs if agent_url in path.read_bytes()] == []
    for what in ("xread work", "xrange work", "keys", "scan", "xread events",
                 "write results", "write other key"):
        assert f"{what}: refused (NoPermissionError)" in stdout, stdout
    assert "tether settings: []" in stdout


def test_an_rq_job_carries_the_run_workers_broker_url_not_the_agents(
        tmp_path: Path, system_redis_url: str) -> None:
    from rq.job import Job

    # every RQ worker can read every job: the agent's credentials must not be in them
    with snoop_deployment(tmp_path, system_redis_url, "rq") as deployment:
        run_id = deployment.graphql(LAUNCH, job="snoop_job")["launchRun"]["id"]
        deployment.wait_for(
            lambda: any(e["type"] == "RUN_LAUNCHED"
                        for e in deployment.graphql(RUN, id=run_id)["run"]["events"]),
            what="the run enqueued on RQ")
        client = redis.Redis.from_url(system_redis_url)
        worker_url = Job.fetch(f"tether-run-{run_id}-1", connection=client).args[1]
        client.close()
        assert worker_url.startswith("redis://tether-test-")
        # the run workers' user, which reads nothing
        worker = redis.Redis.from_url(worker_url)
        assert worker.ping()
        with pytest.raises(redis.exceptions.NoPermissionError):
            worker.xread({"tether:work:runs": "0"})
        worker.close()


def test_user_code_in_an_rq_job_reads_no_tether_stream(tmp_path: Path, broker_url: str) -> None:
    with snoop_deployment(tmp_path, broker_url, "rq") as deployment:
        # what an operator does to set up RQ workers: ask the agent for their broker URL
        created = subprocess.run(
            [sys.executable, "-m", "tether", "agent", "rq-worker-url"], env=deployment.env,
            capture_output=True, text=True, timeout=60, check=True)
        rq_url = created.stdout.strip()
        base_name = deployment.env["TETHER_BROKER_RUN_WORKER_USER"]
        assert rq_url.startswith(f"redis://{base_name}-rq:")
        deployment.env["TETHER_REDIS_URL"] = rq_url
        deployment.start("rq-worker")
        stdout = snooped(deployment)
    assert f"broker user: {base_name}-rq" in stdout
    for what in ("xread work", "xrange work", "keys", "scan", "xread events",
                 "write other key"):
        assert f"{what}: refused (NoPermissionError)" in stdout, stdout
    # the RQ worker reports its jobs' exits itself: it may append to the results stream
    assert "write results: allowed" in stdout


@pytest.mark.timeout(240)
def test_tether_dev_on_rq_gives_its_rq_worker_the_restricted_user(tmp_path: Path) -> None:
    from ..cli.test_dev import ctrl_c, start_dev, tether

    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env.update(TETHER_TEST_MARKER=str(tmp_path), TETHER_RUN_LAUNCHER="rq")
    port = free_port()
    dev = start_dev(tmp_path, env, port)
    try:
        env_cli = {**env, "TETHER_URL": f"http://127.0.0.1:{port}"}
        launched = launched_once_loaded(
            lambda: tether("run", "launch", "hello_job", "--wait", cwd=tmp_path, env=env_cli))
        assert launched.returncode == 0, launched.stdout + launched.stderr
        assert "status: SUCCESS" in launched.stdout

        # who is connected to the embedded broker: nobody else gets in without its password
        address = re.search(r"broker (redis://\S+),", (tmp_path / "dev.log").read_text())
        assert address is not None
        password = (tmp_path / ".tether" / "valkey" / "password").read_text().strip()
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis.from_url(address[1]).ping()
        admin = redis.Redis.from_url(address[1], password=password)
        users = {client["user"] for client in admin.client_list()}
        admin.close()
    finally:
        ctrl_c(dev, tmp_path)
    assert "tether-run-worker-rq" in users, users
    assert processes_with_env(str(tmp_path)) == []
