"""``import tether`` stays light: run workers and code servers pay for it on every start."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("grpc", "redis", "sqlalchemy", "starlette", "httpx", "opentelemetry")

PROBE = f"""
import sys, time
started = time.perf_counter()
import tether
import tether.codeserver
elapsed = time.perf_counter() - started
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
print(repr((elapsed, heavy)))
"""


def test_import_tether_pulls_in_no_heavy_dependency() -> None:
    output = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
    ).stdout
    elapsed, heavy = eval(output)
    assert heavy == []
    # in-process import time; the whole `python -c "import tether"` must stay under 0.15 s
    assert elapsed < 0.1, f"import tether took {elapsed * 1000:.0f} ms"


def test_top_level_exports_the_sdk() -> None:
    import tether

    for name in ("op", "job", "asset", "Definitions", "define_asset_job", "OpContext"):
        assert name in tether.__all__
        assert getattr(tether, name) is getattr(tether.sdk, name)
