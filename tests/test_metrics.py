"""Metrics: the real deployment exports them over OTLP and the counters move as work flows;
and the Grafana dashboard queries only metrics the code defines, by their Prometheus names."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tether._metrics import DEFINED, Defined

from .deployment import LAUNCH, RUN_STATUS, deployed, wait_loaded
from .otlp import OtlpReceiver

REPO = Path(__file__).resolve().parent.parent
UNIT_SUFFIXES = {"s": "seconds", "By": "bytes"}


def prometheus_name(metric: Defined) -> str:
    """The name the Collector's Prometheus exporter gives a metric (add_metric_suffixes)."""
    name = metric.name.replace(".", "_")
    suffix = UNIT_SUFFIXES.get(metric.unit)
    if suffix and not name.endswith(f"_{suffix}"):
        name += f"_{suffix}"
    return name + "_total" if metric.kind == "counter" else name


def test_every_metric_the_dashboard_queries_is_defined() -> None:
    dashboard = json.loads((REPO / "deploy/grafana/tether.json").read_text())
    queried = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name in re.findall(r"\btether_[a-z_]+", target["expr"]):
                queried.add(re.sub(r"_(bucket|count|sum)$", "", name))
    defined = {prometheus_name(metric) for metric in DEFINED}
    assert queried <= defined, f"queried but never emitted: {queried - defined}"
    # and every metric has its panel
    assert defined <= queried, f"emitted but on no panel: {defined - queried}"


def test_counters_move_as_runs_flow(tmp_path: Path, broker_url: str,
                                    receiver: OtlpReceiver) -> None:
    with deployed(
        redis_url=broker_url, data_dir=tmp_path,
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
             "OTEL_METRIC_EXPORT_INTERVAL": "300", "OTEL_BSP_SCHEDULE_DELAY": "100",
             "TETHER_LOG_LEVEL": "INFO"}
    ) as deployment:
        wait_loaded(deployment)
        def counted(name: str, at_least: float) -> None:
            deployment.wait_for(lambda: receiver.metric_total(name) >= at_least, timeout=15,
                                what=f"{name} at {at_least}")

        for runs in (1, 2, 3):
            run_id = deployment.graphql(LAUNCH, job="hello_job")["launchRun"]["id"]
            deployment.wait_for(
                lambda run_id=run_id: deployment.graphql(RUN_STATUS, id=run_id)["run"]["status"]
                == "SUCCESS", what="run SUCCESS")
            # each run: its launch claimed and launched, its worker's exit, its events
            # (RUN_START, 3 STEP_START and 3 STEP_SUCCESS, 3 log lines, RUN_SUCCESS) uploaded
            counted("tether.runs.exited", runs)
            counted("tether.work.claimed", runs + 1)  # and the location's load
            counted("tether.launch.latency", runs)
            counted("tether.upload.entries", 11 * runs)
        assert receiver.metric_total("tether.upload.log") > 0
        assert receiver.metric_total("tether.work.claim.latency") >= 4
        assert receiver.metric_total("tether.control_plane.request.duration") > 0
        assert receiver.metric_total("tether.code_servers.running") == 1
        deployment.wait_for(lambda: "tether.stream.length" in receiver.metrics,
                            timeout=15, what="stream gauges")
        runs_exited = receiver.metrics["tether.runs.exited"]
        assert runs_exited.monotonic and set(runs_exited.totals) == {"tether-uploader"}
    # what was exported is what the code defines
    assert set(receiver.metrics) <= {metric.name for metric in DEFINED}
