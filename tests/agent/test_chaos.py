"""Chaos: 200 short runs while a random agent worker is SIGKILLed (and restarted) every few
seconds and the control plane is SIGKILLed once and stays down for 20 s. Every run still
starts once and succeeds once, with every event and every line of its output stored once and
in order — the agent's whole promise, under crashes of every kind of worker and with several
copies of the launcher and the uploader.

The kills are random; the seed is printed and can be set with ``TETHER_CHAOS_SEED`` to replay
a failure (``TETHER_CHAOS_KILL_EVERY=0.5,1.5`` shakes harder). What is asserted does not
depend on them.
"""

from __future__ import annotations

import collections
import contextlib
import os
import random
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from tether.broker import keys
from tether.control_plane.storage import Store

from ..deployment import Deployment, one_location, wait_loaded
from ..streams import dead_letters
from ..waiting import eventually

SEED = int(os.environ.get("TETHER_CHAOS_SEED", "1234"))
# seconds between kills
KILL_EVERY = tuple(float(x) for x in os.environ.get("TETHER_CHAOS_KILL_EVERY", "2,4").split(","))
RUNS = 200
# runs waiting to start plus run workers alive: enough to keep two cores busy, not swamped
IN_FLIGHT = 8
OUTAGE_SECONDS = 20.0
LEASE_SECONDS = 5
COPIES = {"launcher": 2, "uploader": 2}
AGENT_WORKERS = ("poller", "launcher.1", "launcher.2", "supervisor", "uploader.1", "uploader.2")
STREAMS = (keys.WORK_RUNS, keys.WORK_CODE, keys.OUT_EVENTS, keys.OUT_LOGS, keys.OUT_RESULTS)
TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}
LAUNCH_TAGGED = 'mutation($tags: JSON) { launchRun(jobName: "chaos_job", tags: $tags) { id } }'
# the launcher's log lines for a worker it started, and for one it found started already
LAUNCHED = re.compile(r"launched run (\S+) attempt (\d+) \(pid (\d+)\)")
RECORDED = re.compile(r"run (\S+) attempt (\d+) is launched already \(pid:[^:]+:(\d+)\)")
WORKER_PID = re.compile(r"\(pid (\d+)\)")

DEFS = '''
from tether import Definitions, OpContext, job, op

@op
def greet(context: OpContext) -> int:
    for i in range(3):
        print(f"{context.run_id} greet {i}")
    context.log.info(f"greeted in {context.run_id}")
    return 3

@op
def count(context: OpContext, lines: int) -> None:
    for i in range(lines):
        print(f"{context.run_id} count {i}")
    context.log.info(f"counted in {context.run_id}")

@job
def chaos_job() -> None:
    count(greet())

defs = Definitions(jobs=[chaos_job])
'''


def expected_stdout(run_id: str) -> str:
    return "".join(f"{run_id} {op} {i}\n" for op in ("greet", "count") for i in range(3))


def expected_log_messages(run_id: str) -> list[str]:
    return [f"greeted in {run_id}", f"counted in {run_id}"]


def workspace(tmp_path: Path) -> Path:
    return one_location(tmp_path, "chaos", DEFS, working_directory="project")


def processes_marked(marker: str) -> dict[int, str]:
    """Live processes whose environment or command line contains ``marker``: every process
    of the deployment, and the run workers (whose environment is scrubbed, but whose command
    line names the location's folder). Pid → command line."""
    found = {}
    needle = marker.encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if (needle in cmdline or needle in (proc / "environ").read_bytes()) and \
                    "\nState:\tZ" not in (proc / "status").read_text():
                found[int(proc.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
    return found


def children(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            # the parent pid is the second field after the parenthesised command name
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(proc.name))
    return found


@dataclass
class Chaos:
    """Kills a random agent worker every few seconds and starts it again at once; the first
    kills cover every kind of worker. A kill that is due waits for the next launch and lands
    a random moment after it (or a second later without one), so that kills hit the
    workers while they claim, hand over, launch and upload, not only while they idle."""

    deployment: Deployment
    rng: random.Random
    kills: list[tuple[float, str, int]] = field(default_factory=list)
    # code servers of killed supervisors: nobody adopts them (a known limit)
    orphans: set[int] = field(default_factory=set)
    due: float = 0.0
    fire_at: float | None = None

    def __post_init__(self) -> None:
        first = ["poller", "supervisor", self.rng.choice(AGENT_WORKERS[1:3]),
                 self.rng.choice(AGENT_WORKERS[4:6])]
        self.rng.shuffle(first)
        self._first = first
        self._schedule()

    def _schedule(self) -> None:
        self.due = time.monotonic() + self.rng.uniform(*KILL_EVERY)
        self.fire_at = None

    def launched(self) -> None:
        """A run was just launched: a due kill lands shortly after."""
        now = time.monotonic()
        if now >= self.due and (self.fire_at is None or self.fire_at > now + 0.15):
            self.fire_at = now + self.rng.uniform(0.0, 0.15)

    def tick(self) -> None:
        now = time.monotonic()
        if now < self.due:
            return
        if self.fire_at is None:
            self.fire_at = self.due + 1.0
        if now < self.fire_at:
            return
        name = self._first.pop(0) if self._first else self.rng.choice(AGENT_WORKERS)
        process = self.deployment.processes[name]
        assert process.poll() is None, f"{name} died on its own\n{self.deployment.output()}"
        if name == "supervisor":
            self.orphans.update(children(process.pid))
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        self.kills.append((now, name, process.pid))
        print(f"chaos: killed {name} (pid {process.pid})", flush=True)
        self.deployment.start(name)
        self._schedule()

    def kinds_killed(self) -> set[str]:
        return {name.partition(".")[0] for _, name, _ in self.kills}


@dataclass
class Outage:
    """The control plane, SIGKILLed once half the runs are launched and started again
    ``OUTAGE_SECONDS`` later."""

    deployment: Deployment
    over_at: float | None = None

    @property
    def up(self) -> bool:
        return self.deployment.processes["control-plane"].poll() is None

    def tick(self, launched: int) -> None:
        control_plane = self.deployment.processes["control-plane"]
        if self.over_at is None and launched == RUNS // 2:
            os.kill(control_plane.pid, signal.SIGKILL)
            control_plane.wait()
            print("chaos: killed the control plane", flush=True)
            self.over_at = time.monotonic() + OUTAGE_SECONDS
        elif not self.up and self.over_at is not None and time.monotonic() >= self.over_at:
            self.deployment.start("control-plane")
            print("chaos: started the control plane again", flush=True)


class Launches:
    """Launches the runs one by one, paced, and never twice: a launch whose answer was lost
    is looked up by its tag before it is sent again."""

    def __init__(self, deployment: Deployment, store: Store) -> None:
        self.deployment = deployment
        self.store = store
        self.run_ids: list[str] = []
        self._unsure = False

    def try_next(self) -> bool:
        index = len(self.run_ids)
        if self._unsure:
            found = [run.run_id for run in self.store.list_runs(limit=10 * RUNS)
                     if run.tags.get("chaos") == index]
            if found:
                self.run_ids.append(found[0])
                self._unsure = False
                return True
        try:
            response = self.deployment.http.post(
                "/graphql", timeout=30,
                json={"query": LAUNCH_TAGGED, "variables": {"tags": {"chaos": index}}})
        except httpx.ConnectError:
            return False  # the control plane is down: nothing was sent
        except httpx.TransportError:
            self._unsure = True  # sent, but the answer was lost
            return False
        if response.status_code == 503:
            return False  # the control plane's database is not ready: nothing was stored
        body = response.json()
        assert not body.get("errors"), body
        self.run_ids.append(body["data"]["launchRun"]["id"])
        self._unsure = False
        return True


def statuses(store: Store) -> dict[str, str]:
    return {run.run_id: run.status.value for run in store.list_runs(limit=10 * RUNS)}


def run_workers(marker: str) -> int:
    return sum("execute-run" in cmd for cmd in processes_marked(marker).values())


def streams_drained(redis_url: str) -> bool:
    """Every entry of every stream handled and acknowledged (acknowledged entries are
    deleted), including those a killed worker left pending."""
    client = redis.Redis.from_url(redis_url)
    try:
        return all(client.xlen(stream) == 0 for stream in STREAMS)
    finally:
        client.close()


@contextmanager
def chaos_deployment(tmp_path: Path, broker_url: str) -> Iterator[Deployment]:
    # not deployed(): the test kills processes, and stops the deployment itself
    deployment = Deployment(redis_url=broker_url, workspace=workspace(tmp_path),
                            data_dir=tmp_path, copies=COPIES,
                            env={"TETHER_LEASE_SECONDS": str(LEASE_SECONDS)})
    try:
        deployment.wait_healthy()
        yield deployment
    finally:
        if any(p.poll() is None for p in deployment.processes.values()):
            deployment.stop()
        # after a failure: nothing of this test may outlive it
        for pid in processes_marked(str(tmp_path)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


# throughput-bound (200 runs against a 200 s budget on two cores): beside other tests it
# would measure the machine's load, not the agent
@pytest.mark.alone
@pytest.mark.timeout(280)
def test_no_run_event_or_line_is_lost_or_doubled_whatever_crashes(tmp_path: Path,
                                                                  broker_url: str) -> None:
    print(f"chaos seed {SEED}, a kill every {KILL_EVERY[0]:g}-{KILL_EVERY[1]:g} s (replay with "
          "TETHER_CHAOS_SEED and TETHER_CHAOS_KILL_EVERY)", flush=True)
    started = time.monotonic()
    marker = str(tmp_path)
    store = Store.from_url(f"sqlite:///{tmp_path / 'tether.db'}")
    with chaos_deployment(tmp_path, broker_url) as deployment:
        wait_loaded(deployment)
        chaos = Chaos(deployment, random.Random(SEED))
        launches = Launches(deployment, store)
        outage = Outage(deployment)

        # the launches, kills and the outage are paced by this loop; it fails with what it
        # got to before the test's timeout would cut it short
        launching_until = started + 200
        while len(launches.run_ids) < RUNS:
            assert time.monotonic() < launching_until, \
                f"only {len(launches.run_ids)} of {RUNS} runs launched\n{deployment.output()}"
            chaos.tick()
            outage.tick(len(launches.run_ids))
            if outage.up:
                current = statuses(store)
                waiting = sum(current.get(run_id) in ("QUEUED", "STARTING")
                              for run_id in launches.run_ids)
                if waiting + run_workers(marker) < IN_FLIGHT and launches.try_next():
                    chaos.launched()
                    continue
            # pacing, not a wait for a condition: a kill due soon wants a finer tick
            time.sleep(0.02 if chaos.fire_at is not None else 0.1)
        print(f"chaos: {RUNS} runs launched after {time.monotonic() - started:.0f}s, "
              f"{len(chaos.kills)} kills", flush=True)
        run_ids = launches.run_ids

        # (not deployment.wait_for: it fails when a process is down, and chaos kills them)
        eventually(lambda: all(statuses(store).get(r) in TERMINAL for r in run_ids),
                   timeout=120, every=0.25, what="every run to end", detail=deployment.output)
        eventually(lambda: streams_drained(broker_url) and run_workers(marker) == 0,
                   timeout=90, every=0.25, what="every stream drained",
                   detail=deployment.output)
        print(f"chaos: all ended and uploaded after {time.monotonic() - started:.0f}s",
              flush=True)

        # every kind of worker was killed, and every killed worker runs again
        assert chaos.kinds_killed() == {"poller", "launcher", "supervisor", "uploader"}
        deployment.assert_alive()
        for _, name, pid in chaos.kills:
            assert deployment.processes[name].pid != pid

        runs = {run.run_id: run for run in store.list_runs(limit=10 * RUNS)}
        assert sorted(runs) == sorted(run_ids), "exactly one run per launch"
        failed = {r: (run.status, run.attempt, run.steps_succeeded, run.error)
                  for r, run in runs.items()
                  if (run.status, run.attempt, run.steps_succeeded) != ("SUCCESS", 1, 2)}
        assert not failed, f"{len(failed)} runs did not succeed in attempt 1: {failed}"

        sizes = set()
        worker_pids = {}
        for run_id in run_ids:
            events = store.run_events(run_id)
            assert {e.attempt for e in events} == {1}, run_id
            numbered = sorted(e.seq for e in events if e.seq is not None)
            assert numbered == list(range(1, len(numbered) + 1)), \
                f"run {run_id}: seqs {numbered} are not 1..N once each"
            sizes.add(len(numbered))
            types = collections.Counter(e.type for e in events)
            assert types["RUN_START"] == 1 and types["RUN_SUCCESS"] == 1, (run_id, types)
            [start] = [e for e in events if e.type == "RUN_START"]
            worker_pids[run_id] = int(WORKER_PID.findall(start.message)[0])
            logged = [e.message for e in sorted(events, key=lambda e: e.seq or 0)
                      if e.type == "LOG_MESSAGE"]
            assert logged == expected_log_messages(run_id), run_id

            chunks = store.run_logs(run_id, stream="stdout")
            assert {c.attempt for c in chunks} == {1}, run_id
            assert [c.seq for c in chunks] == list(range(1, len(chunks) + 1)), run_id
            assert "".join(c.data for c in chunks) == expected_stdout(run_id), run_id
            # each line is attributed to the step that printed it
            assert all(line.split()[1] == c.step_key
                       for c in chunks for line in c.data.splitlines()), (run_id, chunks)
            assert store.run_logs(run_id, stream="stderr") == [], run_id
        # the job is the same for every run: so is its number of events
        assert len(sizes) == 1, f"runs have different numbers of events: {sizes}"

        # no run was started twice: each run's worker was launched by one launcher copy,
        # which logged it, unless it was killed before it could (then a later delivery found
        # the worker running and recorded it, and started none)
        logs = "".join(path.read_text(errors="replace")
                       for path in sorted(tmp_path.glob("launcher.*.log")))
        launched = collections.defaultdict(list)
        for run_id, attempt, pid in LAUNCHED.findall(logs):
            launched[run_id].append((int(attempt), int(pid)))
        recorded = {(run_id, int(attempt), int(pid))
                    for run_id, attempt, pid in RECORDED.findall(logs)}
        assert set(launched) <= set(run_ids)
        for run_id, pid in worker_pids.items():
            assert launched[run_id] in ([(1, pid)], []), (run_id, pid, launched[run_id])
            assert launched[run_id] or (run_id, 1, pid) in recorded, (run_id, pid)
        assert dead_letters(broker_url) == []

        codes = deployment.stop()
        assert all(code == 0 for code in codes.values()), \
            f"unclean stop {codes}\n{deployment.output()}"
        for pid in chaos.orphans:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        eventually(lambda: processes_marked(marker) == {}, timeout=10,
                   what="no process left behind", detail=lambda: str(processes_marked(marker)))
        assert processes_marked(marker) == {}, "processes left behind"
    store.close()
    print(f"chaos: passed in {time.monotonic() - started:.0f}s", flush=True)
