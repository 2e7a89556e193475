"""The launcher against a real Valkey, starting real run workers: a run attempt is launched
once however often its work arrives, and every launch ends in a report."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import msgspec
import pytest
import redis.asyncio as aioredis

from tether.agent import Launcher
from tether.agent._processes import child_environment
from tether.broker import keys, publish
from tether.wire import (
    LaunchRun,
    LocationSpec,
    RunLaunched,
    RunStart,
    RunWorkerExited,
    WorkItem,
)

from ..conftest import EXAMPLE_WORKSPACE
from ..streams import read_stream

SPEC = LocationSpec(name="hello", module="hello.defs",
                    working_directory=str(EXAMPLE_WORKSPACE.parent))


def work(run_id: str, epoch: int = 1) -> WorkItem:
    return WorkItem(work_id=f"w-{run_id}", epoch=epoch, lease_until=0.0,
                    payload=LaunchRun(run_id=run_id, attempt=1, job_name="hello_job",
                                      location=SPEC))


async def drain(url: str, consumer: str = "launcher-a") -> None:
    client = aioredis.Redis.from_url(url)
    launcher = Launcher(redis=client, redis_url=url, agent_id="agent-1", consumer=consumer,
                        base_env=dict(os.environ))
    await launcher.run(asyncio.Event(), burst=True)
    # burst returns once the stream is empty; the runs it started finish on their own, and
    # their exits are reported (stopping them at exit instead made their exit codes depend
    # on how fast a run worker starts on a busy machine)
    await asyncio.wait_for(asyncio.gather(*launcher._watchers), timeout=60)
    await client.aclose()


async def test_a_redelivered_launch_starts_one_worker_and_is_reported_again(
        broker_url: str) -> None:
    client = aioredis.Redis.from_url(broker_url)
    await publish(client, keys.WORK_RUNS, [work("r1"), work("r1", epoch=2)])
    await drain(broker_url)

    results = read_stream(broker_url, keys.OUT_RESULTS)
    launched = [r for r in results if isinstance(r, RunLaunched)]
    exited = [r for r in results if isinstance(r, RunWorkerExited)]
    assert len(launched) == 2 and launched[0].pid == launched[1].pid
    assert [r.epoch for r in launched] == [1, 2]  # both claims of the item complete
    assert [r.exit_code for r in exited] == [0]
    starts = [e for e in read_stream(broker_url, keys.OUT_EVENTS) if isinstance(e, RunStart)]
    assert len(starts) == 1
    await client.aclose()


@pytest.mark.parametrize("holder", [
    "launching:launcher-b:1-0",
    # a guard this version cannot read (a newer launcher's, met during a rolling upgrade)
    "later:agent-2:c0ffee",
])
async def test_a_launch_another_launcher_is_starting_is_left_to_it(
        broker_url: str, holder: str) -> None:
    client = aioredis.Redis.from_url(broker_url)
    await client.set(keys.launched_key("r2", 1), holder, ex=60)
    await publish(client, keys.WORK_RUNS, [work("r2")])
    await drain(broker_url)

    assert read_stream(broker_url, keys.OUT_RESULTS) == []
    assert read_stream(broker_url, keys.OUT_EVENTS) == []
    assert await client.get(keys.launched_key("r2", 1)) == holder.encode()
    await client.aclose()


async def test_a_lost_reply_to_its_own_guard_does_not_stop_the_launch(broker_url: str) -> None:
    # the SET NX went through but its reply was lost, and the client retried: the guard holds
    # this very delivery's token, so the launcher must go on
    client = aioredis.Redis.from_url(broker_url)
    [entry_id] = await publish(client, keys.WORK_RUNS, [work("r3")])
    token = f"launcher-a:{entry_id.decode()}"
    await client.set(keys.launched_key("r3", 1), f"launching:{token}", ex=60)
    await drain(broker_url, consumer="launcher-a")

    results = read_stream(broker_url, keys.OUT_RESULTS)
    assert [type(r) for r in results] == [RunLaunched, RunWorkerExited]
    assert results[1].exit_code == 0
    await client.aclose()


async def test_a_worker_started_by_a_launcher_that_died_before_recording_it_is_not_started_again(
        broker_url: str) -> None:
    # a launcher took the guard, started the run worker and was killed before it recorded
    # the worker's pid; its guard lapsed, and the entry it left pending is delivered again
    launch = work("r4").payload
    assert isinstance(launch, LaunchRun)
    first = subprocess.run(
        [sys.executable, "-m", "tether", "api", "execute-run", "--launch-json",
         msgspec.json.encode(launch).decode()],
        env={**os.environ, "TETHER_REDIS_URL": broker_url}, cwd=SPEC.working_directory,
        capture_output=True, timeout=60)
    assert first.returncode == 0, first.stderr
    client = aioredis.Redis.from_url(broker_url)
    worker_pid = int(await client.get(keys.executing_key("r4", 1)))
    await publish(client, keys.WORK_RUNS, [work("r4", epoch=2)])
    await drain(broker_url)

    results = read_stream(broker_url, keys.OUT_RESULTS)
    assert [type(r) for r in results] == [RunLaunched], "no second worker started"
    assert results[0].pid == worker_pid and results[0].epoch == 2
    assert await client.get(keys.launched_key("r4", 1)) == f"pid:agent-1:{worker_pid}".encode()
    await client.aclose()


def test_user_code_gets_no_tether_credentials(broker_url: str) -> None:
    base = {"PATH": "/bin", "TETHER_AGENT_TOKEN": "tta_secret", "TETHER_TOKEN": "ttu_secret",
            "TETHER_DATABASE_URL": "postgresql://cp/db", "TETHER_CONFIG": "/etc/tether.toml",
            "TETHER_REDIS_URL": broker_url, "AWS_PROFILE": "etl"}
    env = child_environment(base, {"API_KEY": "from-the-location"})
    # not even the agent's broker URL: a run worker is given one of its own
    assert env == {"PATH": "/bin", "AWS_PROFILE": "etl", "API_KEY": "from-the-location"}


async def test_a_redelivered_launch_on_rq_is_one_job_executed_once(broker_url: str) -> None:
    from tether.agent._rq import RqRuns

    client = aioredis.Redis.from_url(broker_url)
    await publish(client, keys.WORK_RUNS, [work("r5"), work("r5", epoch=2)])
    rq = RqRuns(broker_url)
    launcher = Launcher(redis=client, redis_url=broker_url, agent_id="agent-1",
                        consumer="launcher-a", base_env=dict(os.environ), rq=rq)
    await launcher.run(asyncio.Event(), burst=True)
    launched = [r for r in read_stream(broker_url, keys.OUT_RESULTS)
                if isinstance(r, RunLaunched)]
    assert [(r.epoch, r.rq_job_id, r.rq_queue) for r in launched] == [
        (1, "tether-run-r5-1", "tether.runs.default"),
        (2, "tether-run-r5-1", "tether.runs.default")]
    assert await client.llen("rq:queue:tether.runs.default") == 1

    worker = subprocess.run(
        [sys.executable, "-m", "tether", "agent", "rq-worker", "--burst"],
        env={**os.environ, "TETHER_REDIS_URL": broker_url}, capture_output=True, text=True,
        timeout=60)
    assert worker.returncode == 0, worker.stderr
    exited = [r for r in read_stream(broker_url, keys.OUT_RESULTS)
              if isinstance(r, RunWorkerExited)]
    assert [(r.run_id, r.exit_code) for r in exited] == [("r5", 0)]
    starts = [e for e in read_stream(broker_url, keys.OUT_EVENTS) if isinstance(e, RunStart)]
    assert [e.run_id for e in starts] == ["r5"]
    # reported by the job itself: nothing is left for the launchers to report
    assert await client.hlen(keys.RQ_JOBS) == 0
    assert await rq.ended_unreported() == []
    rq.close()
    await client.aclose()

