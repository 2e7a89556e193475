"""What the code locations define and who serves them: jobs (graph and launch form), assets
(lineage and latest materializations), code locations (status, load errors, redeploy) and
agents (heartbeats, queues, code servers, recent errors)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import msgspec
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from tether.partitions import describe, partition_keys
from tether.wire import AssetSnapshot, FloatValue, IntValue

from ..storage import (
    LIVENESS_SECONDS,
    LocationRecord,
    PartitionState,
    Store,
    config_scaffold,
    run_config_errors,
)
from ._asset_status import LEGEND, lineage_svg, shown, steps_of
from ._base import ActionFailed, Pages, Viewer, form_text
from ._svg import GraphNode, dag_svg, partition_bar_svg, series_svg
from .errors import PageNotFound

REDEPLOY = "redeployLocation"
LAUNCH = """mutation($job: String!, $location: String, $config: JSON, $tags: JSON,
                    $partition: String) {
  launchRun(jobName: $job, location: $location, runConfig: $config, tags: $tags,
            partition: $partition) { id }
}"""
MATERIALIZE = """mutation($location: String!, $keys: [String!]!) {
  materializeAssets(location: $location, assetKeys: $keys) { id }
}"""
_json_object = msgspec.json.Decoder(dict[str, Any])
# the materializations an asset's page lists
MATERIALIZATIONS_SHOWN = 50
# the results of each check an asset's page shows
CHECK_RESULTS_SHOWN = 20
# the assets the assets page lists at a time (and draws the lineage of)
ASSETS_PER_PAGE = 200


def _page_number(text: str | None) -> int:
    return int(text) if text and text.isdigit() else 1
# the failed partitions an asset's page names (the bar shows them all)
FAILED_SHOWN = 20


def parse_tags(text: str) -> dict[str, str]:
    """``key=value`` lines (blank lines ignored) as a dict; ActionFailed names a bad line."""
    tags: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ActionFailed(f"tags line {number} must be key=value, got {line.strip()!r}",
                               "BAD_INPUT")
        tags[key.strip()] = value.strip()
    return tags


def _asset_matches(asset: AssetSnapshot, text: str) -> bool:
    """Whether the (lowercase) filter text is in the asset's key, description, owners, kinds
    or tags."""
    words = [asset.key, asset.description, *asset.owners, *asset.kinds,
             *(f"{name}={value}" for name, value in asset.tags.items())]
    return any(text in word.lower() for word in words)


def parse_config(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        return _json_object.decode(text)
    except msgspec.DecodeError as exc:
        raise ActionFailed(f"the run config is not a JSON object: {exc}", "BAD_INPUT") from None
    except RecursionError:
        # deeper than the decoder goes; the API's own limit (TETHER_MAX_INPUT_DEPTH) is far
        # below, and says so for any config deeper than it
        raise ActionFailed("the run config nests too deeply", "BAD_INPUT") from None


class CatalogPages(Pages):
    async def jobs(self, request: Request, viewer: Viewer) -> Response:
        locations = await self.call(viewer.store.list_locations)
        return self.render(request, viewer, "jobs.html", locations=locations)

    async def _job(self, store: Store, location: str, name: str) -> tuple[LocationRecord, Any]:
        record = await self.call(store.get_location, location)
        job = None if record is None or record.snapshot is None else record.snapshot.job(name)
        if record is None or job is None:
            raise PageNotFound(f"no job {name!r} in code location {location!r}; the Jobs page "
                               "lists the jobs of every loaded location")
        return record, job

    async def job(self, request: Request, viewer: Viewer) -> Response:
        record, job = await self._job(viewer.store, request.path_params["location"],
                                      request.path_params["job"])
        scaffold = config_scaffold(job.run_config_schema).config
        # the form starts from the job's own config: its defaults, and null where it needs one
        config = msgspec.json.format(msgspec.json.encode(scaffold), indent=2).decode()
        return self._job_page(request, viewer, record, job, config=config, tags="", error=None,
                              partitions=await self._partitions(viewer.store, job))

    async def _partitions(self, store: Store, job: Any) -> tuple[list[str], str] | None:
        """The keys of a partitioned job, for its launch form's picker, and their summary."""
        if job.partitions is None:
            return None
        dynamic = await self.call(store.dynamic_keys_for, job.partitions)
        now = time.time()
        return (partition_keys(job.partitions, now=now, dynamic=dynamic),
                describe(job.partitions, now=now, dynamic=dynamic))

    def _job_page(self, request: Request, viewer: Viewer, record: LocationRecord, job: Any, *,
                  config: str, tags: str, error: str | None, status_code: int = 200,
                  partitions: tuple[list[str], str] | None = None,
                  partition: str | None = None) -> Response:
        graph = dag_svg([GraphNode(name=node.name, label=node.name,
                                   upstream=[i.from_node for i in node.inputs if i.from_node])
                         for node in job.nodes], title=f"Op graph of {job.name}")
        scaffold = config_scaffold(job.run_config_schema)
        return self.render(request, viewer, "job.html", status_code=status_code,
                           location=record, job=job, graph=graph, config=config, tags=tags,
                           error=error, required=scaffold.required,
                           scaffold=msgspec.json.encode(scaffold.config).decode(),
                           partition_keys=None if partitions is None else partitions[0],
                           partitions_text="" if partitions is None else partitions[1],
                           partition=partition)

    async def check_config(self, request: Request, viewer: Viewer) -> Response:
        """The launch form's config checked as it is typed: every problem the launch would
        refuse it for, in the same words (JSON for the form's script)."""
        _, job = await self._job(viewer.store, request.path_params["location"],
                                 request.path_params["job"])
        form = await request.form()
        try:
            problems = run_config_errors(job.run_config_schema,
                                         parse_config(form_text(form, "config")))
        except ActionFailed as exc:
            problems = [str(exc)]
        return JSONResponse({"problems": problems}, headers={"Cache-Control": "no-store"})

    async def launch(self, request: Request, viewer: Viewer) -> Response:
        """Launch through the API's launchRun; its error (unknown job, a location not loaded,
        a config the job refuses ...) is shown above the form, which keeps what was typed."""
        record, job = await self._job(viewer.store, request.path_params["location"],
                                      request.path_params["job"])
        form = await request.form()
        config_text, tags_text = form_text(form, "config"), form_text(form, "tags")
        partition = form_text(form, "partition").strip() or None
        try:
            data = await self.mutate(viewer, LAUNCH, job=job.name, location=record.name,
                                     config=parse_config(config_text), tags=parse_tags(tags_text),
                                     partition=partition)
        except ActionFailed as exc:
            return self._job_page(request, viewer, record, job, config=config_text,
                                  tags=tags_text, error=str(exc),
                                  status_code=403 if exc.code == "FORBIDDEN" else 400,
                                  partitions=await self._partitions(viewer.store, job),
                                  partition=partition)
        return RedirectResponse(f"/runs/{data['launchRun']['id']}", status_code=303)

    async def assets(self, request: Request, viewer: Viewer) -> Response:
        return await self._assets_page(request, viewer)

    async def materialize(self, request: Request, viewer: Viewer) -> Response:
        """Launch one run materializing the ticked assets (``location/key`` each), or every
        asset of a group, through the API's materializeAssets; its error (an unknown key, a
        viewer token ...) is shown above the assets."""
        form = await request.form()
        picked = [value for value in form.getlist("asset") if isinstance(value, str)]
        group = form_text(form, "group")
        locations = await self.call(viewer.store.list_locations)
        if group:
            picked = [f"{loc.name}/{asset.key}" for loc in locations if loc.snapshot
                      for asset in loc.snapshot.assets
                      if asset.group_name == group and not asset.external]
        by_location: dict[str, list[str]] = {}
        for value in picked:
            location, _, key = value.partition("/")
            by_location.setdefault(location, []).append(key)
        try:
            if not by_location:
                raise ActionFailed("tick the assets to materialize, or choose a group",
                                   "BAD_INPUT")
            if len(by_location) > 1:
                raise ActionFailed("a run materializes the assets of one code location; the "
                                   f"selection has assets of {', '.join(sorted(by_location))}",
                                   "BAD_INPUT")
            [(location, keys)] = by_location.items()
            data = await self.mutate(viewer, MATERIALIZE, location=location, keys=keys)
        except ActionFailed as exc:
            return await self._assets_page(request, viewer, error=str(exc),
                                           status_code=403 if exc.code == "FORBIDDEN" else 400)
        return RedirectResponse(f"/runs/{data['materializeAssets']['id']}", status_code=303)

    async def _assets_page(self, request: Request, viewer: Viewer, *, error: str | None = None,
                           status_code: int = 200) -> Response:
        locations = await self.call(viewer.store.list_locations)
        every = [(loc.name, asset) for loc in locations if loc.snapshot
                 for asset in loc.snapshot.assets]
        groups = sorted({asset.group_name for _, asset in every})
        group = request.query_params.get("group") or None
        text = (request.query_params.get("q") or "").strip()
        matching = sorted(((location, asset) for location, asset in every
                           if (group is None or asset.group_name == group)
                           and (not text or _asset_matches(asset, text.lower()))),
                          key=lambda pair: pair[1].group_name)
        # a page of them: a location of ten thousand assets is read a page at a time
        pages = max(1, -(-len(matching) // ASSETS_PER_PAGE))
        page = min(max(_page_number(request.query_params.get("page")), 1), pages)
        assets = matching[(page - 1) * ASSETS_PER_PAGE:page * ASSETS_PER_PAGE]
        states = await self.call(viewer.store.asset_states, steps_of([a for _, a in assets]))
        latest = {key: state.latest for key, state in states.items() if state.latest}
        # each shown asset's checks by their newest results: one index probe per check
        checks = await self.call(viewer.store.check_summaries, {
            asset.key: [check.name for check in asset.checks]
            for _, asset in assets if asset.checks})
        # the lineage of the shown assets, each in its latest status
        graph = lineage_svg(assets, states, title="Asset lineage",
                            href={asset.key: f"#asset-{asset.key}" for _, asset in assets})
        # the job that materializes each asset (the first that has a node for it), which its
        # Materialize button launches
        jobs: dict[tuple[str, str], str] = {}
        for loc in locations:
            for job in loc.snapshot.jobs if loc.snapshot else []:
                for node in job.nodes:
                    if node.asset_key:
                        jobs.setdefault((loc.name, node.asset_key), job.name)
        grouped: dict[str, list[tuple[str, Any]]] = {}
        for location, asset in assets:
            grouped.setdefault(asset.group_name, []).append((location, asset))
        return self.render(request, viewer, "assets.html", status_code=status_code,
                           error=error, grouped=grouped, latest=latest, checks=checks,
                           graph=graph, jobs=jobs, groups=groups, any_assets=bool(every),
                           filters={"group": group, "q": text},
                           states={asset.key: shown(asset, states) for _, asset in assets},
                           legend=LEGEND, page=page, pages=pages, total=len(matching),
                           per_page=ASSETS_PER_PAGE)

    async def asset(self, request: Request, viewer: Viewer) -> Response:
        """One asset: its latest metadata and its materializations, newest first."""
        location, key = request.path_params["location"], request.path_params["key"]
        record = await self.call(viewer.store.get_location, location)
        found = None if record is None or record.snapshot is None else next(
            (a for a in record.snapshot.assets if a.key == key), None)
        if found is None or record is None or record.snapshot is None:
            raise PageNotFound(f"no asset {key!r} in code location {location!r}; the Assets "
                               "page lists the assets of every loaded location")
        history = await self.call(viewer.store.materializations, key, MATERIALIZATIONS_SHOWN)
        # its neighbourhood in the lineage: what it reads and what reads it
        near = [a for a in record.snapshot.assets
                if a.key == key or a.key in found.deps or key in a.deps]
        states = await self.call(viewer.store.asset_states, steps_of(near))
        graph = lineage_svg([(location, a) for a in near], states,
                            title=f"Lineage around {key}",
                            href={a.key: f"/assets/{quote(location)}/{a.key}" for a in near})
        # each number the asset reports, oldest first, where it has two values to join
        numbers: dict[str, list[float]] = {}
        for materialization in reversed(history):
            for label, value in materialization.metadata.items():
                if isinstance(value, IntValue | FloatValue):
                    numbers.setdefault(label, []).append(float(value.value))
        plots = {label: series_svg(label, values) for label, values in numbers.items()
                 if len(values) > 1}
        # each check with its results, newest first
        checks = [(check, await self.call(viewer.store.check_evaluations, key,
                                          CHECK_RESULTS_SHOWN, check.name))
                  for check in found.checks]
        status = bar = None
        failed: list[str] = []
        if found.partitions is not None:
            status = await self.call(viewer.store.asset_partition_status, key, found.partitions)
            bar = partition_bar_svg(status.keys, {state.value: found for state, found
                                                  in status.positions.items()})
            failed = status.with_state(PartitionState.FAILED, FAILED_SHOWN)
        return self.render(request, viewer, "asset.html", location=location, asset=found,
                           history=history, plots=plots, checks=checks, graph=graph,
                           state=shown(found, states), legend=LEGEND, partition_status=status,
                           partition_bar=bar, failed_partitions=failed)

    async def locations(self, request: Request, viewer: Viewer) -> Response:
        locations = await self.call(viewer.store.list_locations)
        can_redeploy = self._graphql.mutation_document(REDEPLOY, ["name"]) is not None
        return self.render(request, viewer, "locations.html", locations=locations,
                           can_redeploy=can_redeploy and viewer.can_launch)

    async def redeploy(self, request: Request, viewer: Viewer) -> Response:
        name = request.path_params["location"]
        document = self._graphql.mutation_document(REDEPLOY, ["name"])
        if document is None:
            raise PageNotFound("this control plane cannot redeploy code locations from the "
                               "web UI; restart it or deploy the location again")
        await self.mutate(viewer, document, name=name)
        return RedirectResponse("/locations", status_code=303)

    async def agents(self, request: Request, viewer: Viewer) -> Response:
        agents = await self.call(viewer.store.list_agents)
        now = time.time()
        return self.render(request, viewer, "agents.html", agents=agents, now=now,
                           liveness=LIVENESS_SECONDS)
