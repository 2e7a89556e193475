"""Steps side by side: the thread executor's overlap, limits, failure semantics and config."""

from __future__ import annotations

import contextvars
import os
import pickle
import threading
import time
from pathlib import Path

import pytest

from tether import Definitions, Executor, job, op
from tether.sdk import RunEmitter, execute_job
from tether.wire import (
    RunEvent,
    RunFailure,
    StepFailure,
    StepSkipped,
    StepStart,
    StepSuccess,
    event_type,
)


@op
def nap() -> float:
    time.sleep(0.3)
    return time.time()


@op
def gather(a: float, b: float, c: float, d: float) -> float:
    return max(a, b, c, d)


@job(executor=Executor("thread", max_concurrent=4))
def fan_out() -> None:
    gather(nap.alias("a")(), nap.alias("b")(), nap.alias("c")(), nap.alias("d")())


RUN_LABEL: contextvars.ContextVar[str] = contextvars.ContextVar("run_label", default="none")


@op
def label_of_step() -> str:
    time.sleep(0.1)
    return RUN_LABEL.get()


@op
def labels(a: str, b: str) -> list[str]:
    return [a, b]


@job(executor=Executor("thread", max_concurrent=2))
def context_check() -> None:
    labels(label_of_step.alias("one")(), label_of_step.alias("two")())


@op
def boom() -> int:
    raise ValueError("boom")


@op
def after(value: int) -> int:
    return value


@op
def slow_branch() -> str:
    time.sleep(0.2)
    print("slow branch says hello")
    return "done"


@job
def broken_branch() -> None:
    after(after(boom()))
    slow_branch()


@job(executor=Executor("fork"))
def odd_executor() -> None:
    nap()


DEFS = Definitions(jobs=[fan_out, broken_branch, context_check, odd_executor])


def run(job_name: str, run_config: dict[str, object] | None = None
        ) -> tuple[bool, list[RunEvent]]:
    events: list[RunEvent] = []
    emitter = RunEmitter(run_id="run-1", attempt=1, sink=events.append)
    ok = execute_job(DEFS, job_name, emitter=emitter, run_config=run_config)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert emitter.current_step is None
    return ok, events


def running_at_once(events: list[RunEvent]) -> int:
    """The most steps that were between their STEP_START and their end at one time, by the
    events' clocks (step processes' events reach the run apart, in no set order)."""
    running, most = 0, 0
    for event in sorted(events, key=lambda event: event.timestamp):
        if isinstance(event, StepStart):
            running += 1
            most = max(most, running)
        elif isinstance(event, StepSuccess | StepFailure):
            running -= 1
    return most


def test_independent_steps_overlap_and_their_downstream_waits_for_all() -> None:
    ok, events = run("fan_out")
    assert ok
    starts = {e.step_key: e.timestamp for e in events if isinstance(e, StepStart)}
    ends = {e.step_key: e.timestamp for e in events if isinstance(e, StepSuccess)}
    naps = ["a", "b", "c", "d"]
    # every nap started before any finished: they ran side by side
    assert max(starts[s] for s in naps) < min(ends[s] for s in naps)
    assert running_at_once(events) == 4
    assert starts["gather"] >= max(ends[s] for s in naps)
    assert ends["gather"] - min(starts.values()) < 0.3 * 4


def test_max_concurrent_from_the_run_config_limits_the_overlap() -> None:
    ok, events = run("fan_out", {"execution": {"max_concurrent": 2}})
    assert ok
    assert running_at_once(events) == 2
    ok, events = run("fan_out", {"execution": {"executor": "in_process"}})
    assert ok
    assert running_at_once(events) == 1


def test_a_failed_step_skips_its_downstream_while_the_other_branch_runs_on() -> None:
    ok, events = run("broken_branch", {"execution": {"max_concurrent": 4}})
    assert not ok
    kinds = {(event_type(e), e.step_key) for e in events}
    assert ("STEP_FAILURE", "boom") in kinds
    assert ("STEP_SUCCESS", "slow_branch") in kinds
    skipped = [e for e in events if isinstance(e, StepSkipped)]
    assert [e.step_key for e in skipped] == ["after", "after_2"]
    assert all(e.reason == "upstream step boom failed" for e in skipped)
    assert not any(isinstance(e, StepStart) and e.step_key in ("after", "after_2")
                   for e in events)
    final = events[-1]
    assert isinstance(final, RunFailure) and "boom" in final.message


def test_each_step_thread_tags_its_own_events() -> None:
    ok, events = run("fan_out")
    assert ok
    by_step: dict[str | None, list[str]] = {}
    for event in events:
        by_step.setdefault(event.step_key, []).append(event_type(event))
    for step in ("a", "b", "c", "d", "gather"):
        assert by_step[step][0] == "STEP_START" and by_step[step][-1] == "STEP_SUCCESS"
    assert threading.active_count() == 1 or not any(
        t.name.startswith("tether-step-") for t in threading.enumerate())


def test_a_job_with_an_unknown_executor_fails_before_its_first_step() -> None:
    ok, events = run("odd_executor")
    assert not ok
    assert [event_type(e) for e in events] == ["RUN_START", "RUN_FAILURE"]
    assert "the job's executor: expected one of in_process, thread, multiprocess, got 'fork'" \
        in events[-1].message  # type: ignore[union-attr]


def test_step_threads_see_the_context_of_the_run(tmp_path: Path) -> None:
    # the run worker's trace span lives in the context: a step thread's span is its child
    events: list[RunEvent] = []
    token = RUN_LABEL.set("run-7")
    try:
        assert execute_job(DEFS, "context_check", storage_dir=str(tmp_path),
                           emitter=RunEmitter(run_id="run-7", attempt=1, sink=events.append))
    finally:
        RUN_LABEL.reset(token)
    assert running_at_once(events) == 2
    [stored] = [p for p in tmp_path.rglob("*.pickle") if "labels" in p.parts]
    assert pickle.loads(stored.read_bytes()) == ["run-7", "run-7"]


@pytest.mark.parametrize(("execution", "problem"), [
    ({"executor": "fork"},
     "$.execution.executor: expected one of in_process, thread, multiprocess"),
    ({"max_concurrent": 0}, "$.execution.max_concurrent: expected an integer >= 1"),
    ({"workers": 2}, "$.execution: unknown field workers"),
])
def test_an_invalid_execution_config_fails_the_run_before_its_first_step(
        execution: dict[str, object], problem: str) -> None:
    ok, events = run("fan_out", {"execution": execution})
    assert not ok
    assert [event_type(e) for e in events] == ["RUN_START", "RUN_FAILURE"]
    final = events[-1]
    assert isinstance(final, RunFailure) and problem in final.message


@op
def pid_of_step() -> int:
    print(f"hello from {os.getpid()}")
    # the three steps meet in the folder the test names: each waits (60 s at most) until all
    # three are running, so that they overlap however far apart a busy machine starts their
    # processes (a fixed sleep did not), and cannot if the executor ran them one by one
    meeting = Path(os.environ["TETHER_TEST_MEETING"])
    (meeting / str(os.getpid())).touch()
    deadline = time.monotonic() + 60
    while len(list(meeting.iterdir())) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    return os.getpid()


@op
def pids(a: int, b: int, c: int) -> list[int]:
    return [a, b, c]


@job(executor=Executor("multiprocess", max_concurrent=3))
def in_processes() -> None:
    pids(pid_of_step.alias("p1")(), pid_of_step.alias("p2")(), pid_of_step.alias("p3")())


@op(io_manager_key=None)
def unstored() -> int:
    return 1


@job(executor=Executor("multiprocess"))
def unstored_in_processes() -> None:
    after(unstored())


PROCESS_DEFS = Definitions(jobs=[in_processes, unstored_in_processes, broken_branch])


def run_in_processes(job_name: str, storage: str | None, run_config: dict[str, object] | None
                     = None) -> tuple[bool, list[RunEvent]]:
    events: list[RunEvent] = []
    emitter = RunEmitter(run_id="run-p", attempt=1, sink=events.append)
    ok = execute_job(PROCESS_DEFS, job_name, emitter=emitter, storage_dir=storage,
                     run_config=run_config)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    return ok, events


def test_the_multiprocess_executor_runs_each_step_in_a_process_of_its_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    monkeypatch.setenv("TETHER_TEST_MEETING", str(meeting))
    ok, events = run_in_processes("in_processes", str(tmp_path / "storage"))
    assert ok
    assert running_at_once(events) == 3
    assert [e.step_key for e in events if isinstance(e, StepStart)][-1] == "pids"
    # each step's output crossed through storage into the process of the next step
    [stored] = [path for path in tmp_path.rglob("*.pickle") if "pids" in path.parts]
    pids = pickle.loads(stored.read_bytes())
    assert len(set(pids)) == 3 and os.getpid() not in pids


def test_a_failure_in_a_step_process_skips_its_downstream(tmp_path: Path) -> None:
    ok, events = run_in_processes("broken_branch", str(tmp_path),
                                  {"execution": {"executor": "multiprocess"}})
    assert not ok
    failure = next(e for e in events if isinstance(e, StepFailure))
    assert failure.step_key == "boom" and failure.error.class_name == "ValueError"
    assert "in boom" in failure.error.stack
    assert [e.step_key for e in events if isinstance(e, StepSkipped)] == ["after", "after_2"]
    assert ("STEP_SUCCESS", "slow_branch") in {(event_type(e), e.step_key) for e in events}


def test_a_step_that_keeps_its_output_in_memory_cannot_run_in_another_process(
        tmp_path: Path) -> None:
    ok, events = run_in_processes("unstored_in_processes", str(tmp_path))
    assert not ok
    final = events[-1]
    assert isinstance(final, RunFailure)
    assert "unstored keep their output in the run's memory (io_manager_key=None)" in \
        final.message
    ok, events = run_in_processes("in_processes", None)
    assert not ok
    assert "hands outputs over through storage" in events[-1].message  # type: ignore[union-attr]
