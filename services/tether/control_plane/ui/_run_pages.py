"""The runs list, a run's page (failure first, timeline, one log of events and compute output
filtered by step, level and text, live updates), and the Cancel and Re-execute actions."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from ..storage import TERMINAL_STATUSES, RunRecord, RunStatus, Store, will_retry
from ._base import CSRF_FIELD, Pages, Viewer, form_text
from ._log_filter import COMPUTE_CHUNKS, COMPUTE_LOG_SHOWN, LEVELS, LogFilter, matching_lines
from ._timeline import run_phases, timeline_svg
from .errors import BadRequest, PageNotFound

PAGE_SIZE = 50
# asks for the runs list alone, without the page around it
FRAGMENT_HEADER = "x-tether-fragment"
EVENTS_PAGE = 500

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
        partition = params.get("partition", "").strip() or None
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
        runs = await self.call(viewer.store.list_runs, PAGE_SIZE + 1, status=status,
                               job_name=job, tag=tag, before=before, partition=partition)
        more = len(runs) > PAGE_SIZE
        runs = runs[:PAGE_SIZE]
        locations = await self.call(viewer.store.list_locations)
        jobs = sorted({j.name for loc in locations if loc.snapshot for j in loc.snapshot.jobs})
        next_cursor = f"{runs[-1].created_at!r}_{runs[-1].run_id}" if more else None
        filters = {k: v for k, v in (("status", status), ("job", job),
                                     ("tag", tag_text if tag else None),
                                     ("partition", partition)) if v}
        context: dict[str, Any] = {"runs": runs, "filters": filters, "now": time.time(),
                                   "next_cursor": next_cursor, "paged": before is not None}
        if request.headers.get(FRAGMENT_HEADER) == "runs-list":
            # the first page's script refreshes the list in place
            return HTMLResponse(self._renderer.fragment("_runs_table.html", **context),
                                headers={"Cache-Control": "no-store"})
        return self.render(request, viewer, "runs.html", statuses=list(RunStatus), jobs=jobs,
                           problems=problems, **context)

    async def _run(self, store: Store, run_id: str) -> RunRecord:
        run = await self.call(store.get_run, run_id)
        if run is None:
            raise PageNotFound(f"no run with id {run_id!r}; it may have been typed wrong")
        return run

    async def _live_parts(self, store: Store, run: RunRecord, *, first_error: bool = True
                          ) -> dict[str, Any]:
        now = time.time()
        spans = await self.call(store.step_spans, run.run_id)
        facts = await self.call(store.run_facts, run.run_id, run.attempt,
                                first_error=first_error)
        waiting = (await self.call(store.waiting_reason, run.run_id)
                   if run.status == RunStatus.QUEUED else None)
        done = _done(run)
        phases = run_phases(
            queued=facts.queued_at or run.created_at, starting=facts.starting_at,
            started=run.start_time, end=run.end_time, now=now,
            # the phases of the current attempt lead to its own first step
            first_step=min((s.start for s in spans
                            if s.start is not None and s.attempt == run.attempt), default=None))
        checks = await self.call(store.run_check_evaluations, run.run_id)
        return {"run": run, "spans": spans, "now": now, "facts": facts,
                "waiting": waiting, "done": done, "checks": checks,
                "timeline": timeline_svg(spans, start=run.start_time, end=run.end_time,
                                         now=now, phases=phases, running=not done,
                                         run_id=run.run_id)}

    async def run(self, request: Request, viewer: Viewer) -> Response:
        run = await self._run(viewer.store, request.path_params["run_id"])
        log = LogFilter.of(request)
        after = event_cursor(request.query_params["after"]) if request.query_params.get(
            "after") else None
        page = await self._events(viewer.store, run, log, after)
        parts = await self._live_parts(viewer.store, run)
        stream = request.query_params.get("stream", "stdout")
        compute = await self._compute_log(viewer.store, run, log,
                                          stream if stream == "stderr" else "stdout",
                                          newest=True)
        return self.render(request, viewer, "run.html", log=log, levels=LEVELS, needle=log.text,
                           paged=after is not None, compute=compute, **page, **parts)

    async def _events(self, store: Store, run: RunRecord, log: LogFilter,
                      after: tuple[float, int] | None) -> dict[str, Any]:
        events, total, newest = await self.call(
            store.events_page, run.run_id, limit=EVENTS_PAGE + 1, levels=log.levels,
            step_key=log.step, after=after, text=log.text)
        more = len(events) > EVENTS_PAGE
        events = events[:EVENTS_PAGE]
        cursor = f"{events[-1].timestamp!r}_{events[-1].id}" if events else ""
        return {"events": events, "total": total, "newest": newest, "more": more,
                "cursor": cursor}

    async def events(self, request: Request, viewer: Viewer) -> Response:
        """A page of the filtered log as rows (JSON for the page's script, which filters and
        pages the log in place): from the start, or ``after`` a (timestamp, id) cursor."""
        run = await self._run(viewer.store, request.path_params["run_id"])
        log = LogFilter.of(request)
        after = event_cursor(request.query_params["after"]) if request.query_params.get(
            "after") else None
        page = await self._events(viewer.store, run, log, after)
        rows = self._renderer.fragment("_event_rows.html", events=page["events"], run=run,
                                       needle=log.text)
        return JSONResponse({"rows": rows, "count": len(page["events"]), "more": page["more"],
                             "cursor": page["cursor"], "total": page["total"],
                             "after_id": page["newest"], "query": log.query},
                            headers={"Cache-Control": "no-store"})

    async def updates(self, request: Request, viewer: Viewer) -> Response:
        """What changed since the page was drawn: status, failure, timeline, steps, actions,
        and the event rows stored after event ``after_id`` that pass the log's filter (JSON
        for the page's script)."""
        run = await self._run(viewer.store, request.path_params["run_id"])
        log = LogFilter.of(request)
        after_id = request.query_params.get("after_id", "0")
        if not after_id.isdigit():
            raise BadRequest(f"after_id must be an event id, got {after_id!r}")
        events, total, newest = await self.call(
            viewer.store.events_page, run.run_id, limit=EVENTS_PAGE, levels=log.levels,
            step_key=log.step, after_id=int(after_id), text=log.text)
        # the first error's link is not part of the update
        parts = await self._live_parts(viewer.store, run, first_error=False)
        fragment = self._renderer.fragment
        context = {**parts, "request": request, "viewer": viewer, "csrf_field": CSRF_FIELD}
        return JSONResponse({
            "status": str(run.status),
            "done": parts["done"],
            "summary": fragment("_run_summary.html", **context),
            "failure": fragment("_run_failure.html", **context),
            "actions": fragment("_run_actions.html", **context),
            "steps": fragment("_run_steps.html", **context),
            "events": fragment("_event_rows.html", events=events, run=run, needle=log.text),
            # a full batch may have more behind it: continue from its last row, else from the
            # newest event stored
            "after_id": events[-1].id if len(events) == EVENTS_PAGE else newest,
            "total": total,
        }, headers={"Cache-Control": "no-store"})

    async def _compute_log(self, store: Store, run: RunRecord, log: LogFilter, stream: str,
                           after_id: int | None = None, *, newest: bool = False
                           ) -> dict[str, Any]:
        """The output shown: all of it after chunk ``after_id`` (the log page, a live tail),
        or (``newest``, the run page) its newest chunks that contain the text, so a long
        output costs the run page what its end costs."""
        if newest:
            chunks = await self.call(store.compute_output, run.run_id, stream=stream,
                                     step_key=log.step, text=log.text, limit=COMPUTE_CHUNKS)
        else:
            chunks = await self.call(store.run_logs, run.run_id, stream=stream,
                                     step_key=log.step, after_id=after_id)
        text = "".join(chunk.data for chunk in chunks)
        if log.text:
            text = matching_lines(text, log.text)
        cut = len(text) > COMPUTE_LOG_SHOWN or (newest and len(chunks) == COMPUTE_CHUNKS)
        return {"text": text[-COMPUTE_LOG_SHOWN:] if cut else text, "cut": cut,
                "stream": stream, "done": _done(run),
                "last_id": max((chunk.id for chunk in chunks), default=after_id or 0)}

    async def logs(self, request: Request, viewer: Viewer) -> Response:
        run = await self._run(viewer.store, request.path_params["run_id"])
        params = request.query_params
        stream = params.get("stream", "stdout")
        if stream not in ("stdout", "stderr"):
            raise BadRequest(f"stream must be stdout or stderr, got {stream!r}")
        log = LogFilter.of(request)
        after_id = int(params["after_id"]) if params.get("after_id", "").isdigit() else None
        compute = await self._compute_log(viewer.store, run, log, stream, after_id)
        if params.get("format") == "json":
            return JSONResponse({key: compute[key] for key in ("text", "last_id", "done")},
                                headers={"Cache-Control": "no-store"})
        spans = await self.call(viewer.store.step_spans, run.run_id)
        return self.render(request, viewer, "logs.html", run=run, step=log.step,
                           steps=sorted({s.step_key for s in spans}), **compute)

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
