"""Several copies of a worker share its consumer group, as `honcho start -c launcher=3,
uploader=3` runs them: a burst of runs is spread over every copy, and each run is launched
once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import redis

from tether.broker import keys

from ..deployment import LAUNCH, Deployment, deployed, wait_loaded

RUNS = 12
COPIES = {"launcher": 3, "uploader": 3}
STATUSES = "{ runs { id status } }"
LAUNCHED = re.compile(r"launched run (\S+) attempt (\d+) \(pid \d+\)")
UPLOADED_STREAMS = (keys.OUT_EVENTS, keys.OUT_LOGS, keys.OUT_RESULTS)


def copies_of(deployment: Deployment, kind: str) -> list[str]:
    names = sorted(name for name in deployment.processes if name.startswith(f"{kind}."))
    assert names == [f"{kind}.{n}" for n in range(1, COPIES[kind] + 1)]
    return names


def launched_by(deployment: Deployment, name: str) -> list[tuple[str, int]]:
    text = deployment.logs[name].read_text(errors="replace")
    return [(run_id, int(attempt)) for run_id, attempt in LAUNCHED.findall(text)]


def uploader_consumers(redis_url: str) -> dict[str, list[dict[str, Any]]]:
    """Per out stream, the uploaders group's consumers (XINFO CONSUMERS)."""
    client = redis.Redis.from_url(redis_url)
    try:
        return {stream: client.xinfo_consumers(stream, keys.GROUP_UPLOADERS)
                for stream in UPLOADED_STREAMS}
    finally:
        client.close()


def drained(redis_url: str) -> bool:
    """Every entry of the out streams is uploaded and acknowledged."""
    client = redis.Redis.from_url(redis_url)
    try:
        return all(client.xlen(stream) == 0 and
                   client.xpending(stream, keys.GROUP_UPLOADERS)["pending"] == 0
                   for stream in UPLOADED_STREAMS)
    finally:
        client.close()


@pytest.mark.timeout(120)
def test_a_burst_of_runs_is_shared_by_every_launcher_and_uploader(tmp_path: Path,
                                                                  broker_url: str) -> None:
    with deployed(redis_url=broker_url, data_dir=tmp_path, copies=COPIES) as deployment:
        wait_loaded(deployment)
        run_ids = {deployment.graphql(LAUNCH, job="hello_job")["launchRun"]["id"]
                   for _ in range(RUNS)}

        def all_succeeded() -> bool:
            statuses = {run["id"]: run["status"]
                        for run in deployment.graphql(STATUSES)["runs"]}
            assert not {s for s in statuses.values()} & {"FAILURE", "CANCELED"}, statuses
            return all(statuses[run_id] == "SUCCESS" for run_id in run_ids)

        deployment.wait_for(all_succeeded, timeout=60, what=f"{RUNS} runs to succeed")
        deployment.wait_for(lambda: drained(broker_url), timeout=30,
                            what="the out streams drained")

        launches = {name: launched_by(deployment, name)
                    for name in copies_of(deployment, "launcher")}
        assert all(launches.values()), f"a launcher launched nothing: {launches}"
        every_launch = [launch for found in launches.values() for launch in found]
        assert sorted(every_launch) == sorted((run_id, 1) for run_id in run_ids), \
            "each run launched exactly once"

        # a consumer that was ever handed entries has `inactive` >= 0; with nothing pending
        # and the streams empty, it acknowledged them, which it does once they are stored
        consumers = uploader_consumers(broker_url)
        for name in copies_of(deployment, "uploader"):
            suffix = f"-{deployment.processes[name].pid}"
            handed = {stream: [c for c in found if c["name"].decode().endswith(suffix)]
                      for stream, found in consumers.items()}
            assert any(c["inactive"] >= 0 for found in handed.values() for c in found), \
                f"{name} uploaded nothing: {consumers}"
        deployment.assert_alive()
