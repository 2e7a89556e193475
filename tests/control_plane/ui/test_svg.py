"""The pictures: a dependency graph in layers with visible edges, and a step timeline."""

from __future__ import annotations

import re

import pytest

from tether.control_plane.storage import StepSpan
from tether.control_plane.ui._svg import GraphNode, dag_svg, layers
from tether.control_plane.ui._timeline import Phase, run_phases, timeline_svg


def _edges(svg: str) -> list[list[float]]:
    return [[float(n) for n in re.findall(r"-?\d+\.?\d*", d)]
            for d in re.findall(r'class="edge" marker-end="url\(#arrow\)" d="([^"]+)"', svg)]


def test_nodes_sit_in_layers_and_an_edge_past_a_layer_arcs_over_it() -> None:
    nodes = [GraphNode(name="report", upstream=["raw", "even"]),
             GraphNode(name="even", upstream=["raw"]), GraphNode(name="raw", upstream=[])]
    assert [[n.name for n in col] for col in layers(nodes)] == [["raw"], ["even"], ["report"]]
    svg = str(dag_svg(nodes, title="Asset lineage"))
    assert '<title id="graph-title">Asset lineage</title>' in svg and 'role="img"' in svg
    edges = _edges(svg)
    assert len(edges) == 3
    # M x1,y1 C cx1,cy1 cx2,cy2 x2,y2: the raw → report edge bends above the row of boxes,
    # so it is not hidden behind "even"
    [long_edge] = [e for e in edges if e[2] != e[0] and e[3] < e[1] - 1]
    assert long_edge[3] < long_edge[1] and long_edge[5] < long_edge[7]
    assert all(y >= 0 for e in edges for y in e[1::2])


def test_a_cycle_or_unknown_upstream_still_draws() -> None:
    nodes = [GraphNode(name="a", upstream=["b", "ghost"]), GraphNode(name="b", upstream=["a"])]
    svg = str(dag_svg(nodes, title="odd"))
    assert svg.count('class="node"') == 2


def test_the_timeline_draws_each_started_step_with_its_status_in_words() -> None:
    spans = [StepSpan(step_key="extract", attempt=1, start=10.0, end=12.0, status="SUCCESS"),
             StepSpan(step_key="load", attempt=1, start=12.0, end=None, status="STARTED"),
             StepSpan(step_key="later", attempt=1, start=None, end=None, status="STARTED")]
    svg = str(timeline_svg(spans, start=10.0, end=None, now=14.0))
    assert 'data-step="extract"' in svg and "✓ SUCCESS · 2.0 s" in svg
    assert 'data-step="load"' in svg and "▶ STARTED · 2.0 s" in svg
    assert 'data-step="later"' not in svg
    assert "No step has started yet" in str(timeline_svg(spans[2:], start=None, end=None,
                                                         now=1.0))


def test_the_timeline_draws_nested_graph_steps_and_mapped_copies_under_their_keys() -> None:
    spans = [StepSpan(step_key="outer.inner.double", attempt=1, start=10.0, end=11.0,
                      status="SUCCESS"),
             StepSpan(step_key="size[a]", attempt=1, start=11.0, end=12.0, status="SUCCESS"),
             StepSpan(step_key="size[b]", attempt=1, start=11.0, end=12.5, status="FAILURE")]
    svg = str(timeline_svg(spans, start=10.0, end=12.5, now=13.0))
    for key in ("outer.inner.double", "size[a]", "size[b]"):
        assert f'data-step="{key}"' in svg and f">{key}<" in svg


def test_a_retrying_step_says_so_and_counts_its_tries() -> None:
    spans = [StepSpan(step_key="fetch", attempt=1, start=10.0, end=None, status="RETRYING"),
             StepSpan(step_key="load", attempt=1, start=10.0, end=13.0, status="SUCCESS",
                      step_attempts=3)]
    svg = str(timeline_svg(spans, start=10.0, end=None, now=14.0))
    assert "↻ RETRYING · 4.0 s" in svg
    assert "✓ SUCCESS · 3.0 s · 3 tries" in svg


def _axis(svg: str) -> list[str]:
    return re.findall(r'<text class="axis"[^>]*>([^<]+)</text>', svg)


def test_a_short_runs_axis_counts_in_round_steps_each_label_once() -> None:
    # 2.3 ms read "0 ms, 1 ms, 1 ms, 2 ms, 2 ms" when the axis cut the span in quarters
    spans = [StepSpan(step_key="a", attempt=1, start=10.0, end=10.0023, status="SUCCESS")]
    svg = str(timeline_svg(spans, start=10.0, end=10.0023, now=11.0))
    assert _axis(svg) == ["0 ms", "0.5 ms", "1 ms", "1.5 ms", "2 ms"]
    xs = [float(x) for x in re.findall(r'<text class="axis" x="([\d.]+)"', svg)]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    # a step under a millisecond is not "0 ms", and its axis counts in µs
    fast = [StepSpan(step_key="b", attempt=1, start=10.0, end=10.00034, status="SUCCESS")]
    svg = str(timeline_svg(fast, start=10.0, end=10.00034, now=11.0))
    assert "✓ SUCCESS · 340 µs" in svg
    assert _axis(svg) == ["0 µs", "100 µs", "200 µs", "300 µs"]


def test_longer_runs_keep_round_steps_in_their_unit() -> None:
    for end, labels in ((14.0, ["0 s", "5 s", "10 s"]),
                        (0.9, ["0 ms", "200 ms", "400 ms", "600 ms", "800 ms"]),
                        (150.0, ["0 min", "0.5 min", "1 min", "1.5 min", "2 min", "2.5 min"])):
        spans = [StepSpan(step_key="a", attempt=1, start=0.0, end=end, status="SUCCESS")]
        assert _axis(str(timeline_svg(spans, start=0.0, end=end, now=end))) == labels


def test_the_runs_phases_lead_to_its_first_step_and_a_running_run_has_a_now_line() -> None:
    assert run_phases(queued=10.0, starting=None, started=None, first_step=None, end=None,
                      now=13.0) == [Phase("QUEUED", 10.0, 13.0)]
    phases = run_phases(queued=10.0, starting=12.0, started=12.5, first_step=13.0, end=None,
                        now=20.0)
    assert phases == [Phase("QUEUED", 10.0, 12.0), Phase("STARTING", 12.0, 12.5),
                      Phase("STARTED", 12.5, 13.0)]
    spans = [StepSpan(step_key="a", attempt=1, start=13.0, end=None, status="STARTED")]
    running = str(timeline_svg(spans, start=12.5, end=None, now=20.0, phases=phases,
                               running=True, run_id="r1"))
    assert running.count("data-phase=") == 3 and 'class="now"' in running
    # the bar links to the log of its step, for the page without script
    assert 'href="/runs/r1?step=a#events-h"' in running
    # the axis starts at the queueing: 10 s in all, the step's bar from 3 s to 10 s
    bar = re.search(r'<rect class="bar" x="([\d.]+)" y="\d+" width="([\d.]+)"', running)
    assert bar is not None and float(bar.group(2)) == pytest.approx(560 * 0.7, abs=0.1)
    ended = str(timeline_svg(spans, start=12.5, end=20.0, now=20.0, phases=phases))
    assert 'class="now"' not in ended


def test_phases_that_outlast_the_steps_get_their_own_stretch_so_the_steps_stay_readable(
        ) -> None:
    # queued and starting for 2 s, then steps of 2 ms and 1 ms: on one axis they would be
    # a pixel wide
    phases = run_phases(queued=0.0, starting=1.0, started=1.9, first_step=2.0, end=2.003,
                        now=2.003)
    spans = [StepSpan(step_key="a", attempt=1, start=2.0, end=2.002, status="SUCCESS"),
             StepSpan(step_key="b", attempt=1, start=2.002, end=2.003, status="SUCCESS")]
    svg = str(timeline_svg(spans, start=1.9, end=2.003, now=2.003, phases=phases))
    widths = [float(w) for w in re.findall(r'<rect class="bar" x="[\d.]+" y="\d+" '
                                           r'width="([\d.]+)"', svg)]
    assert widths[0] > 250 and widths[0] / widths[1] == pytest.approx(2.0, rel=0.01)
    assert "≈" in svg and "2.0 s before" in svg and _axis(svg)[0] == "0 ms"


def test_a_retried_runs_phases_stay_on_the_axis_after_its_first_attempts_steps() -> None:
    # attempt 1's step at 0-1 ms; attempt 2 queued at 1 s, started at 3 s, its step 3-3.001 s
    phases = run_phases(queued=1.0, starting=2.0, started=3.0, first_step=3.0, end=3.001,
                        now=3.001)
    spans = [StepSpan(step_key="a", attempt=1, start=0.0, end=0.001, status="FAILURE"),
             StepSpan(step_key="a", attempt=2, start=3.0, end=3.001, status="SUCCESS")]
    svg = str(timeline_svg(spans, start=0.0, end=3.001, now=3.001, phases=phases))
    assert "≈" not in svg and "1 retry before" in svg
    xs = [float(x) for x in re.findall(r'<rect class="phase \w+" data-phase="\w+" x="([\d.]+)"',
                                       svg)]
    bars = [float(x) for x in re.findall(r'<rect class="bar" x="([\d.]+)"', svg)]
    assert bars[0] < xs[0] < xs[-1] <= bars[1]


def test_a_mark_of_an_earlier_attempt_is_not_a_phase_of_this_one() -> None:
    # attempt 2 queued at 10 s and claimed at 11 s; the start time is still attempt 1's
    assert run_phases(queued=10.0, starting=11.0, started=2.0, first_step=None, end=None,
                      now=12.0) == [Phase("QUEUED", 10.0, 11.0), Phase("STARTING", 11.0, 12.0)]
