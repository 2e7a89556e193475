"""The runs list, a run's page with its live updates, its compute logs, and the Cancel and
Re-execute actions."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ..storage import TERMINAL_STATUSES, RunRecord, RunStatus, will_retry
from ._base import CSRF_FIELD, Pages, Viewer, form_text
from ._svg import timeline_svg
from .errors import BadRequest, PageNotFound

PAGE_SIZE = 50
# asks for the runs list alone, without the page around it
FRAGMENT_HEADER = "x-tether-fragment"
EVENTS_PAGE = 500
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

TERMINATE = "mutation($id: ID!) { terminateRun(id: $id) { id status } }"
REEXECUTE = """mutation($id: ID!, $strategy: ReexecutionStrategy) {
  reexecuteRun(id: $id, strategy: $strategy) { id }
}"""


def run_cursor(text: str) -> tuple[float, str]:
    created, _, run_id = text.partition("_")
    try:
        return float(created), run_id
    except ValueError:
        raise BadRequest(f"the page link is malformed ({text!r}); start from the runs list"
                         ) from None


def event_cursor(text: str) -> tuple[float, int]:
    timestamp, _, event_id = text.partition("_")
    try:
        return float(timestamp), int(event_id)
    except ValueError:
        raise BadRequest(f"the page link is malformed ({text!r}); open the run again") from None


class RunPages(Pages):
    async def runs(self, request: Request, viewer: Viewer) -> Response:
        params = request.query_params
        status = params.get("status") or None
        job = params.get("job") or None
        tag_text = params.get("tag", "").strip()
        problems: list[str] = []
        if status is not None and status not in RunStatus.__members__:
            problems.append(f"unknown status {status!r}; choose one from the list")
            status = None
        tag: tuple[str, str] | None = None
        if tag_text:
            key, sep, value = tag_text.partition("=")
            if not sep or not key.strip():
                problems.append(f"a tag filter is key=value, got {tag_text!r}")
            else:
                tag = (key.strip(), value.strip())
        before = run_cursor(params["before"]) if params.get("before") else None
        runs = await self.call(self.store.list_runs, PAGE_SIZE + 1, status=status,
                               job_name=job, tag=tag, before=before)
        more = len(runs) > PAGE_SIZE
        runs = runs[:PAGE_SIZE]
        locations = await self.call(self.store.list_locations)
        jobs = sorted({j.name for loc in locations if loc.snapshot for j in loc.snapshot.jobs})
        next_cursor = f"{runs[-1].created_at!r}_{runs[-1].run_id}" if more else None
        filters = {k: v for k, v in (("status", status), ("job", job),
                                     ("tag", tag_text if tag else None)) if v}
        context: dict[str, Any] = {"runs": runs, "filters": filters, "now": time.time(),
                                   "next_cursor": next_cursor, "paged": before is not None}
        if request.headers.get(FRAGMENT_HEADER) == "runs-list":
            # the first page's script refreshes the list in place
            return HTMLResponse(self._renderer.fragment("_runs_table.html", **context),
                                headers={"Cache-Control": "no-store"})
        return self.render(request, viewer, "runs.html", statuses=list(RunStatus), jobs=jobs,
                           problems=problems, **context)

    async def _run(self, run_id: str) -> RunRecord:
        run = await self.call(self.store.get_run, run_id)
        if run is None:
            raise PageNotFound(f"no run with id {run_id!r}; it may have been typed wrong")
        return run

    async def _live_parts(self, run: RunRecord) -> dict[str, Any]:
        now = time.time()
        spans = await self.call(self.store.step_spans, run.run_id)
        waiting = (await self.call(self.store.waiting_reason, run.run_id)
                   if run.status == RunStatus.QUEUED else None)
        return {"run": run, "spans": spans, "now": now,
                "waiting": waiting, "done": _done(run),
                "timeline": timeline_svg(spans, start=run.start_time, end=run.end_time,
                                         now=now)}

    async def run(self, request: Request, viewer: Viewer) -> Response:
        run = await self._run(request.path_params["run_id"])
        params = request.query_params
        levels = [level for level in params.getlist("level") if level in LEVELS]
        step = params.get("step") or None
        after = event_cursor(params["after"]) if params.get("after") else None
        events, total, newest = await self.call(
            self.store.events_page, run.run_id, limit=EVENTS_PAGE + 1, levels=levels,
            step_key=step, after=after)
        more = len(events) > EVENTS_PAGE
        events = events[:EVENTS_PAGE]
        cursor = f"{events[-1].timestamp!r}_{events[-1].id}" if events else (
            params.get("after") or "")
        parts = await self._live_parts(run)
        return self.render(request, viewer, "run.html", events=events, total=total,
                           more=more, cursor=cursor, newest=newest, levels=LEVELS,
                           chosen_levels=levels, step=step, paged=after is not None, **parts)

    async def updates(self, request: Request, viewer: Viewer) -> Response:
        """What changed since the page was drawn: status, timeline, steps, actions, and the
        event rows stored after event ``after_id`` (JSON for the page's script)."""
        run = await self._run(request.path_params["run_id"])
        params = request.query_params
        levels = [level for level in params.getlist("level") if level in LEVELS]
        after_id = params.get("after_id", "0")
        if not after_id.isdigit():
            raise BadRequest(f"after_id must be an event id, got {after_id!r}")
        events, total, newest = await self.call(
            self.store.events_page, run.run_id, limit=EVENTS_PAGE, levels=levels,
            step_key=params.get("step") or None, after_id=int(after_id))
        parts = await self._live_parts(run)
        fragment = self._renderer.fragment
        context = {**parts, "request": request, "viewer": viewer, "csrf_field": CSRF_FIELD}
        return JSONResponse({
            "status": str(run.status),
            "done": parts["done"],
            "summary": fragment("_run_summary.html", **context),
            "actions": fragment("_run_actions.html", **context),
            "steps": fragment("_run_steps.html", **context),
            "events": fragment("_event_rows.html", events=events, run=run),
            # a full batch may have more behind it: continue from its last row, else from the
            # newest event stored
            "after_id": events[-1].id if len(events) == EVENTS_PAGE else newest,
            "total": total,
        }, headers={"Cache-Control": "no-store"})

    async def logs(self, request: Request, viewer: Viewer) -> Response:
        run = await self._run(request.path_params["run_id"])
        params = request.query_params
        stream = params.get("stream", "stdout")
        if stream not in ("stdout", "stderr"):
            raise BadRequest(f"stream must be stdout or stderr, got {stream!r}")
        step = params.get("step") or None
        after_id = int(params["after_id"]) if params.get("after_id", "").isdigit() else None
        chunks = await self.call(self.store.run_logs, run.run_id, stream=stream,
                                 step_key=step, after_id=after_id)
        text = "".join(chunk.data for chunk in chunks)
        last_id = max((chunk.id for chunk in chunks), default=after_id or 0)
        done = _done(run)
        if params.get("format") == "json":
            return JSONResponse({"text": text, "last_id": last_id, "done": done},
                                headers={"Cache-Control": "no-store"})
        spans = await self.call(self.store.step_spans, run.run_id)
        return self.render(request, viewer, "logs.html", run=run, stream=stream, step=step,
                           text=text, last_id=last_id, done=done,
                           steps=sorted({s.step_key for s in spans}))

    async def cancel(self, request: Request, viewer: Viewer) -> Response:
        run_id = request.path_params["run_id"]
        await self.mutate(viewer, TERMINATE, id=run_id)
        return RedirectResponse(f"/runs/{run_id}", status_code=303)

    async def reexecute(self, request: Request, viewer: Viewer) -> Response:
        """A new run of the same job, location and config, tagged with the run it repeats:
        of all its steps, or (form field ``strategy`` FROM_FAILURE) from failure."""
        form = await request.form()
        data = await self.mutate(viewer, REEXECUTE, id=request.path_params["run_id"],
                                 strategy=form_text(form, "strategy", "ALL_STEPS"))
        return RedirectResponse(f"/runs/{data['reexecuteRun']['id']}", status_code=303)


def _done(run: RunRecord) -> bool:
    # a failed run that will be retried is not finished: the page keeps following it
    return run.status in TERMINAL_STATUSES and not will_retry(run)
