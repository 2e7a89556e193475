"""``tether dev`` as a new user meets it: one command starts everything, the CLI in a second
terminal launches and reads runs, Ctrl-C stops it all and leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tether.cli._dev import PROCESSES

from ..conftest import EXAMPLE_WORKSPACE, REPO, free_port
from ..processes import processes_with_env


def tether(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tether", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def start_dev(cwd: Path, env: dict[str, str], port: int) -> subprocess.Popen[str]:
    dev = subprocess.Popen(
        [sys.executable, "-m", "tether", "dev", "--workspace", str(EXAMPLE_WORKSPACE),
         "--port", str(port)],
        cwd=cwd, env=env, stdout=(cwd / "dev.log").open("a"), stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert dev.poll() is None, (cwd / "dev.log").read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return dev
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("tether dev did not come up\n" + (cwd / "dev.log").read_text())


def ctrl_c(dev: subprocess.Popen[str], cwd: Path) -> int:
    # a terminal's Ctrl-C reaches the whole foreground process group
    os.killpg(dev.pid, signal.SIGINT)
    try:
        return dev.wait(timeout=30)
    except subprocess.TimeoutExpired as exc:
        os.killpg(dev.pid, signal.SIGKILL)
        raise AssertionError("tether dev did not stop\n" + (cwd / "dev.log").read_text()) from exc


@pytest.mark.timeout(240)
def test_dev_runs_the_example_and_stops_cleanly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env["TETHER_TEST_MARKER"] = str(tmp_path)
    port = free_port()
    env_cli = {**env, "TETHER_URL": f"http://127.0.0.1:{port}"}
    dev = start_dev(tmp_path, env, port)
    try:
        deadline = time.monotonic() + 60
        while True:
            launched = tether("run", "launch", "hello_job", "--wait", cwd=tmp_path, env=env_cli)
            # right after start-up the code location may still be loading
            if launched.returncode == 0 or "not loaded" not in launched.stderr.lower() \
                    or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert launched.returncode == 0, launched.stdout + launched.stderr
        out = launched.stdout
        assert "status: SUCCESS" in out
        assert "STEP_START" in out and "[load]" in out
        run_id = re.search(r"Launched run (\S+)", out).group(1)  # type: ignore[union-attr]

        listing = tether("run", "list", cwd=tmp_path, env=env_cli)
        assert run_id in listing.stdout and "SUCCESS" in listing.stdout

        logs = tether("run", "logs", run_id, cwd=tmp_path, env=env_cli)
        assert logs.returncode == 0, logs.stderr
        assert "== stdout ==" in logs.stdout and "RUN_SUCCESS" in logs.stdout

        failed = tether("run", "launch", "broken_job", "--wait", cwd=tmp_path, env=env_cli)
        assert failed.returncode == 1
        assert "FAILURE" in failed.stdout and "ValueError" in failed.stderr

        unknown = tether("run", "launch", "nope", cwd=tmp_path, env=env_cli)
        assert unknown.returncode == 1 and "hello_job" in unknown.stderr

        tagged = tether("run", "launch", "hello_job", "--tag", "team=data", "--tag",
                        "tether/priority=3", "--wait", cwd=tmp_path, env=env_cli)
        assert tagged.returncode == 0, tagged.stdout + tagged.stderr
        bad_tag = tether("run", "launch", "hello_job", "--tag", "team", cwd=tmp_path,
                         env=env_cli)
        assert bad_tag.returncode != 0 and "KEY=VALUE" in bad_tag.stderr

        schedules = tether("schedule", "list", cwd=tmp_path, env=env_cli)
        assert schedules.returncode == 0, schedules.stderr
        assert "every_five_minutes" in schedules.stdout and "stopped" in schedules.stdout
        started = tether("schedule", "start", "every_five_minutes", cwd=tmp_path, env=env_cli)
        assert started.returncode == 0 and "is started; next tick" in started.stdout
        unknown_schedule = tether("schedule", "start", "nope", cwd=tmp_path, env=env_cli)
        assert unknown_schedule.returncode == 1
        assert "known: every_five_minutes, morning_report" in unknown_schedule.stderr
    finally:
        code = ctrl_c(dev, tmp_path)
    log = (tmp_path / "dev.log").read_text()
    assert code in (0, 130), log
    assert processes_with_env(str(tmp_path)) == [], "processes left behind:\n" + log

    # a second start finds no stale lock, reuses its tokens and keeps the runs
    dev = start_dev(tmp_path, env, port)
    try:
        listing = tether("run", "list", cwd=tmp_path, env=env_cli)
        assert run_id in listing.stdout
    finally:
        ctrl_c(dev, tmp_path)
    assert processes_with_env(str(tmp_path)) == []


@pytest.mark.timeout(120)
def test_a_normal_start_prints_no_warning(tmp_path: Path) -> None:
    """The agent workers start alongside the control plane, before it listens: waiting for
    it is part of a start, not something to warn about (or to keep under ``recent:``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env["TETHER_TEST_MARKER"] = str(tmp_path)
    port = free_port()
    env_cli = {**env, "TETHER_URL": f"http://127.0.0.1:{port}"}
    dev = start_dev(tmp_path, env, port)
    try:
        def served() -> str:
            # the poller handed the location's load over and the supervisor reports its
            # code server: both workers have written their status since they started
            listing = tether("agent", "list", cwd=tmp_path, env=env_cli).stdout
            return listing if "code server hello: running" in listing else ""

        deadline = time.monotonic() + 60
        while not (listing := served()):
            assert time.monotonic() < deadline, (tmp_path / "dev.log").read_text()
            time.sleep(0.5)
    finally:
        ctrl_c(dev, tmp_path)
    log = (tmp_path / "dev.log").read_text()
    assert "handed 1 work item(s)" in log
    assert " WARNING " not in log and " ERROR " not in log, log
    assert "recent:" not in listing, listing


def test_cli_without_a_token_says_how_to_get_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    result = tether("run", "list", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "TETHER_TOKEN" in result.stderr and "create-token" in result.stderr


def test_procfile_runs_the_same_processes_as_tether_dev() -> None:
    lines = (REPO / "Procfile").read_text().strip().splitlines()
    procfile = {name: command.split()[3:] for name, command in
                (line.split(": ", 1) for line in lines)}
    assert procfile == PROCESSES
