"""The agent's credentials out of user code's reach, measured as an attacker would: an op that
looks for tokens in its environment, in /proc (environ, cmdline, memory) of every process,
and in every file it can read. The OS users are real ones, created here (this needs root, as
CI has)."""

from __future__ import annotations

import json
import os
import pwd
import runpy
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tether._hardening import load_agent_token
from tether.errors import ConfigError
from tether.settings import load_settings

from ..conftest import free_port
from ..deployment import ENDED, LAUNCH, RUN_STATUS, deployed, wait_loaded
from ..waiting import eventually
from .test_locations import servers_of

RUN_USER = "tether-run-test"

# What user code runs to look for tokens; the test runs it too, as root, to show it finds
# what is there to find.
SCAN = r'''
import os
import re

# tether tokens: a prefix and 43 characters of token_urlsafe(32)
TOKEN = re.compile(rb"tt[au]_[A-Za-z0-9_-]{43}")
MAX_REGION = 1 << 28


def scan(roots, pids=None):
    """Tokens found, each with where; and the reads that were refused."""
    found, denied, read = {}, [], {"environ": 0, "memory_bytes": 0, "files": 0}

    def note(data, where):
        for token in set(TOKEN.findall(data)):
            found.setdefault(token.decode(), []).append(where)

    note("\0".join(f"{k}={v}" for k, v in os.environ.items()).encode(), "os.environ")
    for pid in pids or [int(p) for p in os.listdir("/proc") if p.isdigit()]:
        for name in ("environ", "cmdline"):
            try:
                with open(f"/proc/{pid}/{name}", "rb") as file:
                    note(file.read(), f"/proc/{pid}/{name}")
                read["environ"] += name == "environ"
            except OSError:
                denied.append(f"/proc/{pid}/{name}")
        try:
            with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb") as mem:
                for line in maps:
                    span, perms = line.split()[:2]
                    start, end = (int(x, 16) for x in span.split("-"))
                    if "r" not in perms or "[vvar" in line or end - start > MAX_REGION:
                        continue
                    try:
                        mem.seek(start)
                        data = mem.read(end - start)
                    except (OSError, ValueError, OverflowError):
                        continue
                    read["memory_bytes"] += len(data)
                    note(data, f"/proc/{pid}/mem")
        except OSError:
            denied.append(f"/proc/{pid}/mem")
    for root in roots:
        for folder, dirs, files in os.walk(root, onerror=lambda e: denied.append(e.filename)):
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
            for name in files:
                path = os.path.join(folder, name)
                try:
                    with open(path, "rb") as file:
                        note(file.read(1 << 22), path)
                    read["files"] += 1
                except OSError:
                    denied.append(path)
    return {"found": found, "denied": denied, "read": read, "uid": os.getuid(),
            "groups": os.getgroups()}
'''

DEFS = '''
import json
import os
import runpy
from pathlib import Path

from tether import Definitions, job, op

HERE = Path(__file__).resolve().parent


@op
def look_for_tokens() -> None:
    scan = runpy.run_path(str(HERE / "scan.py"))["scan"]
    roots = [os.environ["PROBE_ROOTS"]] + ["/tmp", "/dev/shm", os.path.expanduser("~")]
    report = scan(roots)
    (HERE.parent / "report" / "report.json").write_text(json.dumps(report))


@job
def probe() -> None:
    look_for_tokens()


defs = Definitions(jobs=[probe])
'''



@pytest.fixture(scope="module")
def run_user() -> Iterator[pwd.struct_passwd]:
    """An unprivileged OS user of its own, as an operator would create for user code."""
    if os.geteuid() != 0:
        pytest.skip("creating an OS user and running processes as it needs root (CI is root)")
    created = False
    try:
        entry = pwd.getpwnam(RUN_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", RUN_USER], check=True)
        entry = pwd.getpwnam(RUN_USER)
        created = True
    yield entry
    if created:
        subprocess.run(["userdel", RUN_USER], check=False)


@pytest.fixture(scope="module")
def shared_root() -> Iterator[Path]:
    """A folder other users may enter (pytest's own are root's alone), removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="tether-creds-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def as_user(entry: pwd.struct_passwd) -> dict[str, Any]:
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


@pytest.fixture(scope="module")
def user_python(run_user: pwd.struct_passwd, shared_root: Path) -> str:
    """An interpreter the run user can execute that imports Tether: a virtualenv over the
    system's Python of this version that sees this environment's packages (this one's own
    interpreter may sit in root's home)."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    venv = shared_root / "venv"
    for base in (sys._base_executable, f"/usr/bin/python{version}"):  # type: ignore[attr-defined]
        if not os.access(base, os.X_OK):
            continue
        shutil.rmtree(venv, ignore_errors=True)
        made = subprocess.run([base, "-m", "venv", "--without-pip", str(venv)],
                              capture_output=True)
        if made.returncode != 0:
            continue
        python = venv / "bin" / "python"
        site_packages = subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True, capture_output=True, text=True).stdout.strip()
        outer = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
        (Path(site_packages) / "outer.pth").write_text(
            "".join(f"import site; site.addsitedir({p!r})\n" for p in sorted(outer)))
        try:
            works = subprocess.run([python, "-c", "import tether.runworker"], cwd="/",
                                   capture_output=True, **as_user(run_user))
        except PermissionError:
            continue
        if works.returncode == 0:
            return str(python)
    pytest.skip(f"no Python {version} that {RUN_USER} can execute with this environment's "
                "packages (they must be readable by other users)")


def uid_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:")))


@pytest.mark.timeout(240)
@pytest.mark.parametrize("launcher", ["process", "warm"])
def test_user_code_run_as_the_run_user_finds_no_token(
        launcher: str, run_user: pwd.struct_passwd, user_python: str, shared_root: Path,
        broker_url: str) -> None:
    base = shared_root / launcher
    project, report, data_dir = base / "project", base / "report", base / "data"
    for folder in (base, project, report, data_dir):
        # the data folder too: the agent must make it private itself
        folder.mkdir(mode=0o755)
        folder.chmod(0o755)
    os.chown(report, run_user.pw_uid, run_user.pw_gid)
    (project / "defs.py").write_text(DEFS)
    (project / "scan.py").write_text(SCAN)
    workspace = base / "workspace.toml"
    workspace.write_text(
        f'[[locations]]\nname = "probe"\npython_file = "defs.py"\n'
        f'working_directory = "{project}"\npython = "{user_python}"\n'
        f'env = {{ PROBE_ROOTS = "{base}" }}\n')
    with deployed(redis_url=broker_url, workspace=workspace, data_dir=data_dir,
                  env={"TETHER_RUN_USER": RUN_USER, "TETHER_RUN_LAUNCHER": launcher,
                       # the launcher makes it the run user's
                       "TETHER_STORAGE_DIR": str(base / "storage")}) as deployment:
        wait_loaded(deployment)
        run_id = deployment.graphql(LAUNCH, job="probe")["launchRun"]["id"]
        status = deployment.wait_for(
            lambda: (s := deployment.graphql(RUN_STATUS, id=run_id)["run"]["status"])
            in ENDED and s, what="the probe run to end")
        assert status == "SUCCESS", deployment.output()
        agent_pids = {name: process.pid for name, process in deployment.processes.items()}
        servers = servers_of(deployment, "probe")
        # the code server runs as the run user too
        assert servers and all(uid_of(s.pid) == run_user.pw_uid for s in servers)
        launcher_log = deployment.logs["launcher"].read_text()

        # what root (or user code run as the agent's own user, before) finds: the scanner
        # sees the token where it is
        scan = runpy.run_path(str(project / "scan.py"))["scan"]
        control = scan([str(data_dir)], pids=[agent_pids["poller"], agent_pids["uploader"]])
        assert deployment.agent_token in control["found"]
        assert f"/proc/{agent_pids['poller']}/mem" in control["found"][deployment.agent_token]

        if launcher == "process":
            # a supervisor that dies is succeeded by one that adopts the run user's server
            # (it reads the server's command line in /proc, which stays readable)
            supervisor = deployment.processes["supervisor"]
            supervisor.kill()
            supervisor.wait()
            deployment.start("supervisor")
            deployment.wait_for(
                lambda: f"adopted the code server of probe (pid {servers[0].pid}"
                in deployment.logs["supervisor"].read_text(), timeout=30,
                what="the run user's code server to be adopted")

    found = json.loads((report / "report.json").read_text())
    # the op ran as the run user, in its groups only (not root's)
    assert found["uid"] == run_user.pw_uid
    assert set(found["groups"]) == set(os.getgrouplist(RUN_USER, run_user.pw_gid))
    assert 0 not in found["groups"]
    # it looked: its own environment, memory and files (the folder the agent's files are in)
    assert found["read"]["environ"] >= 1 and found["read"]["files"] >= 3
    assert found["read"]["memory_bytes"] > 1_000_000
    # and was refused the agent's processes and files
    for pid in (agent_pids["poller"], agent_pids["uploader"]):
        assert f"/proc/{pid}/environ" in found["denied"]
        assert f"/proc/{pid}/mem" in found["denied"]
    assert str(data_dir) in found["denied"]
    # nowhere a token of this deployment
    assert deployment.agent_token not in found["found"], found["found"]
    assert deployment.user_token not in found["found"], found["found"]
    assert data_dir.stat().st_mode & 0o777 == 0o700
    # the op's output, stored by the run user in the folder the launcher gave it
    [stored] = (base / "storage").rglob("*.pickle")
    assert stored.stat().st_uid == run_user.pw_uid
    if launcher == "warm":
        assert "cold" not in launcher_log and "zygote of probe" not in launcher_log, launcher_log


def test_the_token_file_wins_and_the_variable_leaves_the_environment(tmp_path: Path) -> None:
    token_file = tmp_path / "agent-token"
    token_file.write_text("tta_from_the_file\n")
    token_file.chmod(0o600)
    environ = {"TETHER_AGENT_TOKEN": "tta_from_the_variable", "PATH": "/bin",
               "TETHER_AGENT_TOKEN_FILE": str(token_file)}
    settings = load_agent_token(load_settings(environ), environ)
    assert settings.agent_token == "tta_from_the_file"
    assert "TETHER_AGENT_TOKEN" not in environ and environ["PATH"] == "/bin"

    # still accepted in the environment, and taken out of it once read
    environ = {"TETHER_AGENT_TOKEN": "tta_from_the_variable"}
    assert load_agent_token(load_settings(environ), environ).agent_token == \
        "tta_from_the_variable"
    assert environ == {}


def test_an_agent_takes_a_token_per_deployment_from_files_and_the_environment(
        tmp_path: Path) -> None:
    files = []
    for name in ("staging", "branch"):
        token_file = tmp_path / f"{name}-token"
        token_file.write_text(f"tta_{name}\n")
        token_file.chmod(0o600)
        files.append(str(token_file))
    environ = {"TETHER_AGENT_TOKEN": "tta_prod", "TETHER_AGENT_TOKENS": "tta_dev, tta_prod",
               "TETHER_AGENT_TOKEN_FILES": ",".join(files)}
    settings = load_agent_token(load_settings(environ), environ)
    # the single token first (entries that name no deployment are its), then each once
    assert settings.require_agent_tokens() == ["tta_prod", "tta_dev", "tta_staging",
                                               "tta_branch"]
    assert "TETHER_AGENT_TOKEN" not in environ and "TETHER_AGENT_TOKENS" not in environ

    # one of them readable by others: refused like the single token's file
    os.chmod(files[1], 0o644)
    environ = {"TETHER_AGENT_TOKEN_FILES": ",".join(files)}
    with pytest.raises(ConfigError, match=f"{files[1]} .*chmod 600"):
        load_agent_token(load_settings(environ), environ)
    with pytest.raises(ConfigError, match="no agent token: set TETHER_AGENT_TOKEN_FILE"):
        load_settings({}).require_agent_tokens()


def test_a_token_file_other_users_can_read_is_refused(tmp_path: Path) -> None:
    token_file = tmp_path / "agent-token"
    token_file.write_text("tta_secret\n")
    token_file.chmod(0o644)
    environ = {"TETHER_AGENT_TOKEN_FILE": str(token_file)}
    with pytest.raises(ConfigError, match="chmod 600"):
        load_agent_token(load_settings(environ), environ)


@pytest.mark.timeout(120)
def test_an_agent_worker_hides_its_environment_from_its_own_user(
        run_user: pwd.struct_passwd, user_python: str, shared_root: Path,
        broker_url: str) -> None:
    """Without a run user, user code runs as the agent's user: it must not read a token that
    came in the environment from /proc/<pid>/environ, nor the worker's memory."""
    base = shared_root / "same-user"
    base.mkdir(mode=0o755)
    (base / "scan.py").write_text(SCAN)
    data_dir = base / "data"
    data_dir.mkdir()
    os.chown(data_dir, run_user.pw_uid, run_user.pw_gid)
    token = "tta_" + "S" * 43
    env = {"PATH": os.environ["PATH"], "TETHER_AGENT_TOKEN": token,
           "TETHER_REDIS_URL": broker_url, "TETHER_DATA_DIR": str(data_dir),
           # nothing answers there: the poller keeps retrying, holding its token
           "TETHER_URL": f"http://127.0.0.1:{free_port()}"}
    log = base / "poller.log"
    poller = subprocess.Popen([user_python, "-m", "tether", "agent", "poller"], env=env,
                              cwd=base, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                              start_new_session=True, **as_user(run_user))
    try:
        eventually(lambda: poller.poll() is not None or "claiming work" in log.read_text(),
                   timeout=30, every=0.05, what="the poller to start")
        assert poller.poll() is None, log.read_text()
        assert uid_of(poller.pid) == run_user.pw_uid
        probe = subprocess.run(
            [user_python, "-c", "import json, runpy, sys; print(json.dumps(runpy.run_path("
             f"'scan.py')['scan']([], pids=[{poller.pid}])))"],
            cwd=base, env={"PATH": os.environ["PATH"]}, capture_output=True, text=True,
            timeout=60, **as_user(run_user))
        assert probe.returncode == 0, probe.stderr
        found = json.loads(probe.stdout)
        assert found["uid"] == run_user.pw_uid
        assert token not in found["found"], found["found"]
        assert {f"/proc/{poller.pid}/environ", f"/proc/{poller.pid}/mem"} <= \
            set(found["denied"])
        # a non-dumpable process's /proc entries belong to root, who still sees the token
        # there: it did come in the environment
        assert os.stat(f"/proc/{poller.pid}/environ").st_uid == 0
        assert token.encode() in Path(f"/proc/{poller.pid}/environ").read_bytes()
    finally:
        poller.terminate()
        poller.wait(timeout=30)
    assert poller.returncode == 0, log.read_text()


@pytest.mark.timeout(60)
def test_a_run_user_the_agent_cannot_switch_to_stops_it_saying_why(
        run_user: pwd.struct_passwd, user_python: str, shared_root: Path,
        broker_url: str) -> None:
    data_dir = shared_root / "unprivileged-data"
    data_dir.mkdir()
    os.chown(data_dir, run_user.pw_uid, run_user.pw_gid)
    for worker in ("launcher", "supervisor"):
        result = subprocess.run(
            [user_python, "-m", "tether", "agent", worker, "--burst"], cwd=shared_root,
            env={"PATH": os.environ["PATH"], "TETHER_RUN_USER": "root",
                 "TETHER_REDIS_URL": broker_url, "TETHER_DATA_DIR": str(data_dir)},
            capture_output=True, text=True, timeout=30, **as_user(run_user))
        assert result.returncode == 1, result.stdout + result.stderr
        assert "TETHER_RUN_USER=root: running processes as another user needs root" in \
            result.stderr


@pytest.mark.timeout(60)
def test_a_run_users_storage_in_the_private_data_folder_stops_the_launcher_saying_why(
        run_user: pwd.struct_passwd, tmp_path: Path, broker_url: str) -> None:
    # the default storage folder lies in the data folder, which the run user cannot enter
    result = subprocess.run(
        [sys.executable, "-m", "tether", "agent", "launcher", "--burst"], cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "TETHER_RUN_USER": RUN_USER,
             "TETHER_REDIS_URL": broker_url, "TETHER_DATA_DIR": str(tmp_path / "data")},
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"TETHER_RUN_USER={RUN_USER}: run workers store step outputs in " \
        f"{tmp_path / 'data' / 'storage'}, inside the agent's data folder" in result.stderr
    assert "set TETHER_STORAGE_DIR to a folder outside it" in result.stderr
