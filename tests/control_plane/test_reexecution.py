"""Re-execution: which steps a re-execution from failure runs and which runs' stored outputs
it loads (a pure decision on the job's graph and the parent's step outcomes), and the new run
the store queues, on SQLite and PostgreSQL: its step selection and input runs reach the agent
with every attempt, and its tags name the run it repeats."""

from __future__ import annotations

import pytest

from tether.control_plane.errors import BadInput, RunNotFound
from tether.control_plane.storage import (
    FromFailure,
    QueueLimits,
    ReexecutionStrategy,
    RunRecord,
    RunStatus,
    Store,
    steps_from_failure,
)
from tether.wire import (
    ErrorInfo,
    JobSnapshot,
    LaunchRun,
    LocationSnapshot,
    OpInputSnapshot,
    OpNodeSnapshot,
    OpOutputSnapshot,
    RunEvent,
    RunFailure,
    RunStart,
    RunSuccess,
    StepFailure,
    StepSkipped,
    StepStart,
    StepSuccess,
)

from .conftest import FakeClock, load_location

FROM_FAILURE = ReexecutionStrategy.FROM_FAILURE


def node(name: str, *upstream: str, stored: bool = True) -> OpNodeSnapshot:
    inputs = [OpInputSnapshot(name=f"from_{up}", from_node=up) for up in upstream]
    return OpNodeSnapshot(name=name, op=name, inputs=inputs,
                          io_manager_key="io_manager" if stored else None)


#      ┌─ b ─┐
#  a ──┤     ├── d        e (on its own, with an input no step feeds)
#      └─ c ─┴── f
DIAMOND = JobSnapshot(name="diamond", nodes=[
    node("a"), node("b", "a"), node("c", "a"), node("d", "b", "c"), node("f", "c"),
    OpNodeSnapshot(name="e", op="e", inputs=[OpInputSnapshot(name="unwired")]),
])


def parent(status: RunStatus = RunStatus.FAILURE, step_selection: list[str] | None = None,
           input_runs: dict[str, str] | None = None) -> RunRecord:
    return RunRecord(run_id="parent-1", job_name="diamond", location="hello", status=status,
                     attempt=1, run_config={}, tags={}, created_at=0.0, updated_at=0.0,
                     start_time=None, end_time=None, error=None, steps_succeeded=0,
                     steps_failed=0, step_selection=step_selection,
                     input_runs=input_runs or {})


OK = "SUCCESS"


def test_a_failure_in_the_middle_reruns_it_and_what_it_skipped_loading_the_rest() -> None:
    outcomes = {"a": OK, "b": "FAILURE", "c": OK, "d": "SKIPPED", "e": OK, "f": OK}
    # a and c succeeded and their outputs are stored: b and d load them from the parent,
    # and f and e, which need nothing that failed, do not run either
    assert steps_from_failure(parent(), DIAMOND, outcomes) == FromFailure(
        ["b", "d"], {"a": "parent-1", "c": "parent-1"})


def test_a_failed_branch_reruns_only_its_failed_step() -> None:
    outcomes = {"a": OK, "b": OK, "c": OK, "d": OK, "e": OK, "f": "FAILURE"}
    assert steps_from_failure(parent(), DIAMOND, outcomes) == FromFailure(
        ["f"], {"c": "parent-1"})


def test_an_upstream_step_whose_output_is_not_stored_runs_again() -> None:
    # c keeps its output in its run's memory (io_manager_key=None): d cannot load it
    job = JobSnapshot(name="diamond", nodes=[
        node("a"), node("b", "a"), node("c", "a", stored=False), node("d", "b", "c"),
        node("f", "c"), node("e")])
    outcomes = {"a": OK, "b": "FAILURE", "c": OK, "d": "SKIPPED", "e": OK, "f": OK}
    assert steps_from_failure(parent(), job, outcomes) == FromFailure(
        ["b", "c", "d"], {"a": "parent-1"})


def test_each_input_reruns_its_upstream_only_when_the_output_it_reads_is_not_stored() -> None:
    # split stores "evens" but keeps "odds" in its run's memory; setup is only waited for
    split = OpNodeSnapshot(name="split", op="split", outputs=[
        OpOutputSnapshot(name="evens"), OpOutputSnapshot(name="odds", io_manager_key=None)])
    job = JobSnapshot(name="outputs", nodes=[
        split, node("setup"),
        OpNodeSnapshot(name="sum_evens", op="sum_evens", inputs=[
            OpInputSnapshot(name="evens", from_node="split", from_output="evens"),
            OpInputSnapshot(name="ready", from_node="setup", nothing=True)]),
        OpNodeSnapshot(name="sum_odds", op="sum_odds", inputs=[
            OpInputSnapshot(name="odds", from_node="split", from_output="odds")])])
    outcomes = {"split": OK, "setup": OK, "sum_evens": "FAILURE", "sum_odds": OK}
    assert steps_from_failure(parent(), job, outcomes) == FromFailure(
        ["sum_evens"], {"split": "parent-1"})
    outcomes = {"split": OK, "setup": OK, "sum_evens": OK, "sum_odds": "FAILURE"}
    assert steps_from_failure(parent(), job, outcomes) == FromFailure(
        ["split", "sum_odds"], {})


def test_a_failed_copy_of_a_mapped_step_reruns_the_dynamic_step_and_the_map_body() -> None:
    # files yields values at run time; size and double run once per value; total collects
    job = JobSnapshot(name="fan", nodes=[
        OpNodeSnapshot(name="files", op="files",
                       outputs=[OpOutputSnapshot(name="result", dynamic=True)]),
        OpNodeSnapshot(name="size", op="size", mapped_over="files",
                       inputs=[OpInputSnapshot(name="path", from_node="files")]),
        OpNodeSnapshot(name="double", op="double", mapped_over="files",
                       inputs=[OpInputSnapshot(name="n", from_node="size")]),
        OpNodeSnapshot(name="total", op="total", inputs=[
            OpInputSnapshot(name="sizes", from_node="double", collect=True)])])
    outcomes = {"files": OK, "size[a]": OK, "size[b]": "FAILURE", "double[a]": OK,
                "double[b]": "SKIPPED", "total": "SKIPPED"}
    assert steps_from_failure(parent(), job, outcomes) == FromFailure(
        ["files", "size", "double", "total"], {})
    # every copy succeeded: only what came after them runs, loading nothing mapped
    outcomes = {"files": OK, "size[a]": OK, "double[a]": OK, "total": "FAILURE"}
    assert steps_from_failure(parent(), job, outcomes) == FromFailure(
        ["files", "size", "double", "total"], {})


def test_steps_that_never_ran_or_never_ended_are_rerun() -> None:
    # canceled while b ran: b never ended, and d, e, f never started
    outcomes = {"a": OK, "c": OK, "b": "STARTED"}
    assert steps_from_failure(parent(RunStatus.CANCELED), DIAMOND, outcomes) == FromFailure(
        ["b", "d", "f", "e"], {"a": "parent-1", "c": "parent-1"})


def test_a_re_execution_is_re_executed_within_its_own_step_selection() -> None:
    earlier = parent(step_selection=["b", "d"], input_runs={"a": "root", "c": "root"})
    outcomes = {"b": OK, "d": "FAILURE"}
    # e and f never ran in it, but they were not its to run: its own parent ran them; d
    # loads b from the parent, which made it, and c from the root run, which the parent
    # loaded it from
    assert steps_from_failure(earlier, DIAMOND, outcomes) == FromFailure(
        ["d"], {"b": "parent-1", "c": "root"})


def test_nothing_to_re_execute_from_is_a_clear_error() -> None:
    with pytest.raises(BadInput, match="run parent-1 succeeded: there is no failure"):
        steps_from_failure(parent(RunStatus.SUCCESS), DIAMOND, {})
    every_step = dict.fromkeys(["a", "b", "c", "d", "e", "f"], OK)
    with pytest.raises(BadInput, match="every step of run parent-1 succeeded"):
        steps_from_failure(parent(), DIAMOND, every_step)


def test_a_step_the_job_no_longer_has_is_a_clear_error() -> None:
    outcomes = {"a": OK, "renamed": "FAILURE"}
    with pytest.raises(BadInput, match="job diamond no longer has step renamed, which run "
                                       "parent-1 did not complete"):
        steps_from_failure(parent(), DIAMOND, outcomes)
    with pytest.raises(BadInput, match="no longer has step gone"):
        steps_from_failure(parent(step_selection=["a", "gone"]), DIAMOND, {"a": OK})
    # a step that succeeded and is gone since needs nothing
    assert steps_from_failure(parent(), DIAMOND, {"old": OK, "a": OK, "b": OK, "c": OK,
                                                  "d": OK, "e": OK, "f": "FAILURE"}) == \
        FromFailure(["f"], {"c": "parent-1"})


# -- the store ------------------------------------------------------------------------------


def load_diamond(store: Store, job: JobSnapshot = DIAMOND) -> None:
    load_location(store, defines=LocationSnapshot(location="hello", jobs=[job]))


def claimed_launches(store: Store) -> list[LaunchRun]:
    return [item.payload for item in store.claim_work("agent-1", ["default"], 100, 60)
            if isinstance(item.payload, LaunchRun)]


def report(store: Store, run_id: str, clock: FakeClock, outcomes: dict[str, str],
           attempt: int = 1) -> None:
    """A run worker's events: each step's outcome, then the run's."""
    t = clock.now
    events: list[RunEvent] = [RunStart(run_id=run_id, attempt=attempt, seq=1, timestamp=t,
                                       job_name="diamond")]

    def add(kind: type[RunEvent], **fields: object) -> None:
        events.append(kind(run_id=run_id, attempt=attempt, seq=len(events) + 1,
                           timestamp=t + len(events), **fields))

    for step, outcome in outcomes.items():
        if outcome == "SKIPPED":
            add(StepSkipped, step_key=step, reason="upstream step b failed")
            continue
        add(StepStart, step_key=step)
        if outcome == "SUCCESS":
            add(StepSuccess, step_key=step, duration=0.1)
        else:
            add(StepFailure, step_key=step, duration=0.1,
                error=ErrorInfo(class_name="ValueError", message="bad row"))
    if all(outcome == "SUCCESS" for outcome in outcomes.values()):
        add(RunSuccess)
    else:
        add(RunFailure, message="a step failed")
    store.store_events(events)


FAILED_IN_B = {"a": OK, "b": "FAILURE", "c": OK, "d": "SKIPPED", "e": OK, "f": OK}


def test_a_re_execution_from_failure_hands_its_steps_to_the_agent(
        store: Store, clock: FakeClock) -> None:
    load_diamond(store)
    first = store.launch_run("diamond", run_config={"ops": {}},
                             tags={"team": "data", "tether/user": "ada"})
    claimed_launches(store)
    report(store, first, clock, FAILED_IN_B)
    clock.advance(10)

    second = store.reexecute_run(first, strategy=FROM_FAILURE, tags={"tether/user": "lin"})
    run = store.get_run(second)
    assert run is not None and run.status == RunStatus.QUEUED
    assert (run.job_name, run.location, run.run_config) == ("diamond", "hello", {"ops": {}})
    assert run.step_selection == ["b", "d"]
    assert run.input_runs == {"a": first, "c": first}
    assert run.tags == {"team": "data", "tether/user": "lin",
                        "tether/parent_run_id": first, "tether/root_run_id": first}
    [queued] = store.run_events(second)
    assert queued.message == "Queued run of diamond (steps b, d)"
    [launch] = claimed_launches(store)
    assert (launch.run_id, launch.step_selection) == (second, ["b", "d"])
    assert launch.input_runs == {"a": first, "c": first}

    # it fails in b again; its re-execution stays within its steps, loads what the first run
    # stored, and names the first run as the root
    report(store, second, clock, {"b": "FAILURE", "d": "SKIPPED"})
    third = store.reexecute_run(second, strategy=FROM_FAILURE)
    run = store.get_run(third)
    assert run is not None and run.step_selection == ["b", "d"]
    assert run.input_runs == {"a": first, "c": first}
    assert run.tags == {"team": "data", "tether/parent_run_id": second,
                        "tether/root_run_id": first}
    # re-executing all steps means every step of the job, whatever the parent ran
    everything = store.get_run(store.reexecute_run(second))
    assert everything is not None and everything.step_selection is None
    chain = store.list_runs(tag=("tether/root_run_id", first))
    assert {run.run_id for run in chain} == {second, third, everything.run_id}


def test_the_step_selection_survives_the_run_queue_and_retries(
        database_url: str, clock: FakeClock) -> None:
    store = Store.from_url(database_url, clock=clock, limits=QueueLimits(max_concurrent_runs=1))
    store.migrate()
    try:
        load_diamond(store)
        first = store.launch_run("diamond", tags={"tether/max_retries": "1"})
        claimed_launches(store)
        report(store, first, clock, FAILED_IN_B)
        blocker = store.launch_run("diamond")
        claimed_launches(store)
        # the other run holds the only slot: the re-execution waits its turn
        second = store.reexecute_run(first, strategy=FROM_FAILURE)
        assert claimed_launches(store) == []
        report(store, blocker, clock, dict.fromkeys(["a", "b", "c", "d", "e", "f"], OK))
        assert store.admit_queued_runs() == [second]
        [launch] = claimed_launches(store)
        assert (launch.run_id, launch.step_selection) == (second, ["b", "d"])
        assert launch.input_runs == {"a": first, "c": first}

        # it carried tether/max_retries over: its retry runs the same steps and loads the
        # same outputs (the first run, failed too, retries all of its own)
        report(store, second, clock, {"b": "FAILURE", "d": "SKIPPED"})
        assert sorted(store.retry_failed_runs()) == sorted([first, second])
        launches = {launch.run_id: launch for launch in claimed_launches(store)}
        assert launches[second].attempt == 2
        assert launches[second].step_selection == ["b", "d"]
        assert launches[second].input_runs == {"a": first, "c": first}
        assert (launches[first].step_selection, launches[first].input_runs) == (None, {})
        assert store.rebuild_run(second).step_selection == ["b", "d"]
    finally:
        store.close()


def test_what_cannot_be_re_executed_says_why(store: Store, clock: FakeClock) -> None:
    load_diamond(store)
    run_id = store.launch_run("diamond")
    with pytest.raises(BadInput, match=f"run {run_id} is QUEUED: re-execute it once it has "
                                       "ended"):
        store.reexecute_run(run_id)
    with pytest.raises(RunNotFound, match="no run with id 'nope'"):
        store.reexecute_run("nope", strategy=FROM_FAILURE)
    claimed_launches(store)
    report(store, run_id, clock, dict.fromkeys(["a", "b", "c", "d", "e", "f"], OK))
    with pytest.raises(BadInput, match="succeeded: there is no failure to re-execute from"):
        store.reexecute_run(run_id, strategy=FROM_FAILURE)

    failed = store.launch_run("diamond")
    report(store, failed, clock, FAILED_IN_B)
    # the code changed: b is now called b2
    renamed = JobSnapshot(name="diamond", nodes=[
        node("a"), node("b2", "a"), node("c", "a"), node("d", "b2", "c"), node("f", "c"),
        node("e")])
    load_diamond(store, renamed)
    runs_before = len(store.list_runs())
    with pytest.raises(BadInput, match="job diamond no longer has step b, which run"):
        store.reexecute_run(failed, strategy=FROM_FAILURE)
    assert len(store.list_runs()) == runs_before
    # all steps still works: it runs the job as it is now
    assert store.get_run(store.reexecute_run(failed)) is not None
