"""The control plane as its own process: it serves, and a SIGTERM stops it promptly and
cleanly even while an agent's claim is held open."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import msgspec

from tether.control_plane.storage import Store
from tether.wire import ClaimRequest, ClaimResponse

from ..conftest import free_port
from ..waiting import wait_serving

SERVE = "from tether.control_plane import serve\nfrom tether.settings import load_settings\n" \
        "serve(load_settings())"


def test_sigterm_answers_held_claims_and_exits_zero(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"  # does not exist yet: the control plane creates it
    port = free_port()
    env = {**os.environ, "TETHER_DATA_DIR": str(data_dir), "TETHER_PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-c", SERVE], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"

        def running() -> None:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""

        wait_serving(url, meanwhile=running, timeout=20)
        store = Store.from_url(f"sqlite:///{data_dir / 'tether.db'}")
        token = store.create_token("agent")
        store.close()

        answers: list[tuple[int, ClaimResponse]] = []

        def claim() -> None:
            response = httpx.post(
                f"{url}/agent/v1/claim",
                content=msgspec.msgpack.encode(ClaimRequest(agent_id="a", wait_seconds=25)),
                headers={"authorization": f"Bearer {token}"},
                timeout=40,
            )
            answers.append((response.status_code,
                            msgspec.msgpack.decode(response.content, type=ClaimResponse)))

        poller = threading.Thread(target=claim)
        poller.start()
        # the claim must be held (a long poll) when SIGTERM comes, and nothing outside the
        # control plane shows that it is: give the request this time to arrive
        time.sleep(0.5)
        stopped_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
        poller.join(timeout=10)

        assert code == 0
        assert time.monotonic() - stopped_at < 5, "the held claim delayed the shutdown"
        assert answers == [(200, ClaimResponse(items=[]))]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
