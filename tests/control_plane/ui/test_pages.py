"""The pages a signed-in user sees and the actions they take, against a real SQLite store."""

from __future__ import annotations

import html
import json
import re

import pytest

from tether.control_plane.storage import RunStatus
from tether.sdk import load_definitions, snapshot_definitions
from tether.wire import (
    AgentHeartbeat,
    AssetMaterialization,
    CodeServerStatus,
    ErrorInfo,
    IntValue,
    JsonValue,
    LoadLocation,
    LocationLoadFailed,
    LocationSpec,
    LogChunk,
    LogMessage,
    RunCanceled,
    RunEvent,
    RunFailure,
    RunStart,
    RunSuccess,
    StepCanceled,
    StepFailure,
    StepStart,
    StepSuccess,
    TablePreview,
    TextValue,
    UrlValue,
    WorkerStatus,
)

from ...conftest import EXAMPLE_WORKSPACE
from ..conftest import load_location
from .conftest import Ui, csrf_of

EXAMPLE = EXAMPLE_WORKSPACE.parent

pytestmark = pytest.mark.anyio

_RUN_LINK = re.compile(r'href="/runs/([0-9a-f-]{36})"')


def fail_load(ui: Ui, traceback: str, next_retry_at: float = 0.0) -> None:
    """Redeploy ``hello`` and answer its load as an agent whose code server failed would."""
    ui.store.deploy_location(LocationSpec(name="hello", module="hello.defs_v2"))
    [item] = [item for item in ui.store.claim_work("agent", ["default"], 10, 60)
              if isinstance(item.payload, LoadLocation)]
    assert isinstance(item.payload, LoadLocation)
    ui.store.store_results([LocationLoadFailed(
        work_id=item.work_id, epoch=item.epoch, location="hello",
        error=ErrorInfo(class_name="LoadError", message="load failed", stack=traceback),
        generation=item.payload.generation, next_retry_at=next_retry_at)])


def run_ids_on(html: str) -> list[str]:
    return list(dict.fromkeys(_RUN_LINK.findall(html)))


async def test_launch_from_the_job_page_queues_a_run_with_its_config_and_tags(ui: Ui) -> None:
    browser = await ui.signed_in(role="launcher", name="ada")
    page = await browser.get("/jobs/hello/hello_job")
    assert 'class="graph"' in page.text and 'data-node="extract"' in page.text
    assert 'data-node="load"' in page.text and 'class="edge"' in page.text
    response = await browser.post("/jobs/hello/hello_job/launch", data={
        "csrf": csrf_of(page.text), "config": '{"ops": {"load": {"config": {"limit": 3}}}}',
        "tags": "team=data\n\nowner = ada\n"})
    assert response.status_code == 303
    run_id = response.headers["location"].removeprefix("/runs/")
    run = ui.store.get_run(run_id)
    assert run is not None and run.job_name == "hello_job"
    assert run.run_config == {"ops": {"load": {"config": {"limit": 3}}}}
    assert run.tags == {"team": "data", "owner": "ada", "tether/user": "ada"}
    page = await browser.get(response.headers["location"])
    assert "QUEUED" in page.text and "user ada" in page.text


async def test_a_refused_launch_shows_why_and_keeps_what_was_typed(ui: Ui) -> None:
    browser = await ui.signed_in()
    csrf = csrf_of((await browser.get("/jobs/hello/hello_job")).text)
    bad_json = await browser.post("/jobs/hello/hello_job/launch",
                                  data={"csrf": csrf, "config": "{ops: 1", "tags": ""})
    assert bad_json.status_code == 400
    assert "run config is not a JSON object" in bad_json.text and "{ops: 1" in bad_json.text
    bad_tag = await browser.post("/jobs/hello/hello_job/launch",
                                 data={"csrf": csrf, "config": "{}", "tags": "no equals sign"})
    assert bad_tag.status_code == 400 and "tags line 1 must be key=value" in bad_tag.text
    # the API's own refusal: the location was redeployed and its load failed
    fail_load(ui, "ImportError: no module hello.defs_v2")
    refused = await browser.post("/jobs/hello/hello_job/launch",
                                 data={"csrf": csrf, "config": "{}", "tags": ""})
    assert refused.status_code == 400
    assert "code location &#39;hello&#39; is ERROR" in refused.text
    assert "ImportError: no module hello.defs_v2" in refused.text
    assert ui.store.list_runs() == []


async def test_the_launch_form_starts_from_the_jobs_config_and_lists_every_problem(
        ui: Ui) -> None:
    example = load_definitions(LocationSpec(name="example", module="hello.defs",
                                            working_directory=str(EXAMPLE)))
    load_location(ui.store, "example", defines=snapshot_definitions(example, "example"))
    browser = await ui.signed_in(role="launcher")
    page = (await browser.get("/jobs/example/export_job")).text
    form = re.search(r'<textarea id="config"[^>]*>(.*?)</textarea>', page, re.S)
    assert form is not None
    # the job's own op, its default, and null where the job needs a value; not "{}"
    assert json.loads(html.unescape(form.group(1))) == {
        "ops": {"export": {"config": {"table": None, "limit": 100}}}}
    assert ("Required, starting as <code>null</code>: "
            "<code class=\"required\">ops.export.config.table (str)</code>") \
        in page
    assert '"load"' not in page  # the old hint named an op this job does not have

    csrf = csrf_of(page)
    refused = await browser.post("/jobs/example/export_job/launch", data={
        "csrf": csrf, "config": '{"ops": {"export": {"config": {"limit": "ten"}}}}', "tags": ""})
    assert refused.status_code == 400
    assert ("invalid run config for job export_job: 2 problems:\n"
            "  $.ops.export.config.limit: expected int, got str\n"
            "  $.ops.export.config.table: missing required field") in html.unescape(refused.text)
    plain = (await browser.get("/jobs/example/hello_job")).text
    assert "No op of this job declares a config" in plain and ">{}</textarea>" in plain


async def test_the_runs_list_pages_newest_first_without_gaps_or_repeats(ui: Ui) -> None:
    clock_runs = [ui.store.launch_run("hello_job", tags={"batch": str(i % 3)})
                  for i in range(120)]
    browser = await ui.signed_in()
    seen: list[str] = []
    url = "/runs"
    pages = 0
    while url:
        page = await browser.get(url)
        assert page.status_code == 200
        seen += run_ids_on(page.text)
        pages += 1
        found = re.search(r'rel="next" href="([^"]+)"', page.text)
        url = found.group(1).replace("&amp;", "&") if found else ""
    assert pages == 3
    assert seen == list(reversed(clock_runs))

    tagged = await browser.get("/runs?tag=batch%3D1")
    assert run_ids_on(tagged.text) == [r for i, r in reversed(list(enumerate(clock_runs)))
                                       if i % 3 == 1][:50]
    ui.store.terminate_run(clock_runs[5])
    canceled = await browser.get("/runs?status=CANCELED")
    assert run_ids_on(canceled.text) == [clock_runs[5]]
    assert "✓" not in canceled.text and "CANCELED" in canceled.text
    by_job = await browser.get("/runs?job=other_job")
    assert run_ids_on(by_job.text) == [] and "No runs match these filters" in by_job.text
    # the open list's script asks for the list alone, with the page's filters
    fragment = await browser.get("/runs?status=CANCELED",
                                 headers={"X-Tether-Fragment": "runs-list"})
    assert run_ids_on(fragment.text) == [clock_runs[5]] and "<nav aria-label=\"Main\"" not in \
        fragment.text and fragment.text.lstrip().startswith("<table")
    bad = await browser.get("/runs?status=DONE&tag=novalue")
    assert "unknown status &#39;DONE&#39;" in bad.text and "a tag filter is key=value" in bad.text


def _events(run_id: str, t: float) -> list[RunEvent]:
    return [
        RunStart(run_id=run_id, attempt=1, seq=1, timestamp=t, job_name="hello_job"),
        StepStart(run_id=run_id, attempt=1, seq=2, timestamp=t + 1, step_key="extract"),
        LogMessage(run_id=run_id, attempt=1, seq=3, timestamp=t + 2, step_key="extract",
                   level="WARNING", message="3 rows skipped"),
        StepSuccess(run_id=run_id, attempt=1, seq=4, timestamp=t + 3, step_key="extract",
                    duration=2.0),
        StepStart(run_id=run_id, attempt=1, seq=5, timestamp=t + 3, step_key="load"),
        LogMessage(run_id=run_id, attempt=1, seq=6, timestamp=t + 3.5, step_key="load",
                   level="DEBUG", message="opening the table"),
    ]


async def test_the_run_page_shows_steps_timeline_filtered_events_and_updates(ui: Ui) -> None:
    run_id = ui.store.launch_run("hello_job")
    t = ui.store.get_run(run_id).created_at  # type: ignore[union-attr]
    ui.store.store_events(_events(run_id, t))
    ui.store.store_logs([LogChunk(run_id=run_id, attempt=1, stream="stdout", seq=1,
                                  step_key="load", data="total = 20\n"),
                         LogChunk(run_id=run_id, attempt=1, stream="stderr", seq=1,
                                  step_key="load", data="loading is done\n")])
    browser = await ui.signed_in()
    page = (await browser.get(f"/runs/{run_id}")).text
    assert "STARTED" in page and 'class="timeline"' in page
    assert 'data-step="extract"' in page and "✓ SUCCESS · 2.0 s" in page
    assert "3 rows skipped" in page and "opening the table" in page
    warnings = (await browser.get(f"/runs/{run_id}?level=WARNING")).text
    assert "3 rows skipped" in warnings and "opening the table" not in warnings
    load_only = (await browser.get(f"/runs/{run_id}?step=load")).text
    assert "opening the table" in load_only and "3 rows skipped" not in load_only

    stdout = await browser.get(f"/runs/{run_id}/logs?step=load&stream=stdout")
    assert "total = 20" in stdout.text and "loading is done" not in stdout.text
    after_id = re.search(r'data-after-id="(\d+)"', page).group(1)  # type: ignore[union-attr]
    ui.store.store_events([
        StepFailure(run_id=run_id, attempt=1, seq=7, timestamp=t + 4, step_key="load",
                    duration=1.0, error=ErrorInfo(class_name="ValueError", message="bad row",
                                                  stack="Traceback: bad row")),
    ])
    update = (await browser.get(f"/runs/{run_id}/updates?after_id={after_id}")).json()
    assert update["status"] == "STARTED" and not update["done"]
    assert "bad row" in update["events"] and "opening the table" not in update["events"]
    assert "FAILURE" in update["steps"] and update["after_id"] > int(after_id)
    assert update["total"] == 8  # RUN_QUEUED, the six above and the failure
    again = (await browser.get(f"/runs/{run_id}/updates?after_id={update['after_id']}")).json()
    assert again["events"].strip() == ""


async def test_cancel_and_re_execute_from_the_run_page(ui: Ui) -> None:
    run_id = ui.store.launch_run("hello_job", run_config={"ops": {}}, tags={
        "team": "data", "tether/max_retries": "2", "tether/user": "someone else"})
    browser = await ui.signed_in(role="launcher", name="lin")
    page = await browser.get(f"/runs/{run_id}")
    assert "Cancel run" in page.text and "Re-execute" not in page.text
    response = await browser.post(f"/runs/{run_id}/cancel", data={"csrf": csrf_of(page.text)})
    assert response.status_code == 303
    assert ui.store.get_run(run_id).status == RunStatus.CANCELED  # type: ignore[union-attr]
    page = await browser.get(f"/runs/{run_id}")
    assert "CANCELED" in page.text and "Re-execute" in page.text
    again = await browser.post(f"/runs/{run_id}/cancel", data={"csrf": csrf_of(page.text)})
    assert again.status_code == 400 and "has already ended" in again.text

    response = await browser.post(f"/runs/{run_id}/reexecute",
                                  data={"csrf": csrf_of(page.text)})
    new_id = response.headers["location"].removeprefix("/runs/")
    new = ui.store.get_run(new_id)
    assert new is not None and new_id != run_id and new.status == RunStatus.QUEUED
    assert (new.job_name, new.run_config) == ("hello_job", {"ops": {}})
    assert new.tags == {"team": "data", "tether/max_retries": "2",
                        "tether/parent_run_id": run_id, "tether/root_run_id": run_id,
                        "tether/user": "lin"}


async def test_a_canceled_run_reads_as_canceled_on_its_page(ui: Ui) -> None:
    run_id = ui.store.launch_run("hello_job")
    t = ui.store.get_run(run_id).created_at  # type: ignore[union-attr]
    ui.store.store_events([
        *_events(run_id, t)[:5],
        StepCanceled(run_id=run_id, attempt=1, seq=6, timestamp=t + 4, step_key="load",
                     duration=1.0),
        RunCanceled(run_id=run_id, attempt=1, seq=7, timestamp=t + 4,
                    message="Run of hello_job was canceled during step load"),
    ])
    browser = await ui.signed_in()
    page = (await browser.get(f"/runs/{run_id}")).text
    assert ui.store.get_run(run_id).status == RunStatus.CANCELED  # type: ignore[union-attr]
    step = re.search(r'<g class="step [a-z]+" data-step="load"[^>]*>.*?</g>', page)
    assert step is not None and "⊘ CANCELED · 1.0 s" in step.group(0)
    assert 'data-type="STEP_CANCELED"' in page and "Step load canceled after 1.0 s" in page
    assert "Run of hello_job was canceled during step load" in page
    assert "STEP_FAILURE" not in page and "RUN_FAILURE" not in page
    assert "✗" not in page and "Traceback" not in page


async def test_a_failed_run_that_will_be_retried_keeps_updating(ui: Ui) -> None:
    run_id = ui.store.launch_run("hello_job", tags={"tether/max_retries": "1"})
    t = ui.store.get_run(run_id).created_at  # type: ignore[union-attr]
    ui.store.store_events([
        *_events(run_id, t)[:5],
        RunFailure(run_id=run_id, attempt=1, seq=6, timestamp=t + 4, message="load failed")])
    browser = await ui.signed_in()
    page = (await browser.get(f"/runs/{run_id}")).text
    assert ui.store.get_run(run_id).status == RunStatus.FAILURE  # type: ignore[union-attr]
    # its retry is to come: the page keeps following it
    assert 'data-done="false"' in page
    ui.store.retry_failed_runs()
    ui.store.store_events([RunFailure(run_id=run_id, attempt=2, seq=1, timestamp=t + 9,
                                      message="load failed again")])
    page = (await browser.get(f"/runs/{run_id}")).text
    assert 'data-done="true"' in page


async def test_re_execute_from_failure_shows_the_new_runs_steps_and_parent(ui: Ui) -> None:
    run_id = ui.store.launch_run("hello_job")
    t = ui.store.get_run(run_id).created_at  # type: ignore[union-attr]
    ui.store.store_events(_events(run_id, t))
    browser = await ui.signed_in(role="launcher", name="lin")
    page = await browser.get(f"/runs/{run_id}")
    # a run that has not ended offers neither
    assert "Re-execute" not in page.text
    ui.store.store_events([
        StepFailure(run_id=run_id, attempt=1, seq=7, timestamp=t + 4, step_key="load",
                    duration=1.0, error=ErrorInfo(class_name="ValueError", message="bad row")),
        RunFailure(run_id=run_id, attempt=1, seq=8, timestamp=t + 5, message="load failed")])
    page = await browser.get(f"/runs/{run_id}")
    assert "Re-execute (all steps)" in page.text and "Re-execute from failure" in page.text
    assert "Step selection" not in page.text and "Re-execution of" not in page.text

    response = await browser.post(f"/runs/{run_id}/reexecute", data={
        "csrf": csrf_of(page.text), "strategy": "FROM_FAILURE"})
    assert response.status_code == 303
    new_id = response.headers["location"].removeprefix("/runs/")
    new = ui.store.get_run(new_id)
    assert new is not None and new.step_selection == ["load"]
    page = await browser.get(f"/runs/{new_id}")
    assert re.search(r'<dd id="run-step-selection">load</dd>', page.text)
    assert f'<dt>Re-execution of</dt><dd><a href="/runs/{run_id}"' in page.text
    assert "Queued run of hello_job (steps load)" in page.text

    # a run that succeeded can be run again, but there is no failure to start from
    ui.store.store_events([RunStart(run_id=new_id, attempt=1, seq=1, timestamp=t + 6,
                                    job_name="hello_job"),
                           RunSuccess(run_id=new_id, attempt=1, seq=2, timestamp=t + 7)])
    page = await browser.get(f"/runs/{new_id}")
    assert "Re-execute (all steps)" in page.text and "from failure" not in page.text
    refused = await browser.post(f"/runs/{new_id}/reexecute", data={
        "csrf": csrf_of(page.text), "strategy": "FROM_FAILURE"})
    assert refused.status_code == 400 and "no failure to re-execute from" in refused.text


async def test_locations_show_load_errors_and_no_redeploy_the_api_lacks(ui: Ui) -> None:
    fail_load(ui, 'File "defs.py", line 3\nSyntaxError: bad', next_retry_at=1_900_000_000.0)
    browser = await ui.signed_in()
    page = await browser.get("/locations")
    assert "ERROR" in page.text and "✗" in page.text
    assert "SyntaxError: bad" in page.text and "defs.py" in page.text
    # the agent tries again by itself, and says when
    assert "The agent loads it again at" in page.text
    assert "2030-03-17 17:46:40 UTC" in page.text
    # the button is there exactly when the API has a redeployLocation mutation; without one,
    # the action says why
    from tether.control_plane._graphql import GraphQLApi
    from tether.control_plane._state import AppState
    from tether.settings import Settings

    api = GraphQLApi(AppState(Settings(data_dir=str(ui.tmp_path))))
    supported = api.mutation_document("redeployLocation", ["name"]) is not None
    assert ("Redeploy hello" in page.text) == supported
    if not supported:
        response = await browser.post("/locations/hello/redeploy",
                                      data={"csrf": csrf_of(page.text)})
        assert response.status_code == 404 and "cannot redeploy" in response.text


async def test_agents_show_heartbeat_queues_code_servers_and_errors(ui: Ui) -> None:
    server = CodeServerStatus(location="hello", pid=4242, address="127.0.0.1:50123",
                              running=True, restarts=2)
    ui.store.record_heartbeat(AgentHeartbeat(
        agent_id="agent-eu-1", version="0.1.0", queues=["default", "gpu"], timestamp=0.0,
        workers=[WorkerStatus(kind="supervisor", consumer="sup-1", pid=77, started_at=0.0,
                              seen_at=0.0, code_servers=[server],
                              recent_errors=["code server hello exited with code 1"])]))
    browser = await ui.signed_in()
    page = (await browser.get("/agents")).text
    assert "agent-eu-1" in page and "UP" in page and "default, gpu" in page
    assert "127.0.0.1:50123" in page and "code server hello exited with code 1" in page
    assert re.search(r"\d+ ms ago|\d+\.\d s ago", page)


async def test_assets_show_lineage_and_the_latest_materialization(ui: Ui) -> None:
    run_id = ui.store.launch_run("hello_job")
    ui.store.store_events([
        AssetMaterialization(run_id=run_id, attempt=1, seq=1, timestamp=1_700_000_000.0,
                             asset_key="raw", metadata={"rows": IntValue(value=10)}),
        AssetMaterialization(run_id=run_id, attempt=1, seq=2, timestamp=1_700_000_100.0,
                             asset_key="raw", metadata={"rows": IntValue(value=12)}),
    ])
    browser = await ui.signed_in()
    page = (await browser.get("/assets")).text
    assert 'data-node="raw"' in page and 'data-node="clean"' in page and 'class="edge"' in page
    raw = page[page.index('id="asset-raw"'):page.index('id="asset-clean"')]
    assert run_id[:8] in raw and "<dd>12</dd>" in raw and "<dd>10</dd>" not in raw
    clean = page[page.index('id="asset-clean"'):]
    assert "never" in clean[:clean.index("</tr>")]
    # raw has a job that materializes it (hello_job's extract node); clean has none
    assert 'aria-label="Materialize raw (runs hello_job)"' in raw
    assert "Materialize" not in clean[:clean.index("</tr>")]
    response = await browser.post("/jobs/hello/hello_job/launch", data={
        "csrf": csrf_of(page), "config": "{}", "tags": ""})
    launched = ui.store.get_run(response.headers["location"].removeprefix("/runs/"))
    assert launched is not None and launched.job_name == "hello_job"
    viewer = await ui.signed_in(role="viewer", name="vic")
    assert "Materialize raw" not in (await viewer.get("/assets")).text


async def test_an_assets_page_shows_its_latest_metadata_and_its_materializations(
        ui: Ui) -> None:
    first, second = ui.store.launch_run("hello_job"), ui.store.launch_run("hello_job")
    ui.store.store_events([
        AssetMaterialization(run_id=first, attempt=1, seq=1, timestamp=1_700_000_000.0,
                             asset_key="raw", metadata={"rows": IntValue(value=10)}),
        AssetMaterialization(run_id=second, attempt=1, seq=1, timestamp=1_700_000_100.0,
                             asset_key="raw", metadata={
                                 "rows": IntValue(value=12),
                                 "owner": TextValue(text="<script>x</script>"),
                                 "dashboard": UrlValue(url="https://bi.example/raw"),
                                 "trap": UrlValue(url="javascript:alert(1)"),
                                 "schema": JsonValue(data={"id": "int"}),
                                 "preview": TablePreview(columns=["id", "name"],
                                                         rows=[[1, "ada"], [2, "lin"]])}),
    ])
    browser = await ui.signed_in()
    assets = (await browser.get("/assets")).text
    assert 'href="/assets/hello/raw"' in assets
    page = (await browser.get("/assets/hello/raw")).text
    latest = page[page.index('id="latest-metadata"'):page.index('id="history-h"')]
    assert re.search(r'data-label="rows">\s*<th scope="row">rows</th>\s*<td>int</td>\s*'
                     r'<td>12</td>', latest)
    assert "&lt;script&gt;x&lt;/script&gt;" in latest and "<script>x" not in latest
    assert '<a href="https://bi.example/raw" rel="noopener noreferrer">' in latest
    assert "&#34;id&#34;: &#34;int&#34;" in latest
    # a link only for web URLs: a javascript: URL from user code stays text
    assert "javascript:" in latest and 'href="javascript:' not in latest
    assert "<th scope=\"col\">name</th>" in latest and "<td>lin</td>" in latest
    # rows has two values: a line from 10 to 12
    assert re.search(r'<svg [^>]*class="series"[^>]*data-label="rows"><title>rows over the '
                     r'last 2 materializations: from 10 to 12</title>', page)
    assert page.count('class="series"') == 1
    history = page[page.index('id="materializations"'):]
    # newest first, each with its run and metadata
    assert history.index(second[:8]) < history.index(first[:8])
    assert "rows=10" in history and "rows=12" in history
    missing = await browser.get("/assets/hello/nope")
    assert missing.status_code == 404 and "no asset &#39;nope&#39; in code location" in \
        missing.text
    never = (await browser.get("/assets/hello/clean")).text
    assert "Never materialized." in never


def load_warehouse(ui: Ui) -> None:
    """A location whose assets have multi-part keys, groups, owners, kinds and tags."""
    from tether import (
        AssetKey,
        AssetSpec,
        Definitions,
        Metadata,
        asset,
        define_asset_job,
        multi_asset,
    )

    @asset(group_name="ingest", kinds={"python"}, deps=["s3/landing"])
    def source() -> int:
        return 1

    @multi_asset(specs=[AssetSpec("low"), AssetSpec("high")], group_name="ingest")
    def bounds(source: int) -> tuple[int, int]:
        return source, source

    @asset(key=AssetKey(["warehouse", "orders"]), group_name="warehouse",
           owners=["team:data"], tags={"tier": "gold"}, code_version="v2",
           metadata={"sla_hours": 6, "runbook": Metadata.url("https://wiki.example/orders"),
                     "note": "<b>kept</b> 90 days"})
    def orders(source: int) -> int:
        return source

    load_location(ui.store, "warehouse", defines=snapshot_definitions(
        Definitions(assets=[AssetSpec("s3/landing"), source, orders, bounds],
                    jobs=[define_asset_job("everything")]), "warehouse"))


async def test_assets_are_listed_by_group_and_filtered(ui: Ui) -> None:
    load_warehouse(ui)
    browser = await ui.signed_in()
    page = (await browser.get("/assets")).text
    # hello's assets (raw, clean) have no group: they are in "default"
    assert page.index('id="group-default"') < page.index('id="group-ingest"') < page.index(
        'id="group-warehouse"')
    warehouse = page[page.index('id="group-warehouse"'):]
    assert 'id="asset-warehouse/orders"' in warehouse and "team:data" in warehouse
    assert "<dt>tier</dt><dd>gold</dd>" in warehouse and ">v2</dd>" in warehouse
    assert 'data-node="warehouse/orders"' in page
    only = (await browser.get("/assets?group=warehouse")).text
    assert 'id="asset-warehouse/orders"' in only and 'id="asset-source"' not in only
    assert 'id="asset-raw"' not in only and "<option selected>warehouse</option>" in only
    searched = (await browser.get("/assets?q=PYTHON")).text
    assert 'id="asset-source"' in searched and 'id="asset-warehouse/orders"' not in searched
    # produced outside Tether: in the lineage, with no Materialize button
    landing = page[page.index('id="asset-s3/landing"'):]
    landing = landing[:landing.index("</tr>")]
    assert "external" in landing and "outside Tether" in landing and "Materialize" not in landing
    assert 'data-node="s3/landing"' in page
    low = page[page.index('id="asset-low"'):]
    assert "multi-asset bounds" in low[:low.index("</tr>")]
    assert 'aria-label="Materialize low (runs everything)"' in low
    nothing = (await browser.get("/assets?q=nothing-like-this")).text
    assert "No asset matches these filters." in nothing


def _node_state(page: str, key: str) -> str:
    found = re.search(r'<g class="node ([a-z-]+)" data-state="[a-z-]+" data-node="'
                      + re.escape(key) + '">', page)
    assert found, f"no coloured node {key} on the page"
    return found.group(1)


async def test_the_lineage_colours_each_asset_by_its_latest_status(ui: Ui) -> None:
    load_warehouse(ui)
    done, failed, running = (ui.store.launch_run("hello_job") for _ in range(3))
    ui.store.store_events([
        StepStart(run_id=done, attempt=1, seq=1, timestamp=1.0, step_key="source"),
        AssetMaterialization(run_id=done, attempt=1, seq=2, timestamp=2.0, asset_key="source",
                             step_key="source"),
        StepSuccess(run_id=done, attempt=1, seq=3, timestamp=2.0, duration=1.0,
                    step_key="source")])
    ui.store.store_events([
        StepStart(run_id=failed, attempt=1, seq=1, timestamp=3.0, step_key="bounds"),
        StepFailure(run_id=failed, attempt=1, seq=2, timestamp=4.0, duration=1.0,
                    error=ErrorInfo(class_name="ValueError", message="bad"),
                    step_key="bounds")])
    ui.store.store_events([
        StepStart(run_id=running, attempt=1, seq=1, timestamp=5.0,
                  step_key="warehouse__orders")])
    browser = await ui.signed_in()
    page = (await browser.get("/assets")).text
    states = {key: _node_state(page, key) for key in
              ("source", "low", "high", "warehouse/orders", "s3/landing", "clean")}
    # a failed multi-asset step is the failure of each of its assets
    assert states == {"source": "materialized", "low": "failed", "high": "failed",
                      "warehouse/orders": "in-progress", "s3/landing": "external",
                      "clean": "never"}
    # the state is in words too: in the box's tooltip, the table and the legend
    assert "<title>low: last attempt failed</title>" in page
    legend = page[page.index('class="legend"'):]
    legend = legend[:legend.index("</ul>")]
    for words in ("materialized", "last attempt failed", "materializing now",
                  "never materialized", "produced outside Tether"):
        assert words in legend
    orders = page[page.index('id="asset-warehouse/orders"'):]
    assert 'data-state="in-progress"' in orders[:orders.index("</tr>")]
    # one asset's page: its status and its neighbourhood, linked and coloured
    one = (await browser.get("/assets/warehouse/source")).text
    status = one[one.index('id="asset-status"'):]
    assert "materialized" in status[:status.index("</p>")]
    assert _node_state(one, "s3/landing") == "external"
    assert _node_state(one, "low") == "failed" and 'href="/assets/warehouse/low"' in one
    assert 'data-node="clean"' not in one
    # no definition metadata, no block for it
    assert "Definition metadata" not in one


async def test_an_assets_page_shows_its_definition_metadata(ui: Ui) -> None:
    load_warehouse(ui)
    browser = await ui.signed_in()
    page = (await browser.get("/assets/warehouse/warehouse/orders")).text
    assert '<h2 id="definition-metadata-h">Definition metadata</h2>' in page
    block = page[page.index('id="definition-metadata"'):page.index('id="latest-h"')]
    assert re.search(r'data-label="sla_hours">\s*<th scope="row">sla_hours</th>\s*'
                     r'<td>int</td>\s*<td>6</td>', block)
    assert ('<a href="https://wiki.example/orders" rel="noopener noreferrer">'
            in block)
    assert "&lt;b&gt;kept&lt;/b&gt; 90 days" in block and "<b>kept" not in block
    # never materialized: the definition's metadata stands alone
    assert "Never materialized." in page and 'id="latest-metadata"' not in page


async def test_the_assets_page_lists_many_assets_a_page_at_a_time(ui: Ui) -> None:
    from tether import Definitions, asset

    def make(n: int) -> object:
        @asset(name=f"a{n:03}", group_name="bulk")
        def made() -> int:
            return n
        return made

    load_location(ui.store, "bulk", defines=snapshot_definitions(
        Definitions(assets=[make(n) for n in range(450)]), "bulk"))
    browser = await ui.signed_in()
    first = (await browser.get("/assets?group=bulk")).text
    assert "Assets 1 to 200 of 450" in first and 'id="asset-a000"' in first
    assert 'id="asset-a200"' not in first and first.count('class="node never"') == 200
    assert 'href="?group=bulk&amp;page=2"' in first
    last = (await browser.get("/assets?group=bulk&page=3")).text
    assert "Assets 401 to 450 of 450" in last and 'id="asset-a449"' in last
    assert 'id="asset-a399"' not in last and 'rel="next"' not in last
    # a page past the last shows the last
    assert "Assets 401 to 450 of 450" in (await browser.get("/assets?group=bulk&page=9")).text


async def test_materialize_a_selection_of_assets_as_one_run(ui: Ui) -> None:
    load_warehouse(ui)
    browser = await ui.signed_in(role="launcher", name="ada")
    page = (await browser.get("/assets")).text
    csrf = csrf_of(page)
    assert 'value="warehouse/warehouse/orders" form="materialize-selection"' in page
    # the external asset cannot be ticked
    landing = page[page.index('id="asset-s3/landing"'):]
    assert 'type="checkbox"' not in landing[:landing.index("</tr>")]
    response = await browser.post("/assets/materialize", data={
        "csrf": csrf, "asset": ["warehouse/source", "warehouse/warehouse/orders"]})
    assert response.status_code == 303
    run = ui.store.get_run(response.headers["location"].removeprefix("/runs/"))
    assert run is not None and run.job_name == "everything"
    assert run.step_selection == ["source", "warehouse__orders"]
    assert run.tags["tether/user"] == "ada"
    # a group: its assets, with the multi-asset's step they are taken out of
    grouped = await browser.post("/assets/materialize", data={"csrf": csrf, "group": "ingest"})
    run = ui.store.get_run(grouped.headers["location"].removeprefix("/runs/"))
    assert run is not None and run.step_selection == ["source", "bounds", "low", "high"]
    # half of a multi-asset that cannot be split, nothing ticked, two locations: refused,
    # saying why, on the assets page
    half = await browser.post("/assets/materialize", data={"csrf": csrf,
                                                          "asset": "warehouse/low"})
    assert half.status_code == 400 and 'id="materialize-error"' in half.text
    assert "the multi-asset &#39;bounds&#39; materializes &#39;low&#39;, &#39;high&#39; " \
        "together (can_subset=False)" in half.text
    nothing = await browser.post("/assets/materialize", data={"csrf": csrf})
    assert nothing.status_code == 400 and "tick the assets to materialize" in nothing.text
    mixed = await browser.post("/assets/materialize", data={
        "csrf": csrf, "asset": ["warehouse/source", "hello/raw"]})
    assert mixed.status_code == 400 and "assets of hello, warehouse" in mixed.text
    viewer = await ui.signed_in(role="viewer", name="vic")
    seen = (await viewer.get("/assets")).text
    assert 'type="checkbox"' not in seen and "Materialize selected" not in seen
    refused = await viewer.post("/assets/materialize", data={
        "csrf": csrf_of(seen), "asset": "warehouse/source"})
    assert refused.status_code == 403 and "a viewer token cannot launch runs" in refused.text


async def test_materialize_assets_through_graphql_names_bad_keys(ui: Ui) -> None:
    load_warehouse(ui)
    token = ui.store.create_token("user", role="launcher", name="lin")
    document = ("mutation($keys: [String!]!) { materializeAssets(location: \"warehouse\", "
                "assetKeys: $keys) { id jobName stepSelection } }")

    async def materialize(keys: list[str]) -> dict[str, object]:
        async with ui.client() as client:
            response = await client.post("/graphql", json={
                "query": document, "variables": {"keys": keys}},
                headers={"authorization": f"Bearer {token}"})
        return response.json()  # type: ignore[no-any-return]

    done = await materialize(["warehouse/orders"])
    assert done["data"] == {"materializeAssets": {
        "id": done["data"]["materializeAssets"]["id"],  # type: ignore[index]
        "jobName": "everything", "stepSelection": ["warehouse__orders"]}}
    [error] = (await materialize(["warehouse/orders", "nope", "warehouse/nada"]))["errors"]  # type: ignore[misc]
    assert error["extensions"]["code"] == "BAD_INPUT"
    assert error["message"].startswith(
        "code location 'warehouse' has no asset 'nope', 'warehouse/nada'; its assets: ")
    [error] = (await materialize(["s3/landing"]))["errors"]  # type: ignore[misc]
    assert "'s3/landing' is produced outside Tether" in error["message"]


async def test_graphql_gives_asset_keys_as_paths_and_their_catalog_attributes(ui: Ui) -> None:
    load_warehouse(ui)
    token = ui.store.create_token("user", role="viewer", name="vic")
    async with ui.client() as client:
        response = await client.post("/graphql", headers={"authorization": f"Bearer {token}"},
                                     json={"query": "{ assets { key keyPath location groupName "
                                           "owners tags kinds codeVersion deps computedBy "
                                           "external metadata { label kind text value } } }"})
    assets = {a["key"]: a for a in response.json()["data"]["assets"]}
    assert assets["warehouse/orders"] == {
        "key": "warehouse/orders", "keyPath": ["warehouse", "orders"], "location": "warehouse",
        "groupName": "warehouse", "owners": ["team:data"], "tags": {"tier": "gold"},
        "kinds": [], "codeVersion": "v2", "deps": ["source"], "computedBy": None,
        "external": False, "metadata": [
            {"label": "sla_hours", "kind": "int", "text": "6", "value": 6},
            {"label": "runbook", "kind": "url", "text": "https://wiki.example/orders",
             "value": "https://wiki.example/orders"},
            {"label": "note", "kind": "text", "text": "<b>kept</b> 90 days",
             "value": "<b>kept</b> 90 days"}]}
    assert assets["source"]["metadata"] == []
    assert assets["s3/landing"]["external"] and assets["high"]["computedBy"] == "bounds"
    assert assets["source"]["kinds"] == ["python"] and assets["source"]["keyPath"] == ["source"]
    # a snapshot from before multi-part keys: one part, the default group
    assert assets["clean"]["keyPath"] == ["clean"] and assets["clean"]["groupName"] == "default"


async def test_tokens_are_created_shown_once_listed_and_revoked(ui: Ui) -> None:
    browser = await ui.signed_in()
    page = await browser.get("/settings/tokens")
    response = await browser.post("/settings/tokens", data={
        "csrf": csrf_of(page.text), "name": "ci-deploys", "kind": "user", "role": "launcher"})
    token = re.search(r'id="new-token"[^>]*value="(ttu_[^"]+)"', response.text)
    assert token and "shown this once" in response.text
    [info] = [t for t in ui.store.list_tokens() if t.name == "ci-deploys"]
    assert (info.kind, info.role, info.revoked_at) == ("user", "launcher", None)
    listed = (await browser.get("/settings/tokens")).text
    assert "ci-deploys" in listed and token.group(1) not in listed
    agent = await browser.post("/settings/tokens", data={
        "csrf": csrf_of(page.text), "name": "eu agent", "kind": "agent", "role": "admin"})
    assert re.search(r'value="tta_', agent.text)
    response = await browser.post(f"/settings/tokens/{info.id}/revoke",
                                  data={"csrf": csrf_of(page.text)})
    assert response.status_code == 303
    assert ui.store.authenticate(token.group(1)) is None
    assert "REVOKED" in (await browser.get("/settings/tokens")).text
    # the control plane itself refuses it at once
    signin = ui.client()
    form = await signin.get("/signin")
    refused = await signin.post("/signin", data={
        "token": token.group(1), "csrf": csrf_of(form.text), "next": "/runs"})
    assert refused.status_code == 401



def test_an_action_is_offered_only_when_the_api_has_its_mutation(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from graphql import parse, validate

    from tether.control_plane._graphql import GraphQLApi, build_schema
    from tether.control_plane._state import AppState
    from tether.settings import Settings

    state = AppState(Settings(data_dir=str(tmp_path)))
    api = GraphQLApi(state)
    document = api.mutation_document("terminateRun", ["id"])
    assert document == "mutation($id: ID!) { terminateRun(id: $id) { __typename } }"
    assert validate(build_schema(), parse(document)) == []
    # launchRun needs jobName too; a mutation the API lacks is never offered
    assert api.mutation_document("launchRun", ["location"]) is None
    assert api.mutation_document("noSuchMutation", ["name"]) is None
    # the API can redeploy a location: the page gets a redeploy call that it accepts
    redeploy = api.mutation_document("redeployLocation", ["name"])
    assert redeploy is not None
    assert validate(build_schema(), parse(redeploy)) == []
    # an API extended by a newer version offers its new actions the same way
    extra = "\nextend type Mutation { pauseLocation(name: String!): CodeLocation! }\n"
    newer = GraphQLApi(state, schema=build_schema(extra))
    pause = newer.mutation_document("pauseLocation", ["name"])
    assert pause is not None and api.mutation_document("pauseLocation", ["name"]) is None
    assert validate(build_schema(extra), parse(pause)) == []
