"""The Procfile as an operator runs it: `honcho start` against PostgreSQL and Redis named by
TETHER_DATABASE_URL and TETHER_REDIS_URL, with two launchers and two uploaders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tether.control_plane.storage import Store

from .conftest import EXAMPLE_WORKSPACE, REPO, free_port
from .deployment import ENDED
from .processes import processes_with_env
from .waiting import eventually


@pytest.mark.timeout(180)
def test_honcho_start_runs_a_job_on_postgres_and_redis(
    tmp_path: Path, postgres_url: str, system_redis_url: str
) -> None:
    store = Store.from_url(postgres_url)
    store.migrate()
    agent_token = store.create_token("agent")
    user_token = store.create_token("user")
    store.close()
    port = free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TETHER_")},
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "TETHER_DATABASE_URL": postgres_url,
        "TETHER_REDIS_URL": system_redis_url,
        "TETHER_AGENT_TOKEN": agent_token,
        "TETHER_URL": f"http://127.0.0.1:{port}",
        "TETHER_PORT": str(port),
        "TETHER_WORKSPACE": str(EXAMPLE_WORKSPACE),
        "TETHER_DATA_DIR": str(tmp_path),
    }
    log = tmp_path / "honcho.log"
    honcho = subprocess.Popen(
        [f"{bin_dir}/honcho", "-f", str(REPO / "Procfile"), "-d", str(REPO), "start",
         "-c", "launcher=2,uploader=2"],
        env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    http = httpx.Client(base_url=env["TETHER_URL"],
                        headers={"authorization": f"Bearer {user_token}"})

    def graphql(query: str) -> dict:
        body = http.post("/graphql", json={"query": query}).json()
        assert not body.get("errors"), body
        return body["data"]  # type: ignore[no-any-return]

    try:
        def honcho_running() -> None:
            assert honcho.poll() is None, log.read_text()

        def launched() -> str | None:
            try:
                loc = graphql("{ codeLocations { status } }")["codeLocations"]
                if not loc or loc[0]["status"] != "LOADED":
                    return None
                return graphql('mutation { launchRun(jobName: "hello_job") { id } }'
                               )["launchRun"]["id"]
            except httpx.HTTPError:
                return None

        def ended() -> str | None:
            try:
                status = graphql(f'{{ run(id: "{run_id}") {{ status }} }}')["run"]["status"]
            except httpx.HTTPError:
                return None
            return status if status in ENDED else None

        run_id = eventually(launched, timeout=90, every=0.2, what="hello_job launched",
                            meanwhile=honcho_running, detail=log.read_text)
        status = eventually(ended, timeout=90, every=0.2, what="hello_job to end",
                            meanwhile=honcho_running, detail=log.read_text)
        assert status == "SUCCESS", log.read_text()
        output = log.read_text()
        assert "launcher.2" in output and "uploader.2" in output
    finally:
        http.close()
        os.killpg(honcho.pid, signal.SIGINT)
        honcho.wait(timeout=30)
    assert processes_with_env(str(tmp_path)) == [], log.read_text()
