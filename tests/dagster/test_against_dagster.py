"""The same Dagster program (``same_program.py``: config classes with defaults, an op's
config_schema, assets materialized in process, schedules called with a context, sensors
with a cursor, partitioned schedules, run requests) observed through Dagster itself and
through ``tether.dagster``: what a user sees must be the same.

Dagster is not a dependency of Tether: this test runs Dagster from the virtualenv the
benchmarks use (``bench/.dagster-venv``, made by ``bench/_dagster.py``'s ``ensure_venv``,
which ``scripts/test`` calls, so CI runs it) or the one ``TETHER_DAGSTER_VENV`` names, and is
skipped, saying so, when there is none (a plain ``pytest`` on a new machine)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
VENV = Path(os.environ.get("TETHER_DAGSTER_VENV", HERE.parents[1] / "bench" / ".dagster-venv"))


def _observed(python: Path | str, module: str, tmp_path: Path) -> Any:
    done = subprocess.run([str(python), str(HERE / "same_program.py"), module],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env={**os.environ, "DAGSTER_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(360)
def test_a_dagster_program_observes_the_same_through_tether_as_through_dagster(
        tmp_path: Path) -> None:
    dagster = VENV / "bin" / "python"
    if not dagster.exists():
        pytest.skip(f"no Dagster virtualenv at {VENV}: run scripts/test (which makes it) "
                    "or bench/dagster_side_by_side.py once, or set TETHER_DAGSTER_VENV")
    through_dagster = _observed(dagster, "dagster", tmp_path)
    through_tether = _observed(sys.executable, "tether.dagster", tmp_path)
    assert through_tether == through_dagster
    # and the program observed something
    assert through_tether["op_config"] == {"label": "x", "rate": 0.5}
