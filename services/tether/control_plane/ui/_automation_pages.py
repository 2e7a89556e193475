"""Schedules and sensors: each one's state, next tick and tick history (runs created, skip
reasons, the user's traceback), with a start/stop toggle."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..storage import TickRecord
from ._base import ActionFailed, Pages, Viewer, form_text
from .errors import PageNotFound

SET_RUNNING = """mutation($kind: String!, $name: String!, $location: String,
    $running: Boolean!) { setAutomationRunning(kind: $kind, name: $name,
    location: $location, running: $running) { running } }"""
# ticks shown per schedule or sensor
HISTORY = 10


class AutomationPages(Pages):
    async def automations(self, request: Request, viewer: Viewer) -> Response:
        records = await self.call(viewer.store.list_automations)

        def history() -> dict[tuple[str, str, str], list[TickRecord]]:
            return {(r.kind, r.location, r.name): viewer.store.list_ticks(
                r.kind, r.location, r.name, HISTORY) for r in records}

        ticks = await self.call(history)
        return self.render(request, viewer, "automations.html",
                           schedules=[r for r in records if r.kind == "schedule"],
                           sensors=[r for r in records if r.kind == "sensor"], ticks=ticks,
                           error=request.query_params.get("error"))

    async def toggle(self, request: Request, viewer: Viewer) -> Response:
        """Start or stop one, through the API's setAutomationRunning (viewers are refused
        there)."""
        kind, location, name = (request.path_params[key] for key in ("kind", "location", "name"))
        if kind not in ("schedule", "sensor"):
            raise PageNotFound(f"no such kind {kind!r}: schedules and sensors only")
        form = await request.form()
        running = form_text(form, "running") == "true"
        try:
            await self.mutate(viewer, SET_RUNNING, kind=kind, name=name, location=location,
                              running=running)
        except ActionFailed as exc:
            records = await self.call(viewer.store.list_automations)
            ticks: dict[tuple[str, str, str], list[TickRecord]] = {}
            return self.render(request, viewer, "automations.html",
                               status_code=403 if exc.code == "FORBIDDEN" else 400,
                               schedules=[r for r in records if r.kind == "schedule"],
                               sensors=[r for r in records if r.kind == "sensor"],
                               ticks=ticks, error=str(exc))
        return RedirectResponse(f"/automation#{kind}-{location}-{name}", status_code=303)
