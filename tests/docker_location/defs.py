"""The code location of the Docker tests, baked into the test image at /app/defs.py."""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

from tether import Config, Definitions, job, op


@op
def greet() -> str:
    greeting = os.environ.get("GREETING", "hello")
    print(f"{greeting} from a container (image {os.environ.get('TEST_IMAGE', 'v1')})")
    # the limits the run's tags asked for, as the container's cgroup (v1 or v2) holds them
    for name in ("memory/memory.limit_in_bytes", "memory.max", "cpu/cpu.cfs_quota_us",
                 "cpu.max"):
        path = Path("/sys/fs/cgroup") / name
        if path.exists():
            print(f"cgroup {name} = {path.read_text().strip()}")
    return greeting


@job
def hello() -> None:
    greet()


@op
def sleep_long() -> None:
    print("sleeping", flush=True)
    time.sleep(300)


@job
def sleepy() -> None:
    sleep_long()


class SnoopConfig(Config):
    # the agent token file on the agent's host
    token_file: str


@op
def look_around(config: SnoopConfig) -> None:
    """What user code in a run container can see of the agent."""
    seen: dict[str, object] = {
        "tether_env": sorted(k for k in os.environ if k.startswith("TETHER_")),
        "broker_user": urlsplit(os.environ.get("TETHER_REDIS_URL", "")).username,
        "token_file_exists": Path(config.token_file).exists(),
        "processes": sorted(
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:60]
            for pid in os.listdir("/proc") if pid.isdigit()),
    }
    environs = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with contextlib.suppress(OSError):
                environs.append(Path(f"/proc/{pid}/environ").read_bytes().decode(
                    errors="replace"))
    seen["agent_token_in_any_environ"] = any("AGENT_TOKEN" in e for e in environs)
    print("SNOOP " + json.dumps(seen), flush=True)


@job
def snoop() -> None:
    look_around()


jobs = [hello, sleepy, snoop]
if os.environ.get("TEST_IMAGE") == "v2":
    @job
    def hello_v2() -> None:
        greet()

    jobs.append(hello_v2)

defs = Definitions(jobs=jobs)
