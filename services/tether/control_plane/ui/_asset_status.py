"""How the assets' pages show each asset's latest status: its words, CSS class and glyph (the
lineage's boxes and the legend use the same), and the lineage drawn in those colours."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup

from tether.wire import AssetSnapshot

from ..storage import AssetState, AssetStatus
from ._svg import GLYPHS, GraphNode, dag_svg


@dataclass(frozen=True, slots=True)
class Shown:
    """A state as the page shows it: a CSS class (with its glyph) and words."""

    css: str
    words: str

    @property
    def glyph(self) -> str:
        return GLYPHS[self.css]


STATES = {
    AssetStatus.MATERIALIZED: Shown("materialized", "materialized"),
    AssetStatus.FAILED: Shown("failed", "last attempt failed"),
    AssetStatus.IN_PROGRESS: Shown("in-progress", "materializing now"),
    AssetStatus.NEVER: Shown("never", "never materialized"),
}
EXTERNAL = Shown("external", "produced outside Tether")
# the legend, in the order a reader meets the states
LEGEND = [*STATES.values(), EXTERNAL]


def shown(asset: AssetSnapshot, states: Mapping[str, AssetState]) -> Shown:
    if asset.external:
        return EXTERNAL
    state = states.get(asset.key)
    return STATES[state.status if state else AssetStatus.NEVER]


def steps_of(assets: Sequence[AssetSnapshot]) -> dict[str, list[str]]:
    """What :meth:`Store.asset_states` takes for ``assets`` (external ones have no steps)."""
    return {asset.key: [asset.computed_by] if asset.computed_by else []
            for asset in assets if not asset.external}


def lineage_svg(assets: Sequence[tuple[str, AssetSnapshot]], states: Mapping[str, AssetState],
                *, title: str, href: Mapping[str, str]) -> Markup:
    """The lineage of ``(location, asset)`` pairs, each box in its latest status, linked to
    ``href[key]``; edges among the assets given."""
    keys = {asset.key for _, asset in assets}
    nodes = []
    for _, asset in assets:
        state = shown(asset, states)
        nodes.append(GraphNode(name=asset.key, upstream=[d for d in asset.deps if d in keys],
                               href=href.get(asset.key), state=state.css,
                               state_text=state.words))
    return dag_svg(nodes, title=title)
