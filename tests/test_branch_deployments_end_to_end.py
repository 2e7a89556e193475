"""A branch deployment from its creation to its deletion, as CI drives one for a pull request,
with a real control plane and one agent holding prod's token and the branch's: created with
``tether deployment create --from prod``, its location is deployed and LOADED by the agent, a
run launched in it succeeds, its schedule is stopped there until started; deleted, its token
is refused, so the agent stops its code servers (processes and broker records) while prod's
keeps serving, and no row of it is left in any table (but the append-only audit log's, and its
agent token, revoked)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tether.agent._client import token_fingerprint
from tether.control_plane.storage._schema import metadata, tokens

from .agent.test_deployments import agent_of, branch, records
from .agent.test_locations import alive, answers, tether
from .deployment import Deployment, deployed, one_location, run_to_end, wait_loaded
from .processes import processes_with_env

CODE = """
from tether import Definitions, job, op, schedule

@op
def hello() -> None:
    print("hello from shop")

@job
def shop_job() -> None:
    hello()

@schedule(cron="0 6 * * *", job=shop_job, default_running=True)
def nightly(context):
    return None

defs = Definitions(jobs=[shop_job], schedules=[nightly])
"""
# what deleting a deployment keeps of it, on purpose: the audit log is append-only (no code
# path deletes a row), and its agent tokens are revoked, not forgotten
KEPT = ("audit_log", "tokens")
SCHEDULES = "{ automations(kind: \"schedule\") { name running nextTickTime } }"


def rows_of(database_url: str, deployment: str) -> dict[str, int]:
    """How many rows of ``deployment`` each table holds (by its deployment column, or the
    deployments table's name)."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            counts = {}
            for table in metadata.sorted_tables:
                column = (table.c.name if table.name == "deployments"
                          else table.c.get("deployment"))
                if column is not None:
                    counts[table.name] = conn.execute(
                        sa.select(sa.func.count()).select_from(table)
                        .where(column == deployment)).scalar_one()
            return counts
    finally:
        engine.dispose()


def revoked(database_url: str, deployment: str) -> bool:
    """Whether every token of ``deployment`` is revoked."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return all(row.revoked_at is not None for row in conn.execute(
                sa.select(tokens.c.revoked_at).where(tokens.c.deployment == deployment)))
    finally:
        engine.dispose()


@pytest.mark.timeout(300)
def test_a_branch_deployment_is_created_served_and_deleted(
        tmp_path: Path, broker_url: str) -> None:
    prod_dir = tmp_path / "prod"
    prod_dir.mkdir()
    workspace = one_location(prod_dir, "shop", CODE)
    with deployed(data_dir=tmp_path, redis_url=broker_url, workspace=workspace,
                  processes=("control-plane",)) as prod:
        feature, token_file = branch(prod, "feature-x", "--branch", "feature-x",
                                     "--from", "prod")
        agent = agent_of(prod, tmp_path, broker_url, [token_file])
        try:
            check_branch_deployment(prod, feature, agent, broker_url, token_file)
        finally:
            codes = agent.stop()
        assert all(code == 0 for code in codes.values()), f"{codes}\n{agent.output()}"
        assert processes_with_env(str(agent.data_dir)) == [], "processes left behind"


def check_branch_deployment(prod: Deployment, feature: Deployment, agent: Deployment,
                            broker_url: str, token_file: Path) -> None:
    # the copied location is deployed by the agent, with the branch's token
    for deployment in (prod, feature):
        [location] = agent.wait_for(lambda d=deployment: wait_loaded(d), timeout=60,
                                    what="shop loaded")
        assert [job["name"] for job in location["jobs"]] == ["shop_job"], location
    servers = records(broker_url)
    assert set(servers) == {"shop", "feature-x/shop"}, servers
    assert servers["shop"].pid != servers["feature-x/shop"].pid

    run = run_to_end(feature, "shop_job")
    assert run["status"] == "SUCCESS", run
    assert run["id"] not in {r["id"] for r in prod.graphql("{ runs { id } }")["runs"]}

    # prod's schedule ticks as its code says; the branch's copy waits to be started
    [in_prod] = prod.graphql(SCHEDULES)["automations"]
    [in_branch] = feature.graphql(SCHEDULES)["automations"]
    assert in_prod["running"] and in_prod["nextTickTime"] is not None, in_prod
    assert not in_branch["running"] and in_branch["nextTickTime"] is None, in_branch
    started = tether(prod, "--deployment", "feature-x", "schedule", "start", "nightly")
    assert started.returncode == 0, started.stdout + started.stderr
    [in_branch] = feature.graphql(SCHEDULES)["automations"]
    assert in_branch["running"] and in_branch["nextTickTime"] is not None, in_branch

    database_url = prod.env["TETHER_DATABASE_URL"]
    before = rows_of(database_url, "feature-x")
    assert before["deployments"] == 1 and before["runs"] == 1, before

    deleted = tether(prod, "deployment", "delete", "feature-x")
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    # the branch's token is refused from now on: its code server stops, prod's serves on
    agent.wait_for(lambda: not alive(servers["feature-x/shop"].pid)
                   and set(records(broker_url)) == {"shop"}, timeout=60,
                   what="the branch's code server to stop and be forgotten")
    fingerprint = token_fingerprint(token_file.read_text().strip())[:6]
    [stopped] = [line for line in agent.logs["poller"].read_text().splitlines()
                 if "ERROR" in line and "of deployment feature-x" in line]
    assert f"agent token {fingerprint}… of deployment feature-x" in stopped, stopped
    assert "feature-x/shop" in stopped, stopped
    assert alive(servers["shop"].pid) and answers(servers["shop"])
    run = run_to_end(prod, "shop_job")
    assert run["status"] == "SUCCESS", run
    assert records(broker_url)["shop"].pid == servers["shop"].pid

    # no row of it is left, but for the append-only audit log (which records the delete
    # itself) and its agent token, kept revoked
    after = rows_of(database_url, "feature-x")
    assert set(after) == set(before), after
    assert {table: count for table, count in after.items()
            if count and table not in KEPT} == {}, after
    assert after["tokens"] == 1 and revoked(database_url, "feature-x")
    assert before["audit_log"] < after["audit_log"]
