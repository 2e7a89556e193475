"""The supervisor in this process, against a real Valkey and real code-server processes:
queries through a restart, and failures that are retried until the location loads."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tether.agent import Supervisor
from tether.agent._retries import MAX_RETRY_SECONDS, Retries
from tether.broker import connect, keys
from tether.wire import (
    AgentResult,
    DesiredLocation,
    LocationLoaded,
    LocationLoadFailed,
    LocationSpec,
)

from ..conftest import REPO
from ..processes import processes_with_env
from ..waiting import eventually_async

pytestmark = pytest.mark.anyio
HELLO = LocationSpec(name="hello", module="hello.defs",
                     working_directory=str(REPO / "examples" / "hello"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@contextlib.asynccontextmanager
async def running_supervisor(broker_url: str, tmp_path: Path, *,
                             claim_idle_ms: int | None = None,
                             **options: Any) -> AsyncIterator[Supervisor]:
    """A supervisor running in this event loop until the block ends (taking over entries
    left pending for ``claim_idle_ms``, when given)."""
    redis = await connect(broker_url)
    # the marker in their environment finds the code servers left behind, if any
    base_env = {**os.environ, "TEST_RUN_DIR": str(tmp_path)}
    supervisor = Supervisor(redis=redis, consumer="supervisor-test", base_env=base_env,
                            log_dir=tmp_path / "code-servers", health_interval=0.2,
                            **options)
    if claim_idle_ms is not None:
        supervisor.consumer.claim_idle_ms = claim_idle_ms
    stop = asyncio.Event()
    running = asyncio.ensure_future(supervisor.run(stop))
    try:
        yield supervisor
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=20)
        await redis.aclose()
    assert processes_with_env(str(tmp_path)) == [], "code servers left behind"


async def results(supervisor: Supervisor) -> list[AgentResult]:
    entries = await supervisor.redis.xrange(keys.OUT_RESULTS)
    return [msgspec.msgpack.decode(fields[keys.FIELD_MESSAGE], type=AgentResult)
            for _, fields in entries]


async def test_a_query_while_a_killed_server_is_replaced_waits_for_the_new_one(
        broker_url: str, tmp_path: Path) -> None:
    async with running_supervisor(broker_url, tmp_path) as supervisor:
        await _query_through_a_restart(supervisor)


async def _query_through_a_restart(supervisor: Supervisor) -> None:
    await supervisor.registry.desire(DesiredLocation(spec=HELLO, generation=7))
    first = await supervisor.snapshot("hello", timeout=30)
    assert first.job("hello_job") is not None
    pid = supervisor.servers["hello"].pid

    os.kill(pid, signal.SIGKILL)
    loop = asyncio.get_running_loop()
    killed_at = loop.time()
    again = await supervisor.snapshot("hello", timeout=15)
    assert again == first
    assert supervisor.servers["hello"].pid != pid
    assert loop.time() - killed_at < 5
    [status] = supervisor.status()
    assert (status.location, status.running, status.restarts) == ("hello", True, 1)
    # the restart is reported, for the same deploy, with no work item to complete
    loaded = [r for r in await results(supervisor) if isinstance(r, LocationLoaded)]
    assert [(r.generation, r.work_id) for r in loaded] == [(7, ""), (7, "")]


async def test_a_server_that_cannot_start_is_reported_then_retried_until_it_loads(
        broker_url: str, tmp_path: Path) -> None:
    async with running_supervisor(broker_url, tmp_path) as supervisor:
        await _retried_until_it_loads(supervisor, tmp_path)


async def _retried_until_it_loads(supervisor: Supervisor, tmp_path: Path) -> None:
    # the location's virtualenv is not there yet (e.g. CI still builds it)
    python = tmp_path / "venv" / "bin" / "python"
    spec = msgspec.structs.replace(HELLO, python=str(python))
    await supervisor.registry.desire(DesiredLocation(spec=spec, generation=3, work_id="w-1",
                                                     epoch=1))

    async def failed() -> list[LocationLoadFailed]:
        return [r for r in await results(supervisor) if isinstance(r, LocationLoadFailed)]

    [failure] = await eventually_async(failed, what="the failed load reported")
    assert (failure.work_id, failure.generation) == ("w-1", 3)
    assert "cannot start the code server of hello" in failure.error.message
    assert str(python) in failure.error.message

    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)

    async def loaded() -> list[LocationLoaded]:
        return [r for r in await results(supervisor) if isinstance(r, LocationLoaded)]

    [success] = await eventually_async(loaded, timeout=30, what="the load reported")
    assert success.generation == 3 and success.snapshot.job("hello_job") is not None
    # the first failure completes the deploy's work item; each says when the next try is
    failures = await failed()
    assert [f.work_id for f in failures] == ["w-1"] + [""] * (len(failures) - 1)
    assert all(f.next_retry_at > 0 for f in failures)


# a location whose code needs something that is not there yet: a service, or a module
NEEDS = """
from pathlib import Path
from tether import Definitions, job, op

if not Path({marker!r}).exists():
    raise ConnectionError("the warehouse is not up yet")
{imports}

@op
def step() -> None:
    pass

@job
def nightly() -> None:
    step()

defs = Definitions(jobs=[nightly])
"""


def needy_location(tmp_path: Path, *, marker: Path, imports: str = "") -> LocationSpec:
    project = tmp_path / "project"
    project.mkdir()
    (project / "defs.py").write_text(NEEDS.format(marker=str(marker), imports=imports))
    return LocationSpec(name="needy", python_file="defs.py", working_directory=str(project))


async def failed_loads(supervisor: Supervisor) -> list[LocationLoadFailed]:
    return [r for r in await results(supervisor) if isinstance(r, LocationLoadFailed)]


async def loads(supervisor: Supervisor) -> list[LocationLoaded]:
    return [r for r in await results(supervisor) if isinstance(r, LocationLoaded)]


async def test_a_location_whose_code_failed_to_load_is_retried_until_it_loads(
        broker_url: str, tmp_path: Path) -> None:
    # the service lives outside the location's folder: only the retries can notice it
    service = tmp_path / "warehouse-up"
    spec = needy_location(tmp_path, marker=service)
    async with running_supervisor(broker_url, tmp_path) as supervisor:
        await supervisor.registry.desire(DesiredLocation(spec=spec, generation=5,
                                                         work_id="w-5", epoch=1))
        [first] = await eventually_async(lambda: failed_loads(supervisor),
                                         what="the first failed load")
        assert (first.work_id, first.generation) == ("w-5", 5)
        assert "the warehouse is not up yet" in first.error.message
        assert time.time() < first.next_retry_at < time.time() + MAX_RETRY_SECONDS

        service.touch()
        [loaded] = await eventually_async(lambda: loads(supervisor), timeout=30,
                                          what="the location loaded")
        assert loaded.generation == 5 and loaded.snapshot.job("nightly") is not None
        assert (await supervisor.snapshot("needy")).job("nightly") is not None
        failures = await failed_loads(supervisor)
        # each retry said when the next one would be, later each time
        times = [f.next_retry_at for f in failures]
        assert times == sorted(times) and len(set(times)) == len(times)
        assert [f.work_id for f in failures] == ["w-5"] + [""] * (len(failures) - 1)


async def test_a_failed_location_is_loaded_again_as_soon_as_its_files_change(
        broker_url: str, tmp_path: Path) -> None:
    service = tmp_path / "warehouse-up"
    service.touch()
    spec = needy_location(tmp_path, marker=service, imports="import helper")
    # retries so far apart that only the change of its files can explain a quick load
    async with running_supervisor(broker_url, tmp_path,
                                  retries=Retries(first=120.0)) as supervisor:
        await supervisor.registry.desire(DesiredLocation(spec=spec, generation=8))
        [failure] = await eventually_async(lambda: failed_loads(supervisor),
                                           what="the failed load")
        assert "helper" in failure.error.message + failure.error.stack
        assert failure.next_retry_at > time.time() + 30

        (tmp_path / "project" / "helper.py").write_text("VALUE = 1\n")
        [loaded] = await eventually_async(lambda: loads(supervisor), timeout=10,
                                          what="the location loaded")
        assert loaded.generation == 8 and loaded.snapshot.job("nightly") is not None
        assert len(await failed_loads(supervisor)) == 1


async def test_a_redeploy_of_a_failed_location_does_not_wait_for_its_retry(
        broker_url: str, tmp_path: Path) -> None:
    service = tmp_path / "warehouse-up"
    spec = needy_location(tmp_path, marker=service)
    async with running_supervisor(broker_url, tmp_path,
                                  retries=Retries(first=120.0)) as supervisor:
        await supervisor.registry.desire(DesiredLocation(spec=spec, generation=1))
        [failure] = await eventually_async(lambda: failed_loads(supervisor),
                                           what="the failed load")
        assert failure.next_retry_at > time.time() + 30

        # the operator starts the service and redeploys, the same code
        service.touch()
        await supervisor.registry.desire(DesiredLocation(spec=spec, generation=2))
        [loaded] = await eventually_async(lambda: loads(supervisor), timeout=10,
                                          what="the location loaded")
        assert loaded.generation == 2
