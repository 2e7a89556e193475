"""Named outputs through real run workers: a job with two named outputs, an optional output
it does not produce, an ordering-only dependency and a nested graph runs on an agent; the
step that takes the missing output is skipped, each output is stored under its own name,
and a re-execution from failure loads each input from the output it is wired to (and skips
the optional one's consumer again, since the parent never stored it). A job fanning out over
a DynamicOut runs each mapped copy as a step of its own."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .deployment import LAUNCH, REEXECUTE, Deployment, deployed, ended, outcomes, wait_loaded
from .outputs_location import PARENT_OUTCOMES, write_outputs_location


@pytest.fixture
def deployment(tmp_path: Path, broker_url: str) -> Iterator[tuple[Deployment, Path]]:
    defs, marker = write_outputs_location(tmp_path)
    workspace = tmp_path / "workspace.toml"
    workspace.write_text(f'\n[[locations]]\nname = "outputs"\npython_file = "defs.py"\n'
                         f'working_directory = "{defs.parent}"\n')
    with deployed(redis_url=broker_url, workspace=workspace, data_dir=tmp_path,
                  env={"TETHER_RUN_LAUNCHER": "process"}) as running:
        yield running, marker


def stdout(run: dict[str, Any]) -> str:
    return "".join(chunk["data"] for chunk in run["logs"] if chunk["stream"] == "stdout")


def test_named_and_optional_outputs_run_and_re_execute_through_run_workers(
        deployment: tuple[Deployment, Path]) -> None:
    tether, marker = deployment
    wait_loaded(tether)
    parent_id = tether.graphql(LAUNCH, job="outputs_job")["launchRun"]["id"]
    parent = ended(tether, parent_id)
    assert parent["status"] == "FAILURE", tether.output()
    assert outcomes(parent) == PARENT_OUTCOMES
    skipped = next(e for e in parent["events"]
                   if e["type"] == "STEP_SKIPPED" and e["stepKey"] == "alert")
    assert "output 'warning' of step check, which it did not produce" in skipped["message"]
    runs = tether.data_dir / "storage" / "outputs" / "runs" / parent_id
    assert pickle.loads((runs / "split" / "evens.pickle").read_bytes()) == [2, 4]
    assert pickle.loads((runs / "split" / "odds.pickle").read_bytes()) == [1, 3, 5]
    assert pickle.loads((runs / "outer.inner_2.double" / "result.pickle").read_bytes()) == 24
    assert not (runs / "check" / "warning.pickle").exists()

    marker.unlink()
    reexecuted = tether.graphql(REEXECUTE, id=parent_id)["reexecuteRun"]
    assert reexecuted["stepSelection"] == ["alert", "report"]
    child = ended(tether, reexecuted["id"])
    assert child["status"] == "SUCCESS", tether.output()
    assert outcomes(child) == {"alert": "STEP_SKIPPED", "report": "STEP_SUCCESS"}
    # odds (not evens) from split, and the nested graph's result, both from the parent's run
    assert "odds=9 total=24" in stdout(child)
    assert "ALERT" not in stdout(child) and "prepared" not in stdout(child)

    # fan-out decided at run time: each mapped copy is a step of its own in the run
    fan = ended(tether, tether.graphql(LAUNCH, job="fan_job")["launchRun"]["id"])
    assert fan["status"] == "SUCCESS", tether.output()
    # the copies run side by side, ending in any order; collect keeps the values' order
    assert sorted(outcomes(fan)) == ["files", "size[a]", "size[bb]", "size[ccc]", "total"]
    assert "sizes=[1, 2, 3]" in stdout(fan)
