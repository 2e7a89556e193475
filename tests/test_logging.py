"""Log lines: text by default; with TETHER_LOG_FORMAT=json one JSON object per line that
carries the trace and span ids of the span it was logged in."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = """
import logging
from tether import _telemetry as telemetry
from tether._logging import configure_logging
from tether.settings import load_settings

settings = load_settings()
configure_logging(settings.log_level, "probe", settings.log_format)
telemetry.configure("tether-probe", metrics=False)
with telemetry.span("probe") as traceparent:
    logging.getLogger("tether.probe").info("inside %s", traceparent)
logging.getLogger("tether.probe").warning("outside")
"""


def run_probe(**env: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=60, check=True)
    return [line for line in done.stderr.splitlines() if "tether.probe" in line]


def test_json_lines_carry_the_trace_and_span_of_their_span() -> None:
    inside, outside = (json.loads(line) for line in run_probe(
        TETHER_LOG_FORMAT="json", OTEL_TRACES_EXPORTER="console"))
    _, trace_id, span_id, _ = inside["message"].split()[1].split("-")
    assert (inside["trace_id"], inside["span_id"]) == (trace_id, span_id)
    assert inside["level"] == "INFO" and inside["process"] == "probe"
    assert outside["message"] == "outside" and "trace_id" not in outside


def test_text_lines_by_default() -> None:
    inside, outside = run_probe()
    assert " INFO probe tether.probe: inside" in inside
    assert outside.endswith("WARNING probe tether.probe: outside")
