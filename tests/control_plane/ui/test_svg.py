"""The pictures: a dependency graph in layers with visible edges, and a step timeline."""

from __future__ import annotations

import re

from tether.control_plane.storage import StepSpan
from tether.control_plane.ui._svg import GraphNode, dag_svg, layers, timeline_svg


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
