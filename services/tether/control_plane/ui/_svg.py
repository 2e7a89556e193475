"""Pictures drawn on the server as inline SVG: a dependency graph (a job's ops, the assets'
lineage) laid out in layers left to right, and a numeric metadata value over an asset's
materializations. (A run's timeline is in :mod:`._timeline`.)"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

_CHAR = 7.5
_NODE_H = 34
_GAP_X = 56
_GAP_Y = 18
_PAD = 12
_ARC = 30


@dataclass(frozen=True, slots=True)
class GraphNode:
    name: str
    # the nodes this one depends on (edges point from them to it)
    upstream: Sequence[str]
    label: str = ""
    href: str | None = None
    # a state the node is drawn in (a CSS class: an asset's latest status), with a glyph
    # before its label and the state in words in its tooltip, so colour only repeats them
    state: str | None = None
    state_text: str = ""


# the glyph of each state a node may be drawn in
GLYPHS = {"materialized": "✓", "failed": "✕", "in-progress": "◔", "never": "○",
          "external": "⇢"}


def _label(node: GraphNode) -> str:
    label = node.label or node.name
    glyph = GLYPHS.get(node.state or "")
    return f"{glyph} {label}" if glyph else label


def layers(nodes: Sequence[GraphNode]) -> list[list[GraphNode]]:
    """Nodes by their longest distance from a source; unknown upstream names are ignored and
    a cycle (which definitions cannot have) is broken where it is met."""
    by_name = {node.name: node for node in nodes}
    depth: dict[str, int] = {}

    def depth_of(name: str, path: frozenset[str]) -> int:
        if name in depth:
            return depth[name]
        ups = [u for u in by_name[name].upstream if u in by_name and u not in path]
        depth[name] = 1 + max((depth_of(u, path | {name}) for u in ups), default=-1)
        return depth[name]

    for node in nodes:
        depth_of(node.name, frozenset())
    result: list[list[GraphNode]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    for node in sorted(nodes, key=lambda n: n.name):
        result[depth[node.name]].append(node)
    return result


def dag_svg(nodes: Sequence[GraphNode], *, title: str) -> Markup:
    """The graph as an SVG picture; each node a box with its name, linked when it has a
    ``href``, with arrows from upstream nodes."""
    if not nodes:
        return Markup("")
    columns = layers(nodes)
    layer = {node.name: depth for depth, col in enumerate(columns) for node in col}
    # an edge that skips a layer arcs over the boxes between, so it needs room on top
    arcs = any(layer[node.name] - layer[up] > 1
               for node in nodes for up in node.upstream if up in layer)
    top = _ARC if arcs else 0.0
    widths = [max(len(_label(n)) * _CHAR + 2 * _PAD for n in col) for col in columns]
    tallest = max(len(col) for col in columns)
    rows_height = tallest * (_NODE_H + _GAP_Y) - _GAP_Y + 2 * _PAD
    height = rows_height + top
    boxes: dict[str, tuple[float, float, float]] = {}
    x: float = _PAD
    for col, width in zip(columns, widths, strict=True):
        offset = top + (rows_height - (len(col) * (_NODE_H + _GAP_Y) - _GAP_Y)) / 2
        for row, node in enumerate(col):
            boxes[node.name] = (x, offset + row * (_NODE_H + _GAP_Y), width)
        x += width + _GAP_X
    total_width = x - _GAP_X + _PAD
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" role="img" '
        f'viewBox="0 0 {total_width:.0f} {height:.0f}" width="{total_width:.0f}" '
        f'height="{height:.0f}" aria-labelledby="graph-title">',
        f'<title id="graph-title">{escape(title)}</title>',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'class="arrowhead"/></marker></defs>',
    ]
    for node in nodes:
        nx, ny, _ = boxes[node.name]
        for up in node.upstream:
            if up not in boxes:
                continue
            ux, uy, uw = boxes[up]
            x1, y1, x2, y2 = ux + uw, uy + _NODE_H / 2, nx, ny + _NODE_H / 2
            if layer[node.name] - layer[up] > 1:
                lift = min(y1, y2) - _ARC * 1.3
                controls = f"{x1 + _GAP_X:.1f},{lift:.1f} {x2 - _GAP_X:.1f},{lift:.1f}"
            else:
                mid = (x1 + x2) / 2
                controls = f"{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f}"
            parts.append(f'<path class="edge" marker-end="url(#arrow)" '
                         f'd="M{x1:.1f},{y1:.1f} C{controls} {x2 - 2:.1f},{y2:.1f}"/>')
    for node in nodes:
        nx, ny, width = boxes[node.name]
        state = (f' {escape(node.state)}" data-state="{escape(node.state)}'
                 if node.state else "")
        tip = (f"<title>{escape(node.label or node.name)}: {escape(node.state_text)}</title>"
               if node.state_text else "")
        box = (f'<g class="node{state}" data-node="{escape(node.name)}">{tip}'
               f'<rect x="{nx:.1f}" y="{ny:.1f}" width="{width:.1f}" height="{_NODE_H}" rx="6"/>'
               f'<text x="{nx + width / 2:.1f}" y="{ny + _NODE_H / 2 + 4:.1f}" '
               f'text-anchor="middle">{escape(_label(node))}</text></g>')
        if node.href:
            box = f'<a href="{escape(node.href)}">{box}</a>'
        parts.append(box)
    parts.append("</svg>")
    return Markup("".join(parts))


_PLOT_W = 360
_PLOT_H = 90


def series_svg(label: str, values: Sequence[float]) -> Markup:
    """A numeric metadata value over an asset's materializations, oldest first: a line
    through its points, with its lowest and highest value on the axis."""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = _PLOT_W / max(len(values) - 1, 1)
    points = " ".join(f"{_PAD + n * step:.1f},{_PAD + (high - v) / span * _PLOT_H:.1f}"
                      for n, v in enumerate(values))
    width, height = _PLOT_W + 2 * _PAD + 60, _PLOT_H + 2 * _PAD
    name = escape(label)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="series" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'data-label="{name}"><title>{name} over the last {len(values)} materializations: '
        f'from {values[0]:g} to {values[-1]:g}</title>'
        f'<polyline fill="none" stroke="currentColor" stroke-width="2" points="{points}"/>'
        f'<text class="axis" x="{_PLOT_W + 2 * _PAD}" y="{_PAD + 4}">{high:g}</text>'
        f'<text class="axis" x="{_PLOT_W + 2 * _PAD}" y="{_PAD + _PLOT_H}">{low:g}</text>'
        "</svg>")


# a partition's state -> its CSS class; a column of the bar that holds several states shows
# the most urgent (a failure must not hide among 100 materialized days)
_PARTITION_CLASSES = {"FAILED": "failed", "IN_PROGRESS": "in-progress", "MISSING": "missing",
                      "MATERIALIZED": "materialized"}
_URGENCY = {"MATERIALIZED": 0, "MISSING": 1, "IN_PROGRESS": 2, "FAILED": 3}
_BAR_W = 960
_BAR_H = 26


def partition_bar_svg(keys: Sequence[str], positions: Mapping[str, Sequence[int]], *,
                      width: int = _BAR_W) -> Markup:
    """An asset's partitions in their order as one bar, each stretch colored by its state
    (``positions``: MATERIALIZED, FAILED or IN_PROGRESS -> the sorted positions of the keys
    in it; the others are missing). With more partitions than pixels, each pixel column stands for
    several and shows the most urgent state among them; runs of one state are one rectangle,
    so 100,000 partitions draw as a few hundred shapes at most."""
    count = len(keys)
    if not count:
        return Markup("")
    columns = min(count, width)
    # column c holds the keys i with i * columns // count == c (exact integer arithmetic)
    firsts = [(c * count + columns - 1) // columns for c in range(columns + 1)]
    # per column and state (by urgency): how many of its keys are in it; the positions are
    # sorted, so two bisections a column count them (960 columns, not 100,000 keys)
    tallies = [[0] * columns for _ in _URGENCY]
    for state, found in positions.items():
        tally = tallies[_URGENCY[str(state)]]
        ends = [bisect.bisect_left(found, first) for first in firsts]
        for column in range(columns):
            tally[column] = ends[column + 1] - ends[column]
    materialized, in_progress, failed = (tallies[_URGENCY[name]] for name in (
        "MATERIALIZED", "IN_PROGRESS", "FAILED"))
    worst = [3 if failed[c] else 2 if in_progress[c] else
             1 if firsts[c + 1] - firsts[c] > materialized[c] else 0 for c in range(columns)]
    names = {value: name for name, value in _URGENCY.items()}
    step = width / columns
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="partition-bar" role="img" '
             f'viewBox="0 0 {width} {_BAR_H}" width="{width}" height="{_BAR_H}" '
             f'preserveAspectRatio="none"><title>{count} partitions, from '
             f'{escape(keys[0])} to {escape(keys[-1])}</title>']
    begin = 0
    for column in range(1, columns + 1):
        if column < columns and worst[column] == worst[begin]:
            continue
        state = names[worst[begin]]
        first, last = firsts[begin], firsts[column] - 1
        span = escape(keys[first]) if first == last else \
            f"{escape(keys[first])} to {escape(keys[last])}"
        parts.append(f'<rect class="{_PARTITION_CLASSES[state]}" data-state="{state}" '
                     f'x="{begin * step:.2f}" y="0" width="{(column - begin) * step:.2f}" '
                     f'height="{_BAR_H}"><title>{span}: {state.lower().replace("_", " ")}'
                     f'</title></rect>')
        begin = column
    parts.append("</svg>")
    return Markup("".join(parts))
