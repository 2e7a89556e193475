"""The run workers' broker user, on the embedded Valkey and on the machine's Redis: it appends
a run's output and claims its attempt, and reads nothing, least of all the work streams.

ACL users belong to the server, not to a database, so each test names its own and deletes it.
"""

from __future__ import annotations

import asyncio
import stat
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, NoPermissionError

from tether.broker import (
    RQ_WORKER,
    BrokerUserError,
    EmbeddedBroker,
    ensure_user,
    keys,
    publish,
    restricted_users,
)
from tether.broker._acl import (
    BrokerServer,
    keep_user,
    rq_worker_rules,
    run_worker_rules,
    user_name,
    with_credentials,
)
from tether.wire import LaunchRun, LocationSpec, RunStart, WorkItem

from ..waiting import eventually_async


@pytest.fixture(params=["valkey", "redis"])
def server_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue("broker_url" if request.param == "valkey"
                                       else "system_redis_url"))


@pytest.fixture
async def agent(server_url: str) -> AsyncIterator[aioredis.Redis]:
    """The agent's own (privileged) connection."""
    client = aioredis.Redis.from_url(server_url)
    yield client
    await client.aclose()


@pytest.fixture
def base_name(server_url: str) -> Iterator[str]:
    name = f"tether-test-{uuid.uuid4().hex[:10]}"
    yield name
    agent = redis.Redis.from_url(server_url)
    db = int(agent.connection_pool.connection_kwargs.get("db") or 0)
    agent.acl_deluser(user_name(name, db), user_name(name, db, RQ_WORKER))
    agent.close()


def work_item(run_id: str) -> WorkItem:
    launch = LaunchRun(run_id=run_id, attempt=1, job_name="secret_job",
                       location=LocationSpec(name="loc", module="m", env={"DB_PASSWORD": "x"}))
    return WorkItem(work_id=f"w-{run_id}", epoch=1, lease_until=0.0, payload=launch)


def refused(call: Callable[[], Any]) -> str:
    with pytest.raises(NoPermissionError) as caught:
        call()
    return str(caught.value)


async def test_a_run_workers_connection_appends_output_and_reads_nothing(
        agent: aioredis.Redis, server_url: str, base_name: str) -> None:
    await publish(agent, keys.WORK_RUNS, [work_item("other-run")])
    await publish(agent, keys.WORK_CODE, [work_item("other-run")])
    await publish(agent, keys.OUT_EVENTS, [RunStart(run_id="other-run", attempt=1, seq=1,
                                                            timestamp=0.0, job_name="secret_job")])
    await agent.set(keys.launched_key("other-run", 1), "pid:agent:1")
    url = await ensure_user(agent, url=server_url, base_name=base_name)
    assert base_name in url and url != server_url
    worker = redis.Redis.from_url(url)

    # what a run worker does: claim its attempt, append its events, logs and spans
    assert worker.set(keys.executing_key("mine", 1), "42", nx=True, ex=60)
    assert not worker.set(keys.executing_key("mine", 1), "43", nx=True, ex=60)
    pipe = worker.pipeline(transaction=False)
    for stream in (keys.OUT_EVENTS, keys.OUT_LOGS, keys.OUT_SPANS):
        pipe.xadd(stream, {"m": b"x"})
    assert all(pipe.execute())
    assert worker.ping()
    # and ask whether its attempt was canceled (yes or no: a cancel, or an agent stopping)
    assert not worker.exists(keys.canceled_key("mine", 1))
    await agent.set(keys.canceled_key("mine", 1), "1")
    assert worker.exists(keys.canceled_key("mine", 1))
    # and whether a pooled step of it was granted its slot, which it cannot grant itself
    assert not worker.exists(keys.slot_key("mine", 1, "load"))
    refused(lambda: worker.set(keys.slot_key("mine", 1, "load"), "1"))
    await agent.set(keys.slot_key("mine", 1, "load"), "1")
    assert worker.exists(keys.slot_key("mine", 1, "load"))
    refused(lambda: worker.get(keys.slot_key("mine", 1, "load")))

    # it cannot read the work streams ...
    for stream in (keys.WORK_RUNS, keys.WORK_CODE):
        assert "xread" in refused(lambda s=stream: worker.xread({s: "0"}))
        assert "xrange" in refused(lambda s=stream: worker.xrange(s))
        refused(lambda s=stream: worker.xreadgroup(keys.GROUP_LAUNCHERS, "me", {s: ">"}))
        refused(lambda s=stream: worker.xadd(s, {"m": b"forged"}))
    # ... nor list keys, nor read back the outbound streams ...
    refused(lambda: worker.keys("*"))
    refused(lambda: worker.scan(0))
    refused(lambda: worker.xread({keys.OUT_EVENTS: "0"}))
    refused(lambda: worker.xrange(keys.OUT_EVENTS))
    refused(lambda: worker.xlen(keys.OUT_EVENTS))
    refused(lambda: worker.xinfo_groups(keys.OUT_EVENTS))
    # ... nor touch any other key: the agent's results, guards, its own password
    refused(lambda: worker.xadd(keys.OUT_RESULTS, {"m": b"forged"}))
    refused(lambda: worker.set(keys.OUT_EVENTS, "overwritten"))
    refused(lambda: worker.xadd(keys.executing_key("x", 1), {"m": b"x"}))
    refused(lambda: worker.set(keys.launched_key("other-run", 1), "pid:me:1"))
    refused(lambda: worker.set(keys.canceled_key("other-run", 1), "1"))
    refused(lambda: worker.get(keys.canceled_key("other-run", 1)))
    refused(lambda: worker.get(keys.executing_key("mine", 1)))
    refused(lambda: worker.get(keys.ACL_RUN_WORKER_PASSWORD))
    refused(lambda: worker.delete(keys.OUT_EVENTS))
    refused(lambda: worker.hset(keys.CODE_DESIRED, "loc", "x"))
    refused(lambda: worker.flushdb())
    refused(lambda: worker.acl_list())
    refused(lambda: worker.config_get("*"))
    refused(lambda: worker.execute_command("ACL", "SETUSER", "default", "on"))
    worker.close()

    # and the agent's data is as it was, plus the run worker's output
    assert await agent.xlen(keys.WORK_RUNS) == 1
    assert await agent.xlen(keys.OUT_EVENTS) == 2
    assert await agent.get(keys.launched_key("other-run", 1)) == b"pid:agent:1"
    assert not await agent.exists(keys.canceled_key("other-run", 1))


def test_an_rq_workers_connection_does_what_rq_does_and_reads_no_tether_stream(
        server_url: str, base_name: str) -> None:
    from rq import Queue, SimpleWorker
    from rq.job import JobStatus

    async def create() -> str:
        agent = aioredis.Redis.from_url(server_url)
        await publish(agent, keys.WORK_RUNS, [work_item("other-run")])
        await publish(agent, keys.OUT_EVENTS, [RunStart(run_id="other-run", attempt=1, seq=1,
                                                        timestamp=0.0, job_name="j")])
        await ensure_user(agent, url=server_url, base_name=base_name)
        url = await ensure_user(agent, url=server_url, base_name=base_name, profile=RQ_WORKER)
        await agent.aclose()
        return url

    url = asyncio.run(create())
    assert f"{base_name}-rq" in url
    rq_worker = redis.Redis.from_url(url)

    # RQ itself: enqueue, and a worker that registers, takes the job, runs it, records it
    queue = Queue(keys.rq_queue("default"), connection=rq_worker)
    job = queue.enqueue("os.getpid")
    SimpleWorker([queue], connection=rq_worker).work(burst=True)
    assert job.get_status(refresh=True) == JobStatus.FINISHED
    assert isinstance(job.return_value(), int)

    # the work horse's bookkeeping (tether.runworker._rq)
    alive = keys.rq_alive_key(job.id)
    pipe = rq_worker.pipeline(transaction=False)
    pipe.set(alive, 1, ex=10)
    pipe.exists(keys.canceled_key("mine", 1))
    assert pipe.execute() == [True, 0]
    assert rq_worker.xadd(keys.OUT_RESULTS, {"m": b"x"})
    rq_worker.hdel(keys.RQ_JOBS, job.id)
    rq_worker.delete(alive)

    # and no more than that
    for stream in (keys.WORK_RUNS, keys.WORK_CODE, keys.OUT_EVENTS, keys.OUT_RESULTS):
        refused(lambda s=stream: rq_worker.xread({s: "0"}))
        refused(lambda s=stream: rq_worker.xrange(s))
    refused(lambda: rq_worker.keys("*"))
    refused(lambda: rq_worker.scan(0))
    refused(lambda: rq_worker.randomkey())
    refused(lambda: rq_worker.xadd(keys.OUT_EVENTS, {"m": b"forged"}))
    refused(lambda: rq_worker.get(keys.ACL_RUN_WORKER_PASSWORD))
    refused(lambda: rq_worker.get(keys.ACL_RQ_WORKER_PASSWORD))
    refused(lambda: rq_worker.set(keys.launched_key("other-run", 1), "x"))
    refused(lambda: rq_worker.set(keys.canceled_key("other-run", 1), "x"))
    refused(lambda: rq_worker.flushdb())
    refused(lambda: rq_worker.acl_list())
    refused(lambda: rq_worker.config_get("*"))
    rq_worker.close()


async def test_a_second_launcher_hands_out_the_same_user_and_spares_its_connections(
        agent: aioredis.Redis, server_url: str, base_name: str) -> None:
    first = await ensure_user(agent, url=server_url, base_name=base_name)
    worker = redis.Redis.from_url(first)
    worker.xadd(keys.OUT_EVENTS, {"m": b"1"})
    # another launcher copy of the agent starts (any host): same user, same password
    assert await ensure_user(agent, url=server_url, base_name=base_name) == first
    worker.xadd(keys.OUT_EVENTS, {"m": b"2"})
    worker.close()
    assert await agent.xlen(keys.OUT_EVENTS) == 2


async def test_a_user_the_broker_lost_is_created_again(
        agent: aioredis.Redis, server_url: str, base_name: str) -> None:
    url = await ensure_user(agent, url=server_url, base_name=base_name)
    db = int(agent.connection_pool.connection_kwargs.get("db") or 0)
    stop = asyncio.Event()
    keeping = asyncio.ensure_future(keep_user(
        agent, url=server_url, base_name=base_name, stop=stop, interval=0.05))
    try:
        # a broker restart loses its ACL users, not its data (AOF)
        await agent.acl_deluser(user_name(base_name, db))
        async def created() -> bool:
            return await agent.acl_getuser(user_name(base_name, db)) is not None

        await eventually_async(created, timeout=10, every=0.02,
                               what="the run workers' user created again")
    finally:
        stop.set()
        await keeping
    worker = redis.Redis.from_url(url)
    assert worker.xadd(keys.OUT_EVENTS, {"m": b"1"})
    refused(lambda: worker.xread({keys.WORK_RUNS: "0"}))
    worker.close()


async def test_an_agent_user_without_acl_rights_fails_clearly(
        agent: aioredis.Redis, server_url: str, base_name: str) -> None:
    limited = f"{base_name}-agent"
    await agent.execute_command("ACL", "SETUSER", limited, "on", ">pw", "~*", "&*",
                                "+@all", "-@admin")
    client = aioredis.Redis.from_url(with_credentials(server_url, limited, "pw"))
    try:
        with pytest.raises(BrokerUserError) as caught:
            await ensure_user(client, url=server_url, base_name=base_name)
    finally:
        await client.aclose()
        await agent.acl_deluser(limited)
    assert "TETHER_BROKER_RUN_WORKER_USER=''" in str(caught.value)
    assert "ACL SETUSER" in str(caught.value)


async def test_an_empty_user_setting_hands_out_the_agents_own_url(
        agent: aioredis.Redis, server_url: str, caplog: pytest.LogCaptureFixture) -> None:
    async with restricted_users(agent, url=server_url, base_name="") as urls:
        assert urls == [server_url]
    assert "user code can read the work streams" in caplog.text


async def test_on_valkey_the_user_is_held_to_the_agents_database(
        valkey_url: str, base_name: str) -> None:
    agent = aioredis.Redis.from_url(f"{valkey_url}/3")
    try:
        url = await ensure_user(agent, url=f"{valkey_url}/3", base_name=base_name)
    finally:
        await agent.aclose()
    assert f"{base_name}-db3:" in url
    worker = redis.Redis.from_url(url)
    assert worker.xadd(keys.OUT_EVENTS, {"m": b"1"})
    # another agent's streams, in another database of the same server
    refused(lambda: worker.select(0))
    worker.close()
    await aioredis.Redis.from_url(valkey_url).acl_deluser(f"{base_name}-db3")


@pytest.mark.parametrize(("server", "expected"), [
    (BrokerServer((6, 2)),
     ["reset", "on", "+ping", "+hello", "+select", "+xadd", "~tether:out:events",
      "~tether:out:logs", "~tether:out:spans", "+set", "~tether:executing:*", "+exists",
      "~tether:canceled:*", "~tether:slot:*"]),
    (BrokerServer((7, 0)),
     ["reset", "on", "+ping", "+hello", "+select",
      "(+xadd %W~tether:out:events %W~tether:out:logs %W~tether:out:spans)",
      "(+set %W~tether:executing:*)", "(+exists %R~tether:canceled:* %R~tether:slot:*)"]),
    (BrokerServer((7, 2), valkey_version=(9, 1)),
     ["reset", "on", "+ping", "+hello", "+select", "+client|setinfo", "resetdbs", "db=2",
      "(+xadd %W~tether:out:events %W~tether:out:logs %W~tether:out:spans resetdbs db=2)",
      "(+set %W~tether:executing:* resetdbs db=2)",
      "(+exists %R~tether:canceled:* %R~tether:slot:* resetdbs db=2)"]),
])
def test_the_rules_fit_the_server(server: BrokerServer, expected: list[str]) -> None:
    # Redis 6 has neither selectors nor write-only patterns: the same commands, plain keys
    assert run_worker_rules(server, db=2) == expected


async def test_redis_5_has_no_acl_and_the_launcher_says_what_to_do(
        agent: aioredis.Redis, server_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def old_redis(_: aioredis.Redis) -> BrokerServer:
        return BrokerServer((5, 0))

    # no Redis 5 on this machine: the version is the one thing that differs
    monkeypatch.setattr("tether.broker._acl.probe", old_redis)
    with pytest.raises(BrokerUserError, match=r"Redis 5\.0, which has no ACLs"):
        await ensure_user(agent, url=server_url, base_name="unused")


@pytest.mark.parametrize(("url", "expected"), [
    ("redis://127.0.0.1:6379/2", "redis://w:p%2Fq@127.0.0.1:6379/2"),
    ("rediss://agent:secret@redis.internal:6380/0?ssl_cert_reqs=required",
     "rediss://w:p%2Fq@redis.internal:6380/0?ssl_cert_reqs=required"),
    ("unix:///run/redis.sock?db=4", "unix://w:p%2Fq@/run/redis.sock?db=4"),
])
def test_the_run_worker_url_replaces_the_agents_credentials(url: str, expected: str) -> None:
    assert with_credentials(url, "w", "p/q") == expected


def test_the_rules_refuse_reads_at_the_command_level_too() -> None:
    rules = " ".join(run_worker_rules(BrokerServer((7, 2)), db=0))
    for command in ("xread", "xrange", "keys", "scan", "get", "@read", "@all"):
        assert f"+{command}" not in rules


def test_the_embedded_broker_lets_no_one_in_without_its_password(tmp_path: Path) -> None:
    # with an open default user, user code could skip its restricted user altogether
    broker = EmbeddedBroker(tmp_path / "valkey")
    broker.start()
    try:
        anonymous = redis.Redis(host=broker.host, port=broker.port)
        with pytest.raises(AuthenticationError):
            anonymous.keys("*")
        with pytest.raises(AuthenticationError):
            anonymous.execute_command("AUTH", "default", "guess")
        anonymous.close()
        agent = redis.Redis.from_url(broker.url)
        assert agent.ping()
        agent.close()
        assert broker.password not in broker.address
    finally:
        broker.stop()
    assert stat.S_IMODE((tmp_path / "valkey" / "password").stat().st_mode) == 0o600
    # the same password after a restart: the broker's data outlives it, and so do its clients
    assert EmbeddedBroker(tmp_path / "valkey").password == broker.password


def test_the_rq_workers_rules_fit_the_server() -> None:
    assert rq_worker_rules(BrokerServer((7, 0)), db=0) == [
        "reset", "on", "+ping", "+hello", "+select", "~rq:*", "&rq:*", "+@all", "-@dangerous",
        "+info", "-scan", "-randomkey", "(+exists %R~tether:canceled:*)",
        "(+set +del %W~tether:rq:alive:*)", "(+xadd %W~tether:out:results)",
        "(+hdel %W~tether:rq:jobs)"]
    # Redis 6.0 knows no channel patterns; 6.x no selectors: the bookkeeping keys join RQ's
    assert rq_worker_rules(BrokerServer((6, 0)), db=0) == [
        "reset", "on", "+ping", "+hello", "+select", "~rq:*", "+@all", "-@dangerous", "+info",
        "-scan", "-randomkey", "+exists", "~tether:canceled:*", "+set", "+del",
        "~tether:rq:alive:*", "+xadd", "~tether:out:results", "+hdel", "~tether:rq:jobs"]
