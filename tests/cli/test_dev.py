"""``tether dev`` as a new user meets it: one command starts everything, the CLI in a second
terminal runs every command the README lists there with no settings at all, Ctrl-C stops it
all and leaves nothing behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tether.cli._credentials import credentials_path
from tether.cli._dev import PROCESSES
from tether.cli._dev_record import dev_record_path
from tether.settings import Settings

from ..conftest import EXAMPLE_WORKSPACE, REPO, free_port
from ..processes import processes_with_env
from ..waiting import eventually, launched_once_loaded


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

    def healthy() -> bool:
        assert dev.poll() is None, (cwd / "dev.log").read_text()
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    eventually(healthy, what="tether dev to come up", every=0.2,
               detail=(cwd / "dev.log").read_text)
    return dev


def ctrl_c(dev: subprocess.Popen[str], cwd: Path) -> int:
    # a terminal's Ctrl-C reaches the whole foreground process group
    os.killpg(dev.pid, signal.SIGINT)
    try:
        return dev.wait(timeout=30)
    except subprocess.TimeoutExpired as exc:
        os.killpg(dev.pid, signal.SIGKILL)
        raise AssertionError("tether dev did not stop\n" + (cwd / "dev.log").read_text()) from exc


@pytest.mark.timeout(240)
def test_dev_runs_the_example_and_stops_cleanly(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env["TETHER_TEST_MARKER"] = str(tmp_path)
    # no `tether login` of the machine's user either: the folder is all the CLI has
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    # the tokens go to the user's state folder
    env["HOME"] = str(tmp_path / "home")
    # and this test finds them where tether dev puts them
    monkeypatch.setenv("HOME", env["HOME"])
    port = free_port()
    # the second terminal: no TETHER_URL, TETHER_TOKEN or TETHER_REDIS_URL (on another port
    # than the default, tether dev tells the CLI where it is)
    env_cli = env
    dev = start_dev(tmp_path, env, port)
    try:
        assert_tokens_out_of_reach(tmp_path)
        launched = launched_once_loaded(
            lambda: tether("run", "launch", "hello_job", "--wait", cwd=tmp_path, env=env_cli))
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
        # the op's traceback, once, under the step's failure
        assert "FAILURE" in failed.stdout and "ValueError" in failed.stdout
        failed_id = re.search(r"Launched run (\S+)", failed.stdout).group(1)  # type: ignore[union-attr]
        again = tether("run", "reexecute", failed_id, "--from-failure", "--wait", cwd=tmp_path,
                       env=env_cli)
        assert again.returncode == 1, again.stdout + again.stderr
        assert f"re-executing {failed_id}: steps explode" in again.stdout
        assert "status: FAILURE" in again.stdout

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

        slow = tether("run", "launch", "slow_job", cwd=tmp_path, env=env_cli)
        assert slow.returncode == 0, slow.stdout + slow.stderr
        slow_id = re.search(r"Launched run (\S+)", slow.stdout).group(1)  # type: ignore[union-attr]
        eventually(lambda: "tick 0" in tether("run", "logs", slow_id, cwd=tmp_path,
                                              env=env_cli).stdout,
                   what="slow_job ticking", every=0.2)
        canceled = tether("run", "cancel", slow_id, "--wait", cwd=tmp_path, env=env_cli)
        assert canceled.returncode == 0, canceled.stdout + canceled.stderr
        assert "status: CANCELED" in canceled.stdout
        # its finally block ran, and said so on its stdout
        eventually(lambda: "cleaned up" in tether("run", "logs", slow_id, "--only", "stdout",
                                                  cwd=tmp_path, env=env_cli).stdout,
                   what="the canceled run's cleanup", every=0.2)

        locations = tether("location", "list", cwd=tmp_path, env=env_cli)
        assert locations.returncode == 0, locations.stderr
        assert "hello" in locations.stdout and "LOADED" in locations.stdout
        agents = tether("agent", "list", cwd=tmp_path, env=env_cli)
        assert agents.returncode == 0 and "  alive  " in agents.stdout, agents.stderr
        # the broker is the embedded one tether dev started, found without TETHER_REDIS_URL
        letters = tether("agent", "dead-letters", "list", cwd=tmp_path, env=env_cli)
        assert letters.returncode == 0, letters.stderr
        assert letters.stdout.strip() == "no dead letters"

        # the sign-in page says where this deployment keeps the user token
        signin = httpx.get(f"http://127.0.0.1:{port}/signin").text
        where = credentials_path(Settings(data_dir=str(tmp_path / ".tether"))).resolve()
        assert f"<code>{where}</code>" in signin
    finally:
        code = ctrl_c(dev, tmp_path)
    log = (tmp_path / "dev.log").read_text()
    assert code in (0, 130), log
    assert processes_with_env(str(tmp_path)) == [], "processes left behind:\n" + log
    # what it recorded for the CLI goes with it: no command is sent to a stopped broker
    assert not dev_record_path(Settings(data_dir=str(tmp_path / ".tether"))).exists()

    # a second start finds no stale lock, reuses its tokens and keeps the runs
    dev = start_dev(tmp_path, env, port)
    try:
        listing = tether("run", "list", cwd=tmp_path, env=env_cli)
        assert run_id in listing.stdout
    finally:
        ctrl_c(dev, tmp_path)
    assert processes_with_env(str(tmp_path)) == []


def assert_tokens_out_of_reach(cwd: Path) -> None:
    """The tokens are in private files outside the folder, and no process holds the agent
    token in its environment."""
    data_dir = cwd / ".tether"
    assert data_dir.stat().st_mode & 0o777 == 0o700
    assert not (data_dir / "credentials.toml").exists()
    [folder] = (cwd / "home" / ".local" / "state" / "tether").iterdir()
    assert folder.stat().st_mode & 0o777 == 0o700
    for name in ("credentials.toml", "agent-token"):
        assert (folder / name).stat().st_mode & 0o777 == 0o600
    token = (folder / "agent-token").read_text().strip()
    assert token.startswith("tta_")
    pids = processes_with_env(str(cwd))
    assert len(pids) >= len(PROCESSES)
    for pid in pids:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue  # it ended since
        assert token.encode() not in environ


@pytest.mark.timeout(120)
def test_a_normal_start_prints_no_warning(tmp_path: Path) -> None:
    """The agent workers start alongside the control plane, before it listens: waiting for
    it is part of a start, not something to warn about (or to keep under ``recent:``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env["TETHER_TEST_MARKER"] = str(tmp_path)
    env["HOME"] = str(tmp_path / "home")
    port = free_port()
    env_cli = {**env, "TETHER_URL": f"http://127.0.0.1:{port}"}
    dev = start_dev(tmp_path, env, port)
    try:
        def served() -> str:
            # the poller handed the location's load over and the supervisor reports its
            # code server: both workers have written their status since they started
            listing = tether("agent", "list", cwd=tmp_path, env=env_cli).stdout
            return listing if "code server hello: running" in listing else ""

        listing = eventually(served, what="the agent list to show code server hello",
                             every=0.5, detail=(tmp_path / "dev.log").read_text)
    finally:
        ctrl_c(dev, tmp_path)
    log = (tmp_path / "dev.log").read_text()
    assert "handed 1 work item(s)" in log
    assert " WARNING " not in log and " ERROR " not in log, log
    assert "recent:" not in listing, listing


def test_cli_without_a_token_says_how_to_get_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    result = tether("run", "list", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "TETHER_TOKEN" in result.stderr and "create-token" in result.stderr
    assert "tether login" in result.stderr
    # so does a broker command away from tether dev
    letters = tether("agent", "dead-letters", "list", cwd=tmp_path, env=env)
    assert letters.returncode == 1 and "TETHER_REDIS_URL is not set" in letters.stderr
    assert "`tether dev`" in letters.stderr and "Traceback" not in letters.stderr


def test_procfile_runs_the_same_processes_as_tether_dev() -> None:
    lines = (REPO / "Procfile").read_text().strip().splitlines()
    procfile = {name: command.split()[3:] for name, command in
                (line.split(": ", 1) for line in lines)}
    assert procfile == PROCESSES
