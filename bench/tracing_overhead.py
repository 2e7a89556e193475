"""What tracing costs: sustained launch throughput (warm launcher, trivial runs) with trace
export off (the baseline) and on, every process exporting its spans over OTLP/HTTP to a
receiver in this process, as they would to an OpenTelemetry Collector. Besides runs/s, it
reports the CPU time the deployment's processes spend per run, which other work on the
machine disturbs much less.

One run goes first, unmeasured, so that the figures are those of a deployment under way:
the warm launcher starts its zygote (~350 ms of CPU) at the first launch.

With export on, the CPU time counts until every run's spans have reached the receiver, so
the export itself is paid for in the figure: processes batch their spans for
``OTEL_BSP_SCHEDULE_DELAY`` (here 500 ms, a tenth of the default, so that the wait after the
last run stays short), and until a span has been exported it has not cost all it will.

    .venv/bin/python bench/tracing_overhead.py [--runs 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import Counter
from collections.abc import Callable

from _harness import REPO  # noqa: F401  (puts the repository on sys.path)
from launch_throughput import Throughput, measure_with_cpu
from tests.otlp import OtlpReceiver

SCHEDULE_DELAY_MS = 500
# spans each run makes, one per process it passes (and three steps); the uploads and stores
# are per batch of runs
PER_RUN = {"launchRun": 1, "poller.hand_over": 1, "launcher.launch": 1,
           "run_worker.execute": 1, "step": 3}


def all_exported(receiver: OtlpReceiver, runs: int) -> Callable[[], bool]:
    """Whether the receiver holds the spans of ``runs`` runs more than it holds now, and no
    span has arrived for a schedule delay and a half (the last uploads' spans are in too)."""
    before = len(receiver.snapshot())
    last = (0, time.monotonic())

    def check() -> bool:
        nonlocal last
        spans = receiver.snapshot()[before:]
        now = time.monotonic()
        if len(spans) != last[0]:
            last = (len(spans), now)
            return False
        names = Counter(span.name for span in spans)
        return (all(names[name] >= runs * count for name, count in PER_RUN.items())
                and now - last[1] >= 1.5 * SCHEDULE_DELAY_MS / 1000)

    return check


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    receiver = OtlpReceiver()
    tracing = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
               "OTEL_BSP_SCHEDULE_DELAY": str(SCHEDULE_DELAY_MS)}
    off: list[Throughput] = []
    on: list[Throughput] = []
    try:
        for _ in range(args.rounds):
            off.append(measure_with_cpu(1, args.runs, "warm", warm_up=1))
            on.append(measure_with_cpu(1, args.runs, "warm", env=tracing, warm_up=1,
                                       drained=all_exported(receiver, args.runs)))
            print(f"  round: off {off[-1].runs_per_second:6.2f} runs/s "
                  f"{off[-1].cpu_ms_per_run:5.1f} ms CPU/run; on {on[-1].runs_per_second:6.2f}"
                  f" runs/s {on[-1].cpu_ms_per_run:5.1f} ms CPU/run", flush=True)
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
    print("CPU per run by process, medians (off -> on):")
    for name in off[0].cpu_ms_by_process:
        by_off = statistics.median(t.cpu_ms_by_process[name] for t in off)
        by_on = statistics.median(t.cpu_ms_by_process[name] for t in on)
        print(f"  {name:14} {by_off:5.1f} -> {by_on:5.1f} ms")


if __name__ == "__main__":
    main()
