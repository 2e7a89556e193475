"""Re-execute from failure with real processes: a job whose middle step fails while a marker
file exists is re-executed from failure once the marker is gone. The new run succeeds, runs
only the steps that did not succeed (the step upstream of them is not run again: its output
is loaded from where the parent's run worker stored it), and names its parent. On
the embedded default with the process launcher (a cold `tether api execute-run`, re-executed
through the CLI), and on PostgreSQL + Redis with the warm launcher (forked from a zygote,
re-executed through GraphQL)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from .deployment import (
    LAUNCH,
    REEXECUTE,
    Deployment,
    databases,
    deployed,
    ended,
    outcomes,
    wait_loaded,
    worker_events,
)
from .flaky_location import FROM_FAILURE, write_flaky_location


@pytest.fixture(params=["sqlite+valkey+process", "postgres+redis+warm"])
def flaky(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Deployment, Path]]:
    """A deployment serving the flaky location, and the marker that makes its job fail."""
    entry, marker = write_flaky_location(tmp_path)
    workspace = tmp_path / "workspace.toml"
    workspace.write_text(entry)
    kind, launcher = request.param.rsplit("+", 1)
    database_url, redis_url = databases(request, kind, tmp_path)
    with deployed(database_url=database_url, redis_url=redis_url, workspace=workspace,
                  data_dir=tmp_path, env={"TETHER_RUN_LAUNCHER": launcher}) as deployment:
        yield deployment, marker


def test_a_run_re_executed_from_failure_runs_only_what_did_not_succeed(
        flaky: tuple[Deployment, Path]) -> None:
    deployment, marker = flaky
    wait_loaded(deployment)
    parent_id = deployment.graphql(LAUNCH, job="flaky_job")["launchRun"]["id"]
    parent = ended(deployment, parent_id)
    assert parent["status"] == "FAILURE", deployment.output()
    assert outcomes(parent) == {"extract": "STEP_SUCCESS", "transform": "STEP_FAILURE",
                                "load": "STEP_SKIPPED", "audit": "STEP_SUCCESS"}

    marker.unlink()
    if deployment.env["TETHER_RUN_LAUNCHER"] == "process":
        cli = deployment.cli("run", "reexecute", parent_id, "--from-failure", "--wait",
                             timeout=120)
        assert cli.returncode == 0, cli.stdout + cli.stderr
        assert f"re-executing {parent_id}: steps transform, load" in cli.stdout
        assert "status: SUCCESS" in cli.stdout
        found = re.search(r"Launched run ([0-9a-f-]{36}) of flaky_job", cli.stdout)
        assert found, cli.stdout
        child_id = found.group(1)
    else:
        reexecuted = deployment.graphql(REEXECUTE, id=parent_id)["reexecuteRun"]
        assert reexecuted["stepSelection"] == FROM_FAILURE
        child_id = reexecuted["id"]
    child = ended(deployment, child_id)

    assert child["status"] == "SUCCESS", deployment.output()
    assert child["stepSelection"] == FROM_FAILURE
    assert [e["stepKey"] for e in worker_events(child) if e["type"] == "STEP_START"] == \
        FROM_FAILURE
    # extract and audit succeeded in the parent: the re-execution neither runs nor mentions
    # them, and transform takes the output extract stored in the parent's run
    assert outcomes(child) == dict.fromkeys(FROM_FAILURE, "STEP_SUCCESS")
    assert not any(e["stepKey"] in ("audit", "extract") for e in child["events"])
    stored = deployment.data_dir / "storage" / "flaky" / "runs"
    assert (stored / parent_id / "extract" / "result.pickle").is_file()
    assert not (stored / child_id / "extract").exists()
    assert (stored / child_id / "transform" / "result.pickle").is_file()
    assert child["tags"]["tether/parent_run_id"] == parent_id
    assert child["tags"]["tether/root_run_id"] == parent_id
    stdout = "".join(chunk["data"] for chunk in child["logs"] if chunk["stream"] == "stdout")
    assert "total = 60" in stdout and "audited" not in stdout
