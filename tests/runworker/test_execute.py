"""The run worker as the launcher starts it: a real `tether api execute-run` process writing
to a real Valkey."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import msgspec
import pytest
import redis

from tether.broker import keys
from tether.wire import (
    EXIT_DUPLICATE_ATTEMPT,
    EXIT_RUN_CANCELED,
    EXIT_RUN_FAILED,
    EXIT_RUN_SUCCEEDED,
    LaunchRun,
    LocationSpec,
    RunCanceled,
    RunFailure,
    RunSuccess,
    StepCanceled,
    StepFailure,
    event_type,
)

from ..processes import assert_running
from ..streams import read_stream
from ..waiting import eventually

DEFS = '''
import subprocess, sys, time
from tether import Definitions, EnvVar, Resource, job, op

@op
def first():
    print("from first")
    print("é" * 70000)          # larger than one pipe read: split inside a character

@op
def second(first):
    print("from second", file=sys.stderr)

@job
def two_steps():
    second(first())

@op
def slow():
    try:
        print("slow started")
        time.sleep(60)
    finally:
        print("cleanup ran")

@job
def slow_job():
    slow()

@op
def leaves_a_child():
    # a background process that inherits stdout and outlives the step
    subprocess.Popen(["sleep", "30"])
    print("started a child")

@job
def child_job():
    leaves_a_child()

@op
def fails():
    raise RuntimeError("boom")

@job
def failing_job():
    fails()

class Warehouse(Resource, frozen=True):
    url: str

@op
def export(warehouse: Warehouse):
    print("exporting to", warehouse.url)

@job
def export_job():
    export()

def helper():
    return 1 / 0

@op
def divides():
    helper()

@job
def dividing_job():
    divides()

defs = Definitions(jobs=[two_steps, slow_job, child_job, failing_job, export_job, dividing_job],
                   resources={"warehouse": Warehouse(url=EnvVar("TETHER_TEST_UNSET_URL"))})
'''


def start(tmp_path: Path, redis_url: str, job: str,
          run_id: str | None = None) -> tuple[subprocess.Popen[bytes], str]:
    (tmp_path / "defs.py").write_text(DEFS)
    run_id = run_id or str(uuid.uuid4())
    launch = LaunchRun(run_id=run_id, attempt=1, job_name=job,
                       location=LocationSpec(name="t", python_file=str(tmp_path / "defs.py"),
                                             working_directory=str(tmp_path)))
    process = subprocess.Popen(
        [sys.executable, "-m", "tether", "api", "execute-run", "--launch-json",
         msgspec.json.encode(launch).decode()],
        env={**os.environ, "TETHER_REDIS_URL": redis_url}, cwd=tmp_path,
        stdout=(tmp_path / "stdout").open("wb"), stderr=(tmp_path / "stderr").open("wb"),
        start_new_session=True,
    )
    return process, run_id


def test_output_is_attributed_to_the_step_that_wrote_it(tmp_path: Path, broker_url: str) -> None:
    process, _ = start(tmp_path, broker_url, "two_steps")
    assert process.wait(timeout=30) == EXIT_RUN_SUCCEEDED

    chunks = read_stream(broker_url, keys.OUT_LOGS)
    stdout = "".join(c.data for c in chunks if c.stream == "stdout")
    assert stdout == "from first\n" + "é" * 70000 + "\n"
    assert {c.step_key for c in chunks if c.stream == "stdout"} == {"first"}
    assert [(c.step_key, c.data) for c in chunks if c.stream == "stderr"] == [
        ("second", "from second\n")]
    # the output still reaches the agent's own terminal
    assert "from first" in (tmp_path / "stdout").read_text()
    events = read_stream(broker_url, keys.OUT_EVENTS)
    assert isinstance(events[-1], RunSuccess)


def test_a_failed_run_exits_with_the_reported_failure_code(tmp_path: Path,
                                                           broker_url: str) -> None:
    process, _ = start(tmp_path, broker_url, "failing_job")
    assert process.wait(timeout=30) == EXIT_RUN_FAILED
    events = read_stream(broker_url, keys.OUT_EVENTS)
    assert isinstance(events[-1], RunFailure)


def test_an_unset_env_var_fails_the_step_with_its_message_and_no_traceback(
        tmp_path: Path, broker_url: str) -> None:
    process, _ = start(tmp_path, broker_url, "export_job")
    assert process.wait(timeout=30) == EXIT_RUN_FAILED

    events = read_stream(broker_url, keys.OUT_EVENTS)
    step = next(e for e in events if isinstance(e, StepFailure))
    assert step.error.message == (
        "resource 'warehouse', field 'url': the environment variable TETHER_TEST_UNSET_URL is "
        "not set; set it in the code location's env (`tether location deploy --env`) or the "
        "agent's host")
    # Tether's own frames (executor, resource resolution) are nothing the user can act on
    assert step.error.stack == ""
    run = events[-1]
    assert isinstance(run, RunFailure) and run.error is not None and run.error.stack == ""


def test_a_steps_traceback_shows_the_users_frames_only_once(tmp_path: Path,
                                                           broker_url: str) -> None:
    process, _ = start(tmp_path, broker_url, "dividing_job")
    assert process.wait(timeout=30) == EXIT_RUN_FAILED

    events = read_stream(broker_url, keys.OUT_EVENTS)
    step = next(e for e in events if isinstance(e, StepFailure))
    stack = step.error.stack
    assert stack.startswith("Traceback (most recent call last):")
    assert "in divides" in stack and "in helper" in stack
    assert stack.rstrip().endswith("ZeroDivisionError: division by zero")
    assert "tether" not in stack.replace(str(tmp_path), "")
    run = events[-1]
    assert isinstance(run, RunFailure) and run.error is not None
    assert run.error.class_name == "ZeroDivisionError" and run.error.stack == ""


def wait_for_output(process: subprocess.Popen[bytes], broker_url: str) -> None:
    eventually(lambda: read_stream(broker_url, keys.OUT_LOGS), timeout=30, every=0.05,
               what="the run's first output", meanwhile=lambda: assert_running(process))


def test_sigterm_interrupts_the_step_and_its_finally_runs(tmp_path: Path,
                                                          broker_url: str) -> None:
    # no cancel asked: an agent stopping its runs; the interruption is a failure
    process, _ = start(tmp_path, broker_url, "slow_job")
    wait_for_output(process, broker_url)

    os.killpg(process.pid, signal.SIGTERM)

    assert process.wait(timeout=15) == EXIT_RUN_FAILED
    events = read_stream(broker_url, keys.OUT_EVENTS)
    failure = next(e for e in events if isinstance(e, StepFailure))
    assert failure.step_key == "slow" and failure.error.class_name == "KeyboardInterrupt"
    assert isinstance(events[-1], RunFailure)
    logs = read_stream(broker_url, keys.OUT_LOGS)
    assert "".join(c.data for c in logs if c.step_key == "slow") == "slow started\ncleanup ran\n"


def test_a_canceled_run_says_canceled_not_failed(tmp_path: Path, broker_url: str) -> None:
    process, run_id = start(tmp_path, broker_url, "slow_job")
    wait_for_output(process, broker_url)

    # what the launcher does for a cancel: mark the attempt canceled, then SIGTERM
    valkey = redis.Redis.from_url(broker_url)
    valkey.set(keys.canceled_key(run_id, 1), "1")
    valkey.close()
    os.killpg(process.pid, signal.SIGTERM)

    assert process.wait(timeout=15) == EXIT_RUN_CANCELED
    events = read_stream(broker_url, keys.OUT_EVENTS)
    assert [event_type(e) for e in events][-2:] == ["STEP_CANCELED", "RUN_CANCELED"]
    assert not any(isinstance(e, StepFailure | RunFailure) for e in events)
    step, run = events[-2], events[-1]
    assert isinstance(step, StepCanceled) and step.step_key == "slow" and step.duration > 0
    assert isinstance(run, RunCanceled)
    assert run.message == "Run of slow_job was canceled during step slow"
    logs = read_stream(broker_url, keys.OUT_LOGS)
    assert "".join(c.data for c in logs if c.step_key == "slow") == "slow started\ncleanup ran\n"
    assert "KeyboardInterrupt" not in "".join(c.data for c in logs)


@pytest.mark.timeout(60)
def test_a_child_that_keeps_stdout_open_does_not_hold_the_run(tmp_path: Path,
                                                              broker_url: str) -> None:
    process, _ = start(tmp_path, broker_url, "child_job")
    started = time.monotonic()
    assert process.wait(timeout=20) == EXIT_RUN_SUCCEEDED
    assert time.monotonic() - started < 15
    logs = read_stream(broker_url, keys.OUT_LOGS)
    assert "".join(c.data for c in logs) == "started a child\n"
    os.killpg(process.pid, signal.SIGKILL)  # the sleeping child


def test_a_second_process_for_the_same_attempt_does_nothing(tmp_path: Path,
                                                           broker_url: str) -> None:
    first, run_id = start(tmp_path, broker_url, "slow_job")
    wait_for_output(first, broker_url)

    second, _ = start(tmp_path, broker_url, "slow_job", run_id=run_id)
    assert second.wait(timeout=30) == EXIT_DUPLICATE_ATTEMPT

    os.killpg(first.pid, signal.SIGTERM)
    assert first.wait(timeout=15) == EXIT_RUN_FAILED
    events = read_stream(broker_url, keys.OUT_EVENTS)
    assert [type(e).__name__ for e in events].count("RunStart") == 1
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
