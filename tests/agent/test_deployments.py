"""One agent serving two deployments of one control plane, a token for each: each
deployment's work is claimed with its token and reported with it, and each deployment's code
location runs its own code, although both locations have the same name; a supervisor killed
with -9 comes back serving both; removing one deployment's location stops only its code
server.

The control plane holds prod and a branch deployment, staging, created as CI creates one
(``tether deployment create``), with an agent token of its own (``tether --deployment staging
control-plane create-token --kind agent``): a run reported with the other deployment's token
would be refused as unknown to it, and never end in its own."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import redis

from tether.agent._client import token_fingerprint
from tether.broker import keys
from tether.wire import CodeServerRecord, DesiredLocation

from ..deployment import Deployment, deployed, one_location, run_to_end, wait_loaded
from ..processes import processes_with_env
from .test_locations import alive, answers, tether

AGENT_WORKERS = ("poller", "launcher", "supervisor", "uploader")
AGENT_SERVERS = "{ agents { codeServers { location pid } } }"

# one location name, two deployments, different code: each defines its own job, and says
# whose code it is when it runs
CODE = """
from tether import Definitions, job, op

@op
def whose() -> str:
    print("this is the {deployment} code of shop")
    return "{deployment}"

@job
def {deployment}_job() -> None:
    whose()

defs = Definitions(jobs=[{deployment}_job])
"""


def control_plane(root: Path, broker_url: str) -> Iterator[Deployment]:
    """A control plane (no agent) whose prod deploys the prod code of shop."""
    folder = root / "prod"
    folder.mkdir()
    workspace = one_location(folder, "shop", CODE.format(deployment="prod"))
    return deployed(data_dir=root, redis_url=broker_url, workspace=workspace,
                    processes=("control-plane",))  # type: ignore[return-value]


def branch(cp: Deployment, name: str, *create: str) -> tuple[Deployment, Path]:
    """Branch deployment ``name`` of ``cp`` (``tether deployment create name *create``),
    seen through the API in it, and the file of an agent token serving it."""
    created = tether(cp, "deployment", "create", name, *create)
    assert created.returncode == 0, created.stdout + created.stderr
    issued = cp.cli("--deployment", name, "control-plane", "create-token", "--kind", "agent",
                    "--name", f"{name} agent")
    assert issued.returncode == 0, issued.stderr
    token_file = cp.data_dir / f"{name}-agent-token"
    token_file.write_text(issued.stdout.strip() + "\n")
    token_file.chmod(0o600)
    return cp.in_deployment(name), token_file


def deploy_shop(cp: Deployment, deployment: str, root: Path) -> None:
    """Deploy ``deployment``'s own code of shop, as CI deploys a branch's code."""
    folder = root / deployment
    folder.mkdir()
    (folder / "defs.py").write_text(CODE.format(deployment=deployment))
    deployed_ = tether(cp, "--deployment", deployment, "location", "deploy", "shop",
                       "--python-file", "defs.py", "--working-directory", str(folder))
    assert deployed_.returncode == 0, deployed_.stdout + deployed_.stderr


def agent_of(cp: Deployment, root: Path, broker_url: str, token_files: list[Path],
             **env: str) -> Deployment:
    """The agent's four workers, with prod's token as the one token it always had and
    ``token_files`` added."""
    agent_dir = root / "agent"
    agent_dir.mkdir()
    agent = Deployment(data_dir=agent_dir, redis_url=broker_url, processes=(),
                       env={"TETHER_URL": cp.url,
                            "TETHER_AGENT_TOKEN_FILES": ",".join(map(str, token_files)),
                            **env})
    agent.agent_token_file = cp.agent_token_file
    for worker in AGENT_WORKERS:
        agent.start(worker)
    return agent


def records(broker_url: str) -> dict[str, CodeServerRecord]:
    """The recorded code servers by served location."""
    client = redis.Redis.from_url(broker_url)
    try:
        raw = client.hgetall(keys.CODE_SERVERS)
    finally:
        client.close()
    found = [msgspec.msgpack.decode(value, type=CodeServerRecord) for value in raw.values()]
    return {keys.served_location(r.deployment, r.location): r for r in found}


def desired(broker_url: str) -> dict[str, DesiredLocation]:
    client = redis.Redis.from_url(broker_url)
    try:
        raw = client.hgetall(keys.CODE_DESIRED)
    finally:
        client.close()
    return {name.decode(): msgspec.msgpack.decode(value, type=DesiredLocation)
            for name, value in raw.items()}


def stdout_of(run: dict[str, Any]) -> str:
    return "".join(chunk["data"] for chunk in run["logs"] if chunk["stream"] == "stdout")


def zygotes(folder: Path) -> list[str]:
    """The location of each live warm zygote of code in ``folder``, as its command line
    names it (a zygote gets none of the agent's settings to be found by)."""
    served = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"zygote" in argv and b"--location-json" in argv:
            location = argv[argv.index(b"--location-json") + 1].decode()
            if str(folder) in location:
                served.append(location)
    return served


@pytest.mark.timeout(300)
@pytest.mark.parametrize("launcher", ["process", "warm"])
def test_one_agent_serves_two_deployments_with_same_named_locations(
        tmp_path: Path, broker_url: str, launcher: str) -> None:
    with control_plane(tmp_path, broker_url) as prod:
        staging, token_file = branch(prod, "staging")
        deploy_shop(prod, "staging", tmp_path)
        agent = agent_of(prod, tmp_path, broker_url, [token_file],
                         TETHER_RUN_LAUNCHER=launcher)
        try:
            check_two_deployments(prod, staging, agent, broker_url)
        finally:
            codes = agent.stop()
        assert all(code == 0 for code in codes.values()), f"{codes}\n{agent.output()}"
        assert processes_with_env(str(agent.data_dir)) == [], "processes left behind"


def check_two_deployments(prod: Deployment, staging: Deployment, agent: Deployment,
                          broker_url: str) -> None:
    # each deployment sees the one agent, and its location loaded with its own code
    for deployment, name in ((prod, "prod"), (staging, "staging")):
        [location] = agent.wait_for(lambda d=deployment: wait_loaded(d), timeout=60,
                                    what=f"shop loaded in {name}")
        assert [job["name"] for job in location["jobs"]] == [f"{name}_job"], location
        assert deployment.graphql("{ agents { id } }")["agents"]
    servers = records(broker_url)
    assert set(servers) == {"shop", "staging/shop"}, servers
    assert servers["shop"].deployment == "prod"
    assert servers["staging/shop"].deployment == "staging"
    assert servers["shop"].pid != servers["staging/shop"].pid
    # the default deployment's keys are the names an agent of one deployment always used
    assert set(desired(broker_url)) == {"shop", "staging/shop"}
    # each deployment's agents page shows its own code server, not the other's
    for deployment, served in ((prod, "shop"), (staging, "staging/shop")):
        agent.wait_for(lambda d=deployment, s=served: [
            server["pid"] for a in d.graphql(AGENT_SERVERS)["agents"]
            for server in a["codeServers"]] == [servers[s].pid], timeout=20,
            what=f"only its own code server in {served}'s heartbeat")

    # each run is launched from its deployment's code and reported to its deployment
    for deployment, name in ((prod, "prod"), (staging, "staging")):
        run = run_to_end(deployment, f"{name}_job")
        assert run["status"] == "SUCCESS", run
        assert f"this is the {name} code of shop" in stdout_of(run), run["logs"]
    if agent.env["TETHER_RUN_LAUNCHER"] == "warm":
        # each deployment's shop has a warm zygote of its own: neither replaced the other
        warm = zygotes(prod.data_dir)
        assert len(warm) == 2 and {"/prod" in z for z in warm} == {True, False}, warm
        assert "cold" not in agent.logs["launcher"].read_text()

    # the supervisor dies; its successor adopts both deployments' servers, each as its own
    supervisor = agent.processes["supervisor"]
    os.kill(supervisor.pid, signal.SIGKILL)
    supervisor.wait()
    agent.start("supervisor")
    log = agent.logs["supervisor"]
    for served in ("shop", "staging/shop"):
        agent.wait_for(lambda s=served: f"adopted the code server of {s} (pid "
                       f"{servers[s].pid}" in log.read_text(), timeout=30,
                       what=f"the server of {served} adopted")
    assert "starting a code server" not in log.read_text().split("adopted the code server")[-1]
    assert records(broker_url) == servers
    assert all(alive(record.pid) and answers(record) for record in servers.values())
    for deployment, name in ((prod, "prod"), (staging, "staging")):
        run = run_to_end(deployment, f"{name}_job")
        assert run["status"] == "SUCCESS", run

    # staging's shop is removed: its server stops, prod's shop keeps serving
    removed = tether(prod, "--deployment", "staging", "location", "remove", "shop")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    agent.wait_for(lambda: not alive(servers["staging/shop"].pid)
                   and set(records(broker_url)) == {"shop"}, timeout=30,
                   what="staging's shop server to stop and be forgotten")
    assert set(desired(broker_url)) == {"shop"}
    assert alive(servers["shop"].pid) and answers(servers["shop"])
    assert prod.graphql("{ codeLocations { name status } }")["codeLocations"] == [
        {"name": "shop", "status": "LOADED"}]


@pytest.mark.timeout(180)
def test_an_upgraded_supervisor_adopts_the_code_servers_of_one_deployment_agents(
        tmp_path: Path, broker_url: str) -> None:
    """An agent of one deployment upgraded in place: its code server, recorded (with its
    desired location) as the previous version wrote them, with no deployment, is adopted
    by the new supervisor as the default deployment's, not started again."""
    workspace = one_location(tmp_path, "shop", CODE.format(deployment="prod"))
    with deployed(data_dir=tmp_path, redis_url=broker_url, workspace=workspace) as single:
        wait_loaded(single)
        [record] = records(broker_url).values()
        supervisor = single.processes["supervisor"]
        os.kill(supervisor.pid, signal.SIGKILL)
        supervisor.wait()
        # the broker as the previous version left it: no deployment in either entry
        client = redis.Redis.from_url(broker_url)
        try:
            for key, field in ((keys.CODE_SERVERS, f"{record.host}:{record.pid}"),
                               (keys.CODE_DESIRED, "shop")):
                stored = msgspec.msgpack.decode(client.hget(key, field))  # type: ignore[arg-type]
                assert stored.pop("deployment") == "prod"
                client.hset(key, field, msgspec.msgpack.encode(stored))
        finally:
            client.close()
        single.start("supervisor")
        single.wait_for(lambda: f"adopted the code server of shop (pid {record.pid}"
                        in single.logs["supervisor"].read_text(), timeout=30,
                        what="the server adopted")
        assert "starting a code server" not in single.logs["supervisor"].read_text().split(
            "adopted the code server")[-1]
        run = run_to_end(single, "prod_job")
        assert run["status"] == "SUCCESS", run
        assert "this is the prod code of shop" in stdout_of(run)
        assert [r.pid for r in records(broker_url).values()] == [record.pid]


@pytest.mark.timeout(120)
def test_entries_of_a_deployment_no_token_serves_wait_in_the_dead_letters(
        tmp_path: Path, broker_url: str) -> None:
    """An entry of a deployment whose token the agent no longer holds (it holds one token,
    another deployment's) is reported with no other deployment's token: it goes to the dead
    letters, saying what to do, while the other deployment's entries are uploaded; replayed
    once the token is back, it is sent."""
    import asyncio

    import redis.asyncio as aioredis

    from tether.agent import ControlPlaneClient, DeploymentClients, Uploader
    from tether.agent._deployments import record_deployment
    from tether.broker import list_dead_letters, publish, replay_dead_letters
    from tether.control_plane.storage import Store
    from tether.wire import RunStart

    workspace = tmp_path / "workspace.toml"
    workspace.write_text("locations = []\n")
    with deployed(data_dir=tmp_path, redis_url=broker_url, workspace=workspace,
                  processes=("control-plane",)) as cp:
        store = Store.from_url(cp.env["TETHER_DATABASE_URL"])
        staging_token = store.create_token("agent", name="staging agent")
        store.close()

        async def upload(*, staging_served: bool) -> None:
            redis_client = aioredis.Redis.from_url(broker_url)
            tokens = [cp.agent_token, staging_token] if staging_served else [cp.agent_token]
            clients = [ControlPlaneClient(url=cp.url, token=token) for token in tokens]
            try:
                # as the pollers recorded them: staging's token served staging before
                await record_deployment(redis_client, "prod", clients[0].fingerprint)
                await record_deployment(redis_client, "staging",
                                        token_fingerprint(staging_token))
                await Uploader(clients=DeploymentClients(clients, redis_client),
                               redis=redis_client, consumer="uploader-test"
                               ).run(asyncio.Event(), burst=True)
            finally:
                for client in clients:
                    await client.aclose()
                await redis_client.aclose()

        async def write() -> None:
            redis_client = aioredis.Redis.from_url(broker_url)
            try:
                for deployment in ("prod", "staging"):
                    await publish(redis_client, keys.OUT_EVENTS, [RunStart(
                        run_id=f"{deployment}-run", attempt=1, seq=1, timestamp=1.0,
                        job_name="j")], deployment=deployment)
            finally:
                await redis_client.aclose()

        asyncio.run(write())
        asyncio.run(upload(staging_served=False))
        client = redis.Redis.from_url(broker_url)
        try:
            [letter], total = list_dead_letters(client)
            assert total == 1 and letter.letter is not None
            assert letter.letter.fields["d"] == b"staging"
            assert "no agent token of this agent serves deployment 'staging'" in \
                letter.letter.error
            # prod's entry went its way
            assert client.xlen(keys.OUT_EVENTS) == 0

            [replayed] = replay_dead_letters(client)
            assert replayed.stream == keys.OUT_EVENTS
            asyncio.run(upload(staging_served=True))
            assert list_dead_letters(client)[1] == 0
            assert client.xlen(keys.OUT_EVENTS) == 0
        finally:
            client.close()


@pytest.mark.timeout(120)
def test_a_refused_token_is_logged_and_the_other_tokens_go_on(
        tmp_path: Path, broker_url: str) -> None:
    workspace = one_location(tmp_path, "shop", CODE.format(deployment="prod"))
    with deployed(data_dir=tmp_path, redis_url=broker_url, workspace=workspace,
                  env={"TETHER_AGENT_TOKENS": "tta_revoked-long-ago"}) as agent:
        wait_loaded(agent)
        run = run_to_end(agent, "prod_job")
        assert run["status"] == "SUCCESS", run
        refused = agent.wait_for(lambda: [
            line for line in agent.logs["poller"].read_text().splitlines()
            if "ERROR" in line and "refused the agent token" in line], timeout=20,
            what="the refused token in the poller's log")
        # named by its fingerprint, never by the token itself
        assert "tta_revoked-long-ago" not in "\n".join(refused), refused
        assert token_fingerprint("tta_revoked-long-ago")[:6] in refused[0], refused


@pytest.mark.timeout(120)
def test_a_poller_stops_serving_a_deployment_whose_token_is_revoked(
        tmp_path: Path, broker_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A poller (started after the deployment was deleted: it knows the token's deployment
    from the broker only) refused on heartbeats in a row forgets the deployment's desired
    locations, which the supervisors stop, and its token's deployment; prod's stay."""
    import asyncio
    import logging

    import redis.asyncio as aioredis

    from tether.agent import ControlPlaneClient, Poller
    from tether.agent._code_registry import CodeRegistry
    from tether.agent._deployments import record_deployment
    from tether.agent.poller import REFUSALS_TO_RETIRE
    from tether.control_plane.storage import Store
    from tether.wire import LocationSpec

    workspace = tmp_path / "workspace.toml"
    workspace.write_text("locations = []\n")
    with deployed(data_dir=tmp_path, redis_url=broker_url, workspace=workspace,
                  processes=("control-plane",)) as cp:
        store = Store.from_url(cp.env["TETHER_DATABASE_URL"])
        store.create_deployment("staging")
        staging_token = store.scoped("staging").create_token("agent", name="staging agent")
        store.delete_deployment("staging")
        store.close()
        spec = LocationSpec(name="shop", python_file="defs.py")

        async def poll() -> tuple[set[str], set[str], dict[str, str]]:
            redis_client = aioredis.Redis.from_url(broker_url)
            clients = [ControlPlaneClient(url=cp.url, token=token)
                       for token in (cp.agent_token, staging_token)]
            registry = CodeRegistry(redis_client, consumer="test", host="here")
            stop = asyncio.Event()
            try:
                # as a poller left them before the deletion: staging served by its token
                await record_deployment(redis_client, "staging", clients[1].fingerprint)
                for deployment in ("prod", "staging"):
                    await registry.desire(DesiredLocation(spec=spec, generation=1,
                                                          deployment=deployment))
                poller = Poller(clients=clients, redis=redis_client, agent_id="agent-1",
                                queues=["default"], wait_seconds=1.0,
                                heartbeat_seconds=0.2)
                running = asyncio.ensure_future(poller.run(stop))
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 30
                while "staging/shop" in await registry.desired():
                    assert loop.time() < deadline, "staging's location still desired"
                    assert not running.done(), running
                    await asyncio.sleep(0.1)
                # prod's token carries on: heartbeats answered, claims go on
                while "prod" not in poller.deployments.values():
                    assert loop.time() < deadline, "prod's token never answered"
                    await asyncio.sleep(0.1)
                await asyncio.sleep(0.5)
                assert not running.done(), "the poller stopped"
                stop.set()
                await asyncio.wait_for(running, timeout=30)
                served = await redis_client.hgetall(keys.AGENT_DEPLOYMENTS)
                return (set(await registry.desired()), set(poller.deployments.values()),
                        {k.decode(): v.decode() for k, v in served.items()})
            finally:
                stop.set()
                for client in clients:
                    await client.aclose()
                await redis_client.aclose()

        with caplog.at_level(logging.ERROR, logger="tether.agent.poller"):
            desired_after, learned, served = asyncio.run(poll())
    assert desired_after == {"shop"}
    assert learned == {"prod"}
    assert set(served) == {"prod"}
    fingerprint = token_fingerprint(staging_token)[:6]
    [stopped] = [r.getMessage() for r in caplog.records
                 if "of deployment staging" in r.getMessage()]
    assert f"agent token {fingerprint}… of deployment staging on {REFUSALS_TO_RETIRE}" in \
        stopped, stopped
    assert "staging/shop" in stopped and staging_token not in stopped
    refused = [r for r in caplog.records if "refused the agent token" in r.getMessage()
               and r.getMessage() != stopped]
    # refused on exactly as many heartbeats as it takes, then no more calls with it
    assert len(refused) == REFUSALS_TO_RETIRE, [r.getMessage() for r in refused]


@pytest.mark.timeout(120)
def test_entries_of_a_deployment_whose_token_was_revoked_go_to_the_dead_letters(
        tmp_path: Path, broker_url: str) -> None:
    """The uploader retries an entry its deployment's token is refused for while that token
    still serves the deployment (a refusal may pass); once the poller found the token revoked
    and stopped serving the deployment, the entry goes to the dead letters instead of being
    retried for ever, and the other deployment's entries are uploaded all along."""
    import asyncio

    import redis.asyncio as aioredis

    from tether.agent import ControlPlaneClient, DeploymentClients, Uploader
    from tether.agent._deployments import forget_deployment, record_deployment
    from tether.broker import list_dead_letters, publish
    from tether.control_plane.storage import Store
    from tether.wire import RunStart

    workspace = tmp_path / "workspace.toml"
    workspace.write_text("locations = []\n")
    with deployed(data_dir=tmp_path, redis_url=broker_url, workspace=workspace,
                  processes=("control-plane",)) as cp:
        store = Store.from_url(cp.env["TETHER_DATABASE_URL"])
        store.create_deployment("staging")
        staging_token = store.scoped("staging").create_token("agent", name="staging agent")
        store.delete_deployment("staging")
        store.close()

        async def upload() -> int:
            redis_client = aioredis.Redis.from_url(broker_url)
            clients = [ControlPlaneClient(url=cp.url, token=token)
                       for token in (cp.agent_token, staging_token)]
            stop = asyncio.Event()
            try:
                await record_deployment(redis_client, "prod", clients[0].fingerprint)
                await record_deployment(redis_client, "staging", clients[1].fingerprint)
                for deployment in ("staging", "prod"):
                    await publish(redis_client, keys.OUT_EVENTS, [RunStart(
                        run_id=f"{deployment}-run", attempt=1, seq=1, timestamp=1.0,
                        job_name="j")], deployment=deployment)
                uploader = Uploader(clients=DeploymentClients(clients, redis_client),
                                    redis=redis_client, consumer="uploader-test")
                running = asyncio.ensure_future(uploader.run(stop))
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 60
                # refused, and retried: the token still serves staging as far as it knows
                while not any(b"staging" in fields.get(b"d", b"") for _, fields in
                              await redis_client.xrange(keys.OUT_EVENTS)) \
                        or await redis_client.xlen(keys.OUT_EVENTS) != 1:
                    assert loop.time() < deadline, "prod's entry not uploaded"
                    await asyncio.sleep(0.1)
                assert (await redis_client.xlen(keys.DEAD_LETTERS)) == 0
                # the poller finds the token revoked
                await forget_deployment(redis_client, "staging", clients[1].fingerprint)
                while await redis_client.xlen(keys.DEAD_LETTERS) == 0:
                    assert loop.time() < deadline, "staging's entry not dead-lettered"
                    assert not running.done(), running
                    await asyncio.sleep(0.1)
                stop.set()
                await asyncio.wait_for(running, timeout=30)
                return int(await redis_client.xlen(keys.OUT_EVENTS))
            finally:
                stop.set()
                for client in clients:
                    await client.aclose()
                await redis_client.aclose()

        assert asyncio.run(upload()) == 0
        client = redis.Redis.from_url(broker_url)
        try:
            [letter], total = list_dead_letters(client)
        finally:
            client.close()
        assert total == 1 and letter.letter is not None
        assert letter.letter.fields["d"] == b"staging"
        assert "no agent token of this agent serves deployment 'staging'" in \
            letter.letter.error
