"""`tether deployment create / list / delete` and `tether --deployment` against a real
control plane: what CI runs for a pull request, and a user token with roles per deployment."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tether.control_plane.storage import Store

from ..conftest import free_port
from ..control_plane.conftest import load_location
from ..deployment import Deployment


@pytest.fixture
def control_plane(tmp_path: Path, broker_url: str) -> Iterator[tuple[Deployment, Store]]:
    workspace = tmp_path / "workspace.toml"
    workspace.write_text("locations = []\n")
    database_url = f"sqlite:///{tmp_path / 'tether.db'}"
    deployment = Deployment(database_url=database_url, redis_url=broker_url,
                            workspace=workspace, data_dir=tmp_path, port=free_port(),
                            processes=("control-plane",))
    store = Store.from_url(database_url)
    try:
        deployment.wait_healthy()
        load_location(store)
        yield deployment, store
    finally:
        store.close()
        deployment.stop()


def tether(deployment: Deployment, *args: str, token: str | None = None,
           **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tether", *args], capture_output=True,
                          text=True, timeout=60,
                          env={**deployment.env, "TETHER_TOKEN": token or deployment.user_token,
                               **env})


def test_a_pull_requests_deployment_is_created_used_and_deleted(
        control_plane: tuple[Deployment, Store]) -> None:
    deployment, store = control_plane
    args = ("deployment", "create", "pr-42", "--branch", "feature-x", "--commit", "a1b2c3d4e5f6a7",
            "--from", "prod", "--ttl-hours", "48")
    created = tether(deployment, *args)
    assert created.returncode == 0, created.stderr
    assert "deployment pr-42 (branch feature-x, commit a1b2c3d4e5f6" in created.stdout
    assert "removed 2d after its last activity" in created.stdout
    again = tether(deployment, *args)  # CI runs it on every push
    assert again.returncode == 0, again.stderr
    # the location's spec was copied, once: the agent serving pr-42 deploys it
    [copied] = store.scoped("pr-42").list_locations()
    assert copied.name == "hello" and copied.status == "LOADING"

    listed = tether(deployment, "deployment", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [["pr-42", "branch"], ["prod", "prod"]]

    # runs of prod are not seen from pr-42, by flag or by environment
    run = store.launch_run("hello_job")
    in_prod = tether(deployment, "run", "list")
    in_branch = tether(deployment, "--deployment", "pr-42", "run", "list")
    by_env = tether(deployment, "run", "list", TETHER_DEPLOYMENT="pr-42")
    assert run in in_prod.stdout
    assert in_branch.returncode == 0 and run not in in_branch.stdout
    assert by_env.returncode == 0 and run not in by_env.stdout

    deleted = tether(deployment, "deployment", "delete", "pr-42")
    assert deleted.returncode == 0, deleted.stderr
    assert store.get_deployment("pr-42") is None
    gone = tether(deployment, "--deployment", "pr-42", "run", "list")
    assert gone.returncode != 0 and "no deployment named 'pr-42'" in gone.stderr


def test_a_user_token_gets_a_role_per_deployment(
        control_plane: tuple[Deployment, Store]) -> None:
    deployment, store = control_plane
    store.create_deployment("staging")
    created = subprocess.run(
        [sys.executable, "-m", "tether", "control-plane", "create-token", "--kind", "user",
         "--name", "ci", "--role-in", "prod=viewer", "--role-in", "staging=launcher"],
        capture_output=True, text=True, timeout=60, env=deployment.env)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    store.scoped("staging").deploy_location(store.get_location("hello").spec)
    in_prod = tether(deployment, "run", "launch", "hello_job", token=token)
    assert in_prod.returncode != 0 and "viewer" in in_prod.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "tether", "control-plane", "create-token", "--kind", "user",
         "--role-in", "staging"], capture_output=True, text=True, timeout=60,
        env=deployment.env)
    assert bad.returncode != 0 and "DEPLOYMENT=ROLE" in bad.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "tether", "control-plane", "list-tokens"],
        capture_output=True, text=True, timeout=60, env=deployment.env)
    assert "prod=viewer,staging=launcher" in listed.stdout
