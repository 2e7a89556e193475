"""The broker restarts in the middle of a chatty run: the run still succeeds with every event
and every line of its output stored once and in order, and a run launched while the broker
is down starts once it is back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tether.broker._embedded import EmbeddedBroker

from ..deployment import LAUNCH, RUN, Deployment, deployed, one_location, wait_loaded

LINES = 3000
DEFS = f'''
import time
from tether import Definitions, OpContext, job, op

@op
def chatty(context: OpContext) -> None:
    # {LINES} lines over about three seconds, and a log message every 20 lines
    start = time.monotonic()
    for i in range({LINES}):
        print(f"line {{i:05d}}")
        if i % 20 == 0:
            context.log.info(f"printed {{i}} lines")
            time.sleep(max(0.0, start + i / 1000 - time.monotonic()))

@job
def chatty_job() -> None:
    chatty()

@op
def quick() -> None:
    print("quick is done")

@job
def quick_job() -> None:
    quick()

defs = Definitions(jobs=[chatty_job, quick_job])
'''
PROGRESS = "query($id: ID!) { run(id: $id) { status events { type seq } } }"


@contextmanager
def running_broker(data_dir: Path) -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(data_dir)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def workspace(tmp_path: Path) -> Path:
    return one_location(tmp_path, "chatty", DEFS, working_directory="project")


def progress(deployment: Deployment, run_id: str) -> dict[str, Any]:
    run: dict[str, Any] = deployment.graphql(PROGRESS, id=run_id)["run"]
    assert run["status"] not in ("FAILURE", "CANCELED"), run
    return run


@pytest.mark.timeout(120)
def test_a_broker_restart_mid_run_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    with running_broker(tmp_path / "valkey") as broker, deployed(
            redis_url=broker.url, workspace=workspace(tmp_path), data_dir=tmp_path
    ) as deployment:
        wait_loaded(deployment)
        chatty = deployment.graphql(LAUNCH, job="chatty_job")["launchRun"]["id"]
        deployment.wait_for(
            lambda: sum(e["type"] == "LOG_MESSAGE" for e in progress(deployment, chatty)
                        ["events"]) >= 10, what="the chatty run well under way")

        broker.stop()
        quick = deployment.graphql(LAUNCH, job="quick_job")["launchRun"]["id"]
        # the poller has claimed it while there is no broker to hand it to
        deployment.wait_for(lambda: progress(deployment, quick)["status"] == "STARTING",
                            what="the quick run claimed")
        assert progress(deployment, chatty)["status"] == "STARTED"
        broker.start()

        for run_id, last_line in ((chatty, f"line {LINES - 1:05d}\n"),
                                  (quick, "quick is done\n")):
            # well before the claim of the quick run would lapse (60 s) and be claimed again
            run = deployment.wait_for(lambda r=run_id, end=last_line: finished(deployment, r, end),
                                      what=f"run {run_id} to succeed with all its output",
                                      timeout=30)
            events = [e for e in run["events"] if e["seq"] is not None]
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
            assert events[-1]["type"] == "RUN_SUCCESS"
            assert [e["type"] for e in run["events"]].count("RUN_START") == 1

        run = deployment.graphql(RUN, id=chatty)["run"]
        logged = [e["message"] for e in run["events"] if e["type"] == "LOG_MESSAGE"]
        assert logged == [f"printed {i} lines" for i in range(0, LINES, 20)]
        assert stdout(run) == "".join(f"line {i:05d}\n" for i in range(LINES))
        deployment.assert_alive()


def stdout(run: dict[str, Any]) -> str:
    chunks = sorted((c["seq"], c["data"]) for c in run["logs"] if c["stream"] == "stdout")
    assert [seq for seq, _ in chunks] == list(range(1, len(chunks) + 1)), "a gap in stdout"
    return "".join(data for _, data in chunks)


def finished(deployment: Deployment, run_id: str, last_line: str) -> dict[str, Any] | None:
    """The run, once it has succeeded and its stdout has arrived up to ``last_line``."""
    if progress(deployment, run_id)["status"] != "SUCCESS":
        return None
    run: dict[str, Any] = deployment.graphql(RUN, id=run_id)["run"]
    return run if "".join(c["data"] for c in run["logs"]
                          if c["stream"] == "stdout").endswith(last_line) else None
