"""Stored outputs with real processes: a job of only downstream assets loads the upstream
value an earlier run stored; a custom IO manager stores where it likes; an asset never
materialized, an unpicklable value and a failing IO manager fail their steps with messages
that say what to do. With cold run workers (process launcher) and with RQ workers, which
share the storage folder (``TETHER_STORAGE_DIR``) as workers on other hosts would."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .deployment import (
    AGENT,
    Deployment,
    deployed,
    one_location,
    run_to_end,
    wait_loaded,
    worker_events,
)

DEFS = '''
import json
import threading
from pathlib import Path

from tether import (Definitions, InputContext, IOManager, Metadata, OpContext, Output,
                    OutputContext, asset, define_asset_job)


class JsonIO(IOManager):
    def __init__(self, folder):
        self.folder = Path(folder)

    def handle_output(self, context: OutputContext, obj):
        (self.folder / f"{{context.asset_key}}.json").write_text(json.dumps(obj))

    def load_input(self, context: InputContext):
        return json.loads((self.folder / f"{{context.asset_key}}.json").read_text())


class BrokenIO(IOManager):
    def handle_output(self, context: OutputContext, obj):
        raise ConnectionError(f"warehouse unreachable while storing {{context.asset_key}}")


@asset
def raw():
    return [1, 2, 3]


@asset
def report(context: OpContext, raw):
    print(f"report of {{len(raw)}} rows, total {{sum(raw)}}")
    context.add_output_metadata({{"total": sum(raw)}})
    return Output(f"{{len(raw)}} rows", metadata={{
        "rows": len(raw), "share": 0.5, "dashboard": Metadata.url("https://bi.example/r"),
        "preview": Metadata.table([{{"n": n}} for n in raw])}})


@asset(io_manager_key="json")
def counts():
    return {{"a": 1, "b": 2}}


@asset
def doubled(counts):
    return {{key: value * 2 for key, value in counts.items()}}


@asset
def lock():
    return threading.Lock()


@asset(io_manager_key="broken")
def fragile():
    return 1


defs = Definitions(
    assets=[raw, report, counts, doubled, lock, fragile],
    jobs=[define_asset_job("everything", selection=["raw", "report"]),
          define_asset_job("report_only", selection=["report"]),
          define_asset_job("json_assets", selection=["counts", "doubled"]),
          define_asset_job("bad_outputs", selection=["lock", "fragile"])],
    resources={{"json": JsonIO({folder!r}), "broken": BrokenIO()}},
)
'''

ASSETS = """{ assets { key
  latestMaterialization { runId metadata { label kind text value } }
  materializations(limit: 5) { runId } } }"""


def signed_in(deployment: Deployment) -> httpx.Client:
    """A browser signed in to the web UI with the deployment's user token."""
    browser = httpx.Client(base_url=deployment.url, verify=deployment.verify)
    form = browser.get("/signin").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf, form
    response = browser.post("/signin", data={"token": deployment.user_token,
                                              "csrf": csrf.group(1), "next": "/runs"})
    assert response.status_code == 303, response.text
    return browser


@pytest.fixture(params=["process", "rq"])
def deployment(request: pytest.FixtureRequest, tmp_path: Path,
               broker_url: str) -> Iterator[Deployment]:
    (tmp_path / "json").mkdir()
    workspace = one_location(tmp_path, "assets", DEFS.format(folder=str(tmp_path / "json")),
                             working_directory="assets")
    rq_worker = ("rq-worker",) if request.param == "rq" else ()
    with deployed(redis_url=broker_url, workspace=workspace, data_dir=tmp_path,
                  processes=AGENT + rq_worker,
                  env={"TETHER_RUN_LAUNCHER": request.param,
                       "TETHER_STORAGE_DIR": str(tmp_path / "shared")}) as deployment:
        yield deployment


def ran(run: dict[str, Any]) -> dict[str, str]:
    return {e["stepKey"]: e["type"] for e in worker_events(run)
            if e["type"] in ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED")}


def failure(run: dict[str, Any], step: str) -> dict[str, str]:
    error: dict[str, str] = next(e["error"] for e in run["events"]
                                 if e["type"] == "STEP_FAILURE" and e["stepKey"] == step)
    return error


def stdout(run: dict[str, Any]) -> str:
    return "".join(c["data"] for c in run["logs"] if c["stream"] == "stdout")


def test_downstream_only_jobs_load_stored_values_and_bad_outputs_say_why(
        deployment: Deployment) -> None:
    wait_loaded(deployment)
    storage = deployment.data_dir / "shared" / "assets" / "assets"

    # nothing materialized raw yet: report cannot run, and says what to do
    never = run_to_end(deployment, "report_only")
    assert never["status"] == "FAILURE", deployment.output()
    assert ran(never) == {"report": "STEP_FAILURE"}
    assert failure(never, "report")["message"].startswith(
        "step report takes asset 'raw', which has never been materialized here")
    assert "materialize 'raw' first" in failure(never, "report")["message"]

    everything = run_to_end(deployment, "everything")
    assert everything["status"] == "SUCCESS", deployment.output()
    assert (storage / "raw.pickle").is_file() and (storage / "report.pickle").is_file()

    # raw is not part of this job: its stored value is what report takes
    downstream = run_to_end(deployment, "report_only")
    assert downstream["status"] == "SUCCESS", deployment.output()
    assert ran(downstream) == {"report": "STEP_SUCCESS"}
    assert "report of 3 rows, total 6" in stdout(downstream)

    custom = run_to_end(deployment, "json_assets")
    assert custom["status"] == "SUCCESS", deployment.output()
    assert json.loads((deployment.data_dir / "json" / "counts.json").read_text()) == \
        {"a": 1, "b": 2}
    assert (storage / "doubled.pickle").is_file() and not (storage / "counts.pickle").exists()

    bad = run_to_end(deployment, "bad_outputs")
    assert bad["status"] == "FAILURE"
    assert ran(bad) == {"lock": "STEP_FAILURE", "fragile": "STEP_FAILURE"}
    assert failure(bad, "lock")["message"].startswith(
        "the output 'result' of step lock cannot be pickled")
    broken = failure(bad, "fragile")
    assert broken["message"] == "warehouse unreachable while storing fragile"
    # the user's traceback: their IO manager's line, no executor frame
    assert "defs.py" in broken["stack"] and "raise ConnectionError" in broken["stack"]
    assert "_executor.py" not in broken["stack"]
    assert not (storage / "lock.pickle").exists()
    assert [p.name for p in storage.iterdir() if p.name.endswith(".tmp")] == []
    # the failures cost nothing stored before
    again = run_to_end(deployment, "report_only")
    assert again["status"] == "SUCCESS" and "total 6" in stdout(again)

    # the metadata report returned, through the event log, to GraphQL and the asset page
    assets = {a["key"]: a for a in deployment.graphql(ASSETS)["assets"]}
    latest = assets["report"]["latestMaterialization"]
    assert latest["runId"] == again["id"]
    assert latest["metadata"] == [
        {"label": "total", "kind": "int", "text": "6", "value": 6},
        {"label": "rows", "kind": "int", "text": "3", "value": 3},
        {"label": "share", "kind": "float", "text": "0.5", "value": 0.5},
        {"label": "dashboard", "kind": "url", "text": "https://bi.example/r",
         "value": "https://bi.example/r"},
        {"label": "preview", "kind": "table", "text": "table: n (3 rows shown)",
         "value": {"columns": ["n"], "rows": [[1], [2], [3]]}},
    ]
    assert [m["runId"] for m in assets["report"]["materializations"]] == \
        [again["id"], downstream["id"], everything["id"]]
    assert assets["raw"]["latestMaterialization"]["metadata"] == []
    assert assets["lock"]["latestMaterialization"] is None
    browser = signed_in(deployment)
    try:
        page = browser.get("/assets/assets/report").text
    finally:
        browser.close()
    table = page[page.index('id="latest-metadata"'):page.index('id="history-h"')]
    assert re.search(r'<th scope="row">rows</th>\s*<td>int</td>\s*<td>3</td>', table)
    assert '<a href="https://bi.example/r"' in table
    assert page.count(' href="/runs/') >= 4  # the latest, and three materializations
