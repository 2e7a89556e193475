"""Backfills: the list, one backfill's page (progress, counts, failed partitions, its runs),
and its actions (launch from a job's or an asset's page, cancel, re-run the failed
partitions). Changes go through the GraphQL API, so its checks, roles and the audit log
apply."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..storage import BACKFILL_TAG, BackfillRecord, RunStatus
from ._base import Pages, Viewer, form_text
from .errors import PageNotFound

LAUNCH = """mutation($location: String, $job: String, $assets: [String!], $from: String,
                     $to: String, $partitions: [String!]) {
  launchBackfill(location: $location, jobName: $job, assetSelection: $assets, from: $from,
                 to: $to, partitions: $partitions) { id } }"""
CANCEL = "mutation($id: ID!) { cancelBackfill(id: $id) { id } }"
RERUN = "mutation($id: ID!) { rerunFailedBackfill(id: $id) { id } }"
BACKFILLS_SHOWN = 100
RUNS_SHOWN = 200
FAILED_SHOWN = 200

# the segments of a backfill's progress bar, in order, with their CSS class
SEGMENTS = (
    (RunStatus.SUCCESS, "success"), (RunStatus.FAILURE, "failure"),
    (RunStatus.CANCELED, "canceled"), (RunStatus.STARTED, "started"),
    (RunStatus.STARTING, "started"), (RunStatus.CANCELING, "started"),
    (RunStatus.QUEUED, "queued"),
)


def segments(backfill: BackfillRecord) -> list[tuple[str, str, float]]:
    """The progress bar: (status, CSS class, percent) of each status with runs."""
    total = backfill.partition_count or 1
    return [(status.value, css, 100.0 * backfill.counts[status] / total)
            for status, css in SEGMENTS if backfill.counts.get(status)]


class BackfillPages(Pages):
    async def backfills(self, request: Request, viewer: Viewer) -> Response:
        found = await self.call(viewer.store.list_backfills, BACKFILLS_SHOWN)
        return self.render(request, viewer, "backfills.html", backfills=found,
                           segments=segments)

    async def backfill(self, request: Request, viewer: Viewer) -> Response:
        backfill_id = request.path_params["backfill_id"]
        backfill = await self.call(viewer.store.get_backfill, backfill_id)
        if backfill is None:
            raise PageNotFound(f"no backfill {backfill_id!r}; the Backfills page lists them")
        runs = await self.call(viewer.store.list_runs, RUNS_SHOWN, tag=(BACKFILL_TAG,
                                                                      backfill_id))
        # a batch's runs are created at the same moment: in the partitions' order instead
        runs.sort(key=lambda run: run.partition or "")
        return self.render(request, viewer, "backfill.html", backfill=backfill, runs=runs,
                           segments=segments(backfill),
                           failed=backfill.failed_partitions[:FAILED_SHOWN])

    async def launch(self, request: Request, viewer: Viewer) -> Response:
        form = await request.form()
        job = form_text(form, "job").strip() or None
        asset = form_text(form, "asset").strip() or None
        listed = [key.strip() for key in form_text(form, "partitions").split(",")
                  if key.strip()]
        created = await self.mutate(
            viewer, LAUNCH, location=form_text(form, "location").strip() or None, job=job,
            assets=[asset] if asset else None,
            partitions=listed or None,
            **{"from": None if listed else form_text(form, "from").strip() or None,
               "to": None if listed else form_text(form, "to").strip() or None})
        return RedirectResponse(f"/backfills/{created['launchBackfill']['id']}",
                                status_code=303)

    async def cancel(self, request: Request, viewer: Viewer) -> Response:
        backfill_id = request.path_params["backfill_id"]
        await self.mutate(viewer, CANCEL, id=backfill_id)
        return RedirectResponse(f"/backfills/{backfill_id}", status_code=303)

    async def rerun(self, request: Request, viewer: Viewer) -> Response:
        created = await self.mutate(viewer, RERUN, id=request.path_params["backfill_id"])
        return RedirectResponse(f"/backfills/{created['rerunFailedBackfill']['id']}",
                                status_code=303)
