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
