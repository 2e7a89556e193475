"""One agent serving two deployments, a token for each: each deployment's work is claimed
with its token and reported with it.

Each deployment is a real control plane of its own (``TETHER_AGENT_DEPLOYMENT`` names it in
its heartbeat answers), both behind one address (:mod:`tests.token_router`): a run reported
with the other deployment's token would reach the other control plane, which does not know
the token's runs, and never end in its own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..deployment import Deployment, deployed, one_location, run_to_end, wait_loaded
from ..processes import processes_with_env
from ..token_router import TokenRouter

AGENT_WORKERS = ("poller", "launcher", "supervisor", "uploader")

# two deployments, different code: each defines its own job, and says whose code it is when
# it runs
CODE = """
from tether import Definitions, job, op

@op
def whose() -> str:
    print("this is the {deployment} code")
    return "{deployment}"

@job
def {deployment}_job() -> None:
    whose()

defs = Definitions(jobs=[{deployment}_job])
"""


def control_plane(root: Path, deployment: str, broker_url: str
                  ) -> Iterator[Deployment]:
    folder = root / deployment
    folder.mkdir()
    workspace = one_location(folder, f"{deployment}-shop", CODE.format(deployment=deployment))
    return deployed(data_dir=folder, redis_url=broker_url, workspace=workspace,
                    processes=("control-plane",),
                    env={"TETHER_AGENT_DEPLOYMENT": deployment})  # type: ignore[return-value]


def stdout_of(run: dict[str, Any]) -> str:
    return "".join(chunk["data"] for chunk in run["logs"] if chunk["stream"] == "stdout")


@pytest.mark.timeout(240)
def test_one_agent_serves_two_deployments_each_with_its_token(
        tmp_path: Path, broker_url: str) -> None:
    with control_plane(tmp_path, "prod", broker_url) as prod, \
            control_plane(tmp_path, "staging", broker_url) as staging:
        router = TokenRouter({prod.agent_token: prod.url, staging.agent_token: staging.url})
        agent_dir = tmp_path / "agent"
        agent_dir.mkdir()
        # the agent's own tokens: prod's as the one token it always had, staging's added
        agent = Deployment(data_dir=agent_dir, redis_url=broker_url, processes=(),
                           env={"TETHER_URL": router.url,
                                "TETHER_AGENT_TOKEN_FILES": str(staging.agent_token_file)})
        agent.agent_token_file = prod.agent_token_file
        try:
            for worker in AGENT_WORKERS:
                agent.start(worker)
            check_two_deployments(prod, staging, agent, broker_url)
        finally:
            codes = agent.stop()
            router.close()
        assert all(code == 0 for code in codes.values()), f"{codes}\n{agent.output()}"
        assert processes_with_env(str(agent_dir)) == [], "processes left behind"


def check_two_deployments(prod: Deployment, staging: Deployment, agent: Deployment,
                          broker_url: str) -> None:
    # each control plane sees the one agent, and its location loaded
    for deployment, name in ((prod, "prod"), (staging, "staging")):
        [location] = agent.wait_for(lambda d=deployment: wait_loaded(d), timeout=60,
                                    what=f"the location of {name} loaded")
        assert [job["name"] for job in location["jobs"]] == [f"{name}_job"], location
        assert deployment.graphql("{ agents { id } }")["agents"]
    # each run is launched from its deployment's code and reported to its control plane
    for deployment, name in ((prod, "prod"), (staging, "staging")):
        run = run_to_end(deployment, f"{name}_job")
        assert run["status"] == "SUCCESS", run
        assert f"this is the {name} code" in stdout_of(run), run["logs"]
