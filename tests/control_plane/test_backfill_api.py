"""Backfills through the real GraphQL endpoint, on SQLite and PostgreSQL: a launch answers
with its size and range, pages its partitions, lists newest first; launches, cancels and
refusals are in the audit log with who asked; viewers are refused."""

from __future__ import annotations

import pytest

from .conftest import load_location
from .test_audit import AUDIT, anyio_backend, cp, data, error_code
from .test_backfills import _snapshot
from .test_http import ControlPlane

__all__ = ["anyio_backend", "cp"]

pytestmark = pytest.mark.anyio

FIELDS = """id status jobName assetSelection partitionCount partitionRange progress
  launchedBy tags counts { status count }"""
LAUNCH = f"""mutation($job: String, $from: String, $to: String, $partitions: [String!]) {{
  launchBackfill(location: "hello", jobName: $job, from: $from, to: $to,
                 partitions: $partitions, tags: {{team: "data"}}) {{ {FIELDS} }} }}"""
PAGE = """query($id: ID!, $offset: Int, $limit: Int) {
  backfill(id: $id) { partitions(offset: $offset, limit: $limit) } }"""
LIST = "query($limit: Int) { backfills(limit: $limit) { id } }"
CANCEL = "mutation($id: ID!) { cancelBackfill(id: $id) { status counts { status count } } }"


async def test_launch_page_list_cancel_and_the_audit_log(cp: ControlPlane) -> None:
    load_location(cp.store, defines=_snapshot())
    first = (await data(cp, LAUNCH, job="daily", **{"from": "2022-03-01",
                                                   "to": "2022-05-31"}))["launchBackfill"]
    assert {key: first[key] for key in ("status", "jobName", "assetSelection",
                                        "partitionCount", "partitionRange", "progress",
                                        "launchedBy", "counts")} == {
        "status": "REQUESTED", "jobName": "daily", "assetSelection": None,
        "partitionCount": 92, "partitionRange": "2022-03-01 to 2022-05-31", "progress": 0.0,
        "launchedBy": "ada (graphql)", "counts": [{"status": "NOT_CREATED", "count": 92}]}
    assert first["tags"] == {"team": "data", "tether/user": "ada"}
    page = (await data(cp, PAGE, id=first["id"], offset=90, limit=5))["backfill"]
    assert page["partitions"] == ["2022-05-30", "2022-05-31"]
    second = (await data(cp, LAUNCH, job="regions", partitions=["us"]))["launchBackfill"]
    assert second["partitionRange"] == "1 listed"
    assert [b["id"] for b in (await data(cp, LIST))["backfills"]] == [second["id"],
                                                                      first["id"]]
    assert (await data(cp, LIST, limit=1))["backfills"] == [{"id": second["id"]}]

    viewer = cp.store.create_token("user", role="viewer", name="vic")
    assert await error_code(cp, CANCEL, viewer, id=first["id"]) == "FORBIDDEN"
    assert await error_code(cp, LAUNCH, viewer, job="daily") == "FORBIDDEN"
    canceled = (await data(cp, CANCEL, id=first["id"]))["cancelBackfill"]
    assert canceled == {"status": "CANCELED",
                        "counts": [{"status": "NOT_CREATED", "count": 92}]}
    assert await error_code(cp, CANCEL, cp.user_token, id="nope") == "BAD_INPUT"

    log = [(e["actor"]["name"], e["action"], e["target"], e["outcome"])
           for e in (await data(cp, AUDIT))["auditLog"] if e["action"].startswith("backfill")]
    assert log == [("ada", "backfill.cancel", "nope", "refused"),
                   ("ada", "backfill.cancel", first["id"], "ok"),
                   ("vic", "backfill.launch", "daily", "refused"),
                   ("vic", "backfill.cancel", first["id"], "refused"),
                   ("ada", "backfill.launch", second["id"], "ok"),
                   ("ada", "backfill.launch", first["id"], "ok")]
