"""The warm launcher's pool against a real Valkey: zygote processes that fork real run
workers, fall back when the code changed, and whose children can be stopped."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import pytest

from tether.agent._processes import child_environment, terminate_group
from tether.agent._warm import WarmPool
from tether.broker import keys
from tether.wire import (
    EXIT_RUN_FAILED,
    EXIT_RUN_SUCCEEDED,
    LaunchRun,
    LocationSpec,
    RunStart,
    RunSuccess,
    StepStart,
)

from ..conftest import EXAMPLE_WORKSPACE
from ..streams import read_stream
from ..waiting import eventually_async

HELLO = LocationSpec(name="hello", module="hello.defs",
                     working_directory=str(EXAMPLE_WORKSPACE.parent))


@pytest.fixture
async def pool() -> AsyncIterator[WarmPool]:
    pool = WarmPool(base_env=dict(os.environ))
    yield pool
    await pool.close()


def launch(run_id: str, spec: LocationSpec = HELLO, job: str = "hello_job") -> LaunchRun:
    return LaunchRun(run_id=run_id, attempt=1, job_name=job, location=spec)


def env(broker_url: str) -> dict[str, str]:
    return child_environment(dict(os.environ), {"TETHER_REDIS_URL": broker_url})


async def test_runs_fork_from_one_zygote_and_report_like_a_cold_start(
        pool: WarmPool, broker_url: str) -> None:
    first = await pool.fork(launch("r1"), env(broker_url), "", prefix="[r1] ")
    assert first is not None
    run, _ = first
    assert await run.wait() == EXIT_RUN_SUCCEEDED and run.returncode == EXIT_RUN_SUCCEEDED
    zygote_pid = pool._zygotes["hello"].process.pid

    started = time.perf_counter()
    second = await pool.fork(launch("r2"), env(broker_url), "", prefix="[r2] ")
    assert second is not None
    assert await second[0].wait() == EXIT_RUN_SUCCEEDED
    forked_in = time.perf_counter() - started
    assert pool._zygotes["hello"].process.pid == zygote_pid

    events = read_stream(broker_url, keys.OUT_EVENTS)
    starts = {e.run_id: e.pid for e in events if isinstance(e, RunStart)}
    assert starts == {"r1": run.pid, "r2": second[0].pid}
    assert {e.run_id for e in events if isinstance(e, RunSuccess)} == {"r1", "r2"}
    stdout = [c for c in read_stream(broker_url, keys.OUT_LOGS) if c.stream == "stdout"]
    assert {(c.run_id, c.step_key, c.data) for c in stdout} == {
        ("r1", "load", "total = 20\n"), ("r2", "load", "total = 20\n")}
    print(f"second warm run, fork to exit: {forked_in * 1000:.1f} ms")


async def test_a_forked_run_executes_only_its_step_selection(
        pool: WarmPool, broker_url: str) -> None:
    selected = msgspec.structs.replace(launch("part"), step_selection=["extract", "transform"])
    forked = await pool.fork(selected, env(broker_url), "", prefix="")
    assert forked is not None and await forked[0].wait() == EXIT_RUN_SUCCEEDED
    starts = [e.step_key for e in read_stream(broker_url, keys.OUT_EVENTS)
              if isinstance(e, StepStart)]
    assert starts == ["extract", "transform"]
    # load, which prints the total, did not run
    assert read_stream(broker_url, keys.OUT_LOGS) == []


async def test_changed_code_falls_back_to_a_cold_start_and_a_new_zygote(
        pool: WarmPool, broker_url: str, tmp_path: Path) -> None:
    source = tmp_path / "defs.py"
    source.write_text("from tether import Definitions, job, op\n"
                      "@op\ndef say():\n    print('version 1')\n"
                      "@job\ndef say_job():\n    say()\n"
                      "defs = Definitions(jobs=[say_job])\n")
    spec = LocationSpec(name="edited", python_file=str(source),
                        working_directory=str(tmp_path))
    first = await pool.fork(launch("v1", spec, "say_job"), env(broker_url), "", prefix="")
    assert first is not None and await first[0].wait() == EXIT_RUN_SUCCEEDED

    source.write_text(source.read_text().replace("version 1", "version 2"))
    os.utime(source, (time.time() + 5, time.time() + 5))
    assert await pool.fork(launch("v2", spec, "say_job"), env(broker_url), "", prefix="") is None

    third = await pool.fork(launch("v3", spec, "say_job"), env(broker_url), "", prefix="")
    assert third is not None and await third[0].wait() == EXIT_RUN_SUCCEEDED
    outputs = {c.run_id: c.data for c in read_stream(broker_url, keys.OUT_LOGS)}
    assert outputs == {"v1": "version 1\n", "v3": "version 2\n"}


async def test_a_forked_run_is_stopped_through_its_process_group(
        pool: WarmPool, broker_url: str) -> None:
    forked = await pool.fork(launch("slow", job="slow_job"), env(broker_url), "", prefix="")
    assert forked is not None
    run, _ = forked

    async def ticking() -> bool:
        return any(c.run_id == "slow" for c in read_stream(broker_url, keys.OUT_EVENTS)
                   if getattr(c, "message", "") == "tick 0")

    await eventually_async(ticking, what="slow_job's first tick")

    assert await terminate_group(run, grace=5.0) == EXIT_RUN_FAILED  # type: ignore[arg-type]
    logs = read_stream(broker_url, keys.OUT_LOGS)
    # one chunk or several, as the capture happened to read the pipe
    assert "cleaned up\n" in "".join(c.data for c in logs if c.run_id == "slow")
