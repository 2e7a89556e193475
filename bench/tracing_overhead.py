"""What tracing costs: sustained launch throughput (warm launcher, trivial runs) with trace
export off (the baseline) and on, every process exporting its spans over OTLP/HTTP to a
receiver in this process, as they would to an OpenTelemetry Collector. Besides runs/s, it
reports the CPU time the deployment's processes spend per run, which other work on the
machine does not disturb.

    .venv/bin/python bench/tracing_overhead.py [--runs 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics

from _harness import REPO  # noqa: F401  (puts the repository on sys.path)
from launch_throughput import Throughput, measure_with_cpu
from tests.otlp import OtlpReceiver


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    receiver = OtlpReceiver()
    tracing = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
    off: list[Throughput] = []
    on: list[Throughput] = []
    try:
        for _ in range(args.rounds):
            off.append(measure_with_cpu(1, args.runs, "warm"))
            on.append(measure_with_cpu(1, args.runs, "warm", env=tracing))
    finally:
        receiver.close()
    rate_off = statistics.median(t.runs_per_second for t in off)
    rate_on = statistics.median(t.runs_per_second for t in on)
    cpu_off = statistics.median(t.cpu_ms_per_run for t in off)
    cpu_on = statistics.median(t.cpu_ms_per_run for t in on)
    print(f"tracing off: {rate_off:6.2f} runs/s, {cpu_off:5.1f} ms CPU/run "
          f"(medians of {args.rounds}; baseline)")
    print(f"tracing on : {rate_on:6.2f} runs/s ({rate_on / rate_off:.2f}x), "
          f"{cpu_on:5.1f} ms CPU/run ({cpu_on / cpu_off:.2f}x); "
          f"{len(receiver.snapshot())} spans received")

if __name__ == "__main__":
    main()
