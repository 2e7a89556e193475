"""Finding the processes a test started, through the environment they all inherit."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any


def processes_with_env(marker: str) -> list[int]:
    """Pids of live processes whose environment contains ``marker`` (e.g. a unique data dir)."""
    pids = []
    needle = marker.encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if needle in (proc / "environ").read_bytes():
                status = (proc / "status").read_text()
                if "\nState:\tZ" not in status:
                    pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def assert_running(process: subprocess.Popen[Any]) -> None:
    """Fails (with its exit code) once ``process`` has exited: for ``eventually``'s
    ``meanwhile``, so that a wait on a dead process stops at once."""
    assert process.poll() is None, f"process {process.pid} exited with {process.returncode}"
