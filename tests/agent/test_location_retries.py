"""A code location that fails to load for a cause that then goes away (a module not written
yet) loads by itself, without a redeploy; meanwhile `tether location list` says when the
agent tries again."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..deployment import Deployment
from .test_locations import GOOD, LOCATION, deployment, tether

__all__ = ["deployment"]  # the fixture, for the test below


@pytest.mark.timeout(120)
def test_a_location_loads_once_what_it_missed_is_there_without_a_redeploy(
        deployment: Deployment, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "defs.py").write_text("import helper  # written later\n" + GOOD)
    failed = tether(deployment, "location", "deploy", "nightly", "--python-file", "defs.py",
                    "--working-directory", "project", "--wait", cwd=tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "No module named 'helper'" in failed.stderr
    assert "or as soon as its files change" in failed.stderr

    listing = tether(deployment, "location", "list")
    assert listing.returncode == 1
    lines = listing.stdout.splitlines()
    assert lines[0].startswith("nightly") and "ERROR" in lines[0]
    assert ("next retry at" in lines[1] or "loading it again" in lines[1]), listing.stdout

    (project / "helper.py").write_text("VALUE = 1\n")
    location = deployment.wait_for(
        lambda: (loc := deployment.graphql(LOCATION, name="nightly")["codeLocation"])
        ["status"] == "LOADED" and loc, timeout=30, what="the location to load by itself")
    assert location["error"] is None
    listing = tether(deployment, "location", "list")
    assert listing.returncode == 0, listing.stdout
    assert listing.stdout.splitlines() == ["nightly              LOADED   jobs: nightly; assets: 0"]
