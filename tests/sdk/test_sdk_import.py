"""``import tether`` stays light: run workers and code servers pay for it on every start."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("grpc", "redis", "sqlalchemy", "starlette", "httpx", "opentelemetry")

PROBE = f"""
import sys
import tether
import tether.codeserver
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
print(repr(heavy))
"""


def test_import_tether_pulls_in_no_heavy_dependency() -> None:
    output = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout
    # the import time itself is measured in bench/launch_latency.py: a timed assertion here
    # would fail on any busy machine
    assert eval(output) == []


def test_top_level_exports_the_sdk() -> None:
    import tether

    for name in ("op", "job", "asset", "Definitions", "define_asset_job", "OpContext"):
        assert name in tether.__all__
        assert getattr(tether, name) is getattr(tether.sdk, name)
