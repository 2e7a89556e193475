"""What tracing costs: sustained launch throughput (warm launcher, trivial runs) with trace
export off (the baseline) and on, every process exporting its spans over OTLP/HTTP to a
receiver in this process, as they would to an OpenTelemetry Collector.

    .venv/bin/python bench/tracing_overhead.py [--runs 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics

from _harness import REPO  # noqa: F401  (puts the repository on sys.path)
from launch_throughput import measure
from tests.otlp import OtlpReceiver


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    receiver = OtlpReceiver()
    tracing = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
    off: list[float] = []
    on: list[float] = []
    try:
        for _ in range(args.rounds):
            off.append(measure(1, args.runs, "warm"))
            on.append(measure(1, args.runs, "warm", env=tracing))
    finally:
        receiver.close()
    baseline = statistics.median(off)
    traced = statistics.median(on)
    print(f"tracing off: {baseline:6.2f} runs/s (median of {args.rounds}; baseline)")
    print(f"tracing on : {traced:6.2f} runs/s ({traced / baseline:.2f}x), "
          f"{len(receiver.snapshot())} spans received")


if __name__ == "__main__":
    main()
