"""Steps side by side in a real run worker (`tether api execute-run` writing to a real
Valkey): overlap seen in the step events, cancel of every running step, output attribution."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import msgspec
import pytest
import redis

from tether.broker import keys
from tether.wire import (
    EXIT_RUN_CANCELED,
    EXIT_RUN_FAILED,
    EXIT_RUN_SUCCEEDED,
    LaunchRun,
    LocationSpec,
    RunCanceled,
    RunFailure,
    StepCanceled,
    StepFailure,
    StepRetry,
    StepStart,
    StepSuccess,
    event_type,
)

from ..processes import assert_running, processes_with_env
from ..streams import read_stream
from ..waiting import eventually

DEFS = '''
import time
from tether import Definitions, Executor, RetryPolicy, job, op

def make_sleeper(index):
    @op(name=f"sleep_{index}")
    def sleeper():
        print(f"step {index} starts")
        time.sleep(1)
        print(f"step {index} ends")
        return index
    return sleeper

SLEEPERS = [make_sleeper(i) for i in range(8)]

@op
def total(a, b, c, d, e, f, g, h):
    return a + b + c + d + e + f + g + h

@job(executor=Executor("thread", max_concurrent=4))
def fan_out():
    total(*[s() for s in SLEEPERS])

def make_looper(index):
    @op(name=f"loop_{index}")
    def looper():
        try:
            print(f"loop {index} running")
            for _ in range(1200):
                time.sleep(0.05)
        finally:
            print(f"loop {index} cleaned up")
    return looper

LOOPERS = [make_looper(i) for i in range(3)]

@job
def loops():
    for looper in LOOPERS:
        looper()

def make_long_sleeper(index):
    @op(name=f"loop_{index}")
    def long_sleeper():
        try:
            print(f"loop {index} running")
            time.sleep(600)
        finally:
            print(f"loop {index} cleaned up")
    return long_sleeper

LONG_SLEEPERS = [make_long_sleeper(i) for i in range(3)]

@job
def long_sleeps():
    for sleeper in LONG_SLEEPERS:
        sleeper()

@op
def stubborn():
    started = time.monotonic()
    while time.monotonic() - started < 600:
        try:
            print("ignoring interruptions", flush=True)
            time.sleep(600)
        except KeyboardInterrupt:
            pass

@job
def stubborn_job():
    stubborn()
    stubborn.alias("stubborn_2")()

@op(retry_policy=RetryPolicy(max_retries=3, delay=600))
def patient():
    print("trying")
    raise ConnectionError("nobody home")

@job
def waits_to_retry():
    patient()

defs = Definitions(jobs=[fan_out, loops, long_sleeps, waits_to_retry, stubborn_job])
'''


def start(tmp_path: Path, redis_url: str, job: str, run_config: dict[str, object] | None = None,
          storage: Path | None = None) -> tuple[subprocess.Popen[bytes], str]:
    (tmp_path / "defs.py").write_text(DEFS)
    run_id = str(uuid.uuid4())
    launch = LaunchRun(run_id=run_id, attempt=1, job_name=job, run_config=run_config or {},
                       location=LocationSpec(name="t", python_file=str(tmp_path / "defs.py"),
                                             working_directory=str(tmp_path)))
    process = subprocess.Popen(
        [sys.executable, "-m", "tether", "api", "execute-run", "--launch-json",
         msgspec.json.encode(launch).decode()],
        env={**os.environ, "TETHER_REDIS_URL": redis_url,
             **({"TETHER_STORAGE_DIR": str(storage)} if storage else {})}, cwd=tmp_path,
        stdout=(tmp_path / "stdout").open("wb"), stderr=(tmp_path / "stderr").open("wb"),
        start_new_session=True,
    )
    return process, run_id


def steps_printing(process: subprocess.Popen[bytes], broker_url: str, count: int) -> None:
    """Until ``count`` steps have printed (each is running), while the run worker runs."""
    eventually(lambda: len({c.step_key for c in read_stream(broker_url, keys.OUT_LOGS)})
               >= count, timeout=30, every=0.05, what=f"{count} steps printing",
               meanwhile=lambda: assert_running(process))


@pytest.mark.parametrize("executor", ["thread", "multiprocess"])
def test_eight_one_second_steps_take_about_two_seconds_with_four_at_once(
        tmp_path: Path, broker_url: str, executor: str) -> None:
    process, _ = start(tmp_path, broker_url, "fan_out", {"execution": {"executor": executor}},
                       storage=tmp_path / "storage")
    assert process.wait(timeout=60) == EXIT_RUN_SUCCEEDED

    events = read_stream(broker_url, keys.OUT_EVENTS)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    starts = {e.step_key: e.timestamp for e in events if isinstance(e, StepStart)}
    ends = {e.step_key: e.timestamp for e in events if isinstance(e, StepSuccess)}
    sleepers = [f"sleep_{i}" for i in range(8)]
    # at most four at once, and four did overlap: the sleepers ran in two waves
    running, most = 0, 0
    for event in events:
        if isinstance(event, StepStart) and event.step_key in sleepers:
            running += 1
            most = max(most, running)
        elif isinstance(event, StepSuccess) and event.step_key in sleepers:
            running -= 1
    assert most == 4
    span = max(ends[s] for s in sleepers) - min(starts[s] for s in sleepers)
    assert 1.9 < span < 3.0, span
    assert starts["total"] >= max(ends[s] for s in sleepers)

    logs = read_stream(broker_url, keys.OUT_LOGS)
    for index in range(8):
        mine = "".join(c.data for c in logs if c.step_key == f"sleep_{index}")
        assert mine == f"step {index} starts\nstep {index} ends\n"


@pytest.mark.parametrize(("executor", "job"), [("thread", "loops"),
                                               ("multiprocess", "long_sleeps")])
def test_cancel_stops_every_running_step_and_their_finally_blocks_run(
        tmp_path: Path, broker_url: str, executor: str, job: str) -> None:
    # a step process is stopped even inside a long blocking call; a step thread between calls
    process, run_id = start(tmp_path, broker_url, job,
                            {"execution": {"executor": executor, "max_concurrent": 3}},
                            storage=tmp_path / "storage")
    steps_printing(process, broker_url, 3)

    valkey = redis.Redis.from_url(broker_url)
    valkey.set(keys.canceled_key(run_id, 1), "1")
    valkey.close()
    os.killpg(process.pid, signal.SIGTERM)

    assert process.wait(timeout=15) == EXIT_RUN_CANCELED
    events = read_stream(broker_url, keys.OUT_EVENTS)
    canceled = sorted(e.step_key or "" for e in events if isinstance(e, StepCanceled))
    assert canceled == ["loop_0", "loop_1", "loop_2"]
    assert isinstance(events[-1], RunCanceled)
    assert not any(event_type(e) in ("STEP_FAILURE", "RUN_FAILURE") for e in events)
    logs = read_stream(broker_url, keys.OUT_LOGS)
    for index in range(3):
        mine = "".join(c.data for c in logs if c.step_key == f"loop_{index}")
        assert mine == f"loop {index} running\nloop {index} cleaned up\n"
    assert "KeyboardInterrupt" not in "".join(c.data for c in logs)


@pytest.mark.parametrize("executor", ["thread", "multiprocess"])
def test_a_cancel_during_a_retry_delay_cancels_the_waiting_step(
        tmp_path: Path, broker_url: str, executor: str) -> None:
    process, run_id = start(tmp_path, broker_url, "waits_to_retry",
                            {"execution": {"executor": executor}}, storage=tmp_path / "storage")
    eventually(lambda: any(isinstance(e, StepRetry)
                           for e in read_stream(broker_url, keys.OUT_EVENTS)),
               timeout=30, every=0.05, what="the step's retry",
               meanwhile=lambda: assert_running(process))

    valkey = redis.Redis.from_url(broker_url)
    valkey.set(keys.canceled_key(run_id, 1), "1")
    valkey.close()
    os.killpg(process.pid, signal.SIGTERM)

    # the retry was due in ten minutes
    assert process.wait(timeout=15) == EXIT_RUN_CANCELED
    events = read_stream(broker_url, keys.OUT_EVENTS)
    assert [(event_type(e), e.step_key) for e in events][1:] == [
        ("STEP_START", "patient"), ("STEP_RETRY", "patient"), ("STEP_CANCELED", "patient"),
        ("RUN_CANCELED", None)]
    retry = events[2]
    assert isinstance(retry, StepRetry) and retry.delay == 600


@pytest.mark.parametrize(("executor", "job"), [("thread", "loops"),
                                               ("multiprocess", "long_sleeps")])
def test_sigterm_without_a_cancel_fails_every_running_step(
        tmp_path: Path, broker_url: str, executor: str, job: str) -> None:
    # an agent stopping its runs: the interruption is each step's failure, not a cancel
    process, _ = start(tmp_path, broker_url, job,
                       {"execution": {"executor": executor, "max_concurrent": 3}},
                       storage=tmp_path / "storage")
    steps_printing(process, broker_url, 3)
    os.killpg(process.pid, signal.SIGTERM)

    assert process.wait(timeout=15) == EXIT_RUN_FAILED
    events = read_stream(broker_url, keys.OUT_EVENTS)
    failures = [e for e in events if isinstance(e, StepFailure)]
    assert sorted(e.step_key or "" for e in failures) == ["loop_0", "loop_1", "loop_2"]
    assert {e.error.class_name for e in failures} == {"KeyboardInterrupt"}
    assert isinstance(events[-1], RunFailure)
    assert not any(isinstance(e, StepCanceled | RunCanceled) for e in events)
    logs = "".join(c.data for c in read_stream(broker_url, keys.OUT_LOGS))
    assert all(f"loop {i} cleaned up" in logs for i in range(3))


def test_a_step_process_that_ignores_the_cancel_is_killed_after_the_grace(
        tmp_path: Path, broker_url: str) -> None:
    process, run_id = start(tmp_path, broker_url, "stubborn_job",
                            {"execution": {"executor": "multiprocess"}},
                            storage=tmp_path / "storage")
    steps_printing(process, broker_url, 2)
    valkey = redis.Redis.from_url(broker_url)
    valkey.set(keys.canceled_key(run_id, 1), "1")
    valkey.close()
    os.killpg(process.pid, signal.SIGTERM)

    # within the launcher's ten seconds of grace: the run is recorded as canceled
    assert process.wait(timeout=9) == EXIT_RUN_CANCELED
    events = read_stream(broker_url, keys.OUT_EVENTS)
    assert isinstance(events[-1], RunCanceled)
    canceled = {e.step_key for e in events if isinstance(e, StepCanceled)}
    assert canceled == {"stubborn", "stubborn_2"}
    assert not any(isinstance(e, StepFailure | RunFailure) for e in events)
    assert processes_with_env(str(tmp_path)) == []
