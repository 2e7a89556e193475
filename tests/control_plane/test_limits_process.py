"""The limits on a real control-plane process over TCP: oversized bodies and a 10,000-alias
query are answered within 100 ms, and the process's memory stays flat."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
import pytest

from tether.control_plane.storage import Store

from ..conftest import free_port
from ..waiting import wait_serving
from .test_limits import ALIASES
from .test_serve import SERVE

# requests after the first three: the RSS settles (79.4 MiB after 23, 79.5 after 203)
REPEATS = 20
# one answer may take this long; the best of five is measured, as the machine is shared
ANSWER_SECONDS = 0.1
TRIES = 5
# wall-clock bounds: beside other tests they would measure their load, not the server
pytestmark = pytest.mark.alone


@dataclass
class Served:
    url: str
    pid: int
    user_token: str

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    env = {**os.environ, "TETHER_DATA_DIR": str(tmp_path), "TETHER_PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-c", SERVE], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"

        def running() -> None:
            assert process.poll() is None, "the control plane exited"

        wait_serving(url, meanwhile=running)
        store = Store.from_url(f"sqlite:///{tmp_path / 'tether.db'}")
        token = store.create_token("user", role="viewer", name="viewer")
        store.close()
        yield Served(url=url, pid=process.pid, user_token=token)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _best_of(send: object) -> tuple[httpx.Response, float]:
    assert callable(send)
    best: tuple[httpx.Response, float] | None = None
    for _ in range(TRIES):
        started = time.perf_counter()
        response = send()
        elapsed = time.perf_counter() - started
        if best is None or elapsed < best[1]:
            best = (response, elapsed)
    assert best is not None
    return best


def _answer(url: str, head: bytes, body: Iterator[bytes]) -> tuple[int, float]:
    """Send a request over a plain socket, its body from another thread, and return the
    status of the answer and how long after the request's start it came (however much of
    the body the server still had to read then)."""
    host, _, port = url.removeprefix("http://").partition(":")
    with socket.create_connection((host, int(port))) as connection:
        started = time.perf_counter()
        connection.sendall(head)

        def send_body() -> None:
            with contextlib.suppress(OSError):  # the server closes once it has answered
                for chunk in body:
                    connection.sendall(chunk)

        sender = threading.Thread(target=send_body, daemon=True)
        sender.start()
        answer = connection.recv(65536)
        elapsed = time.perf_counter() - started
    sender.join(timeout=10)
    return int(answer.split(b" ", 2)[1]), elapsed


def test_oversized_bodies_are_answered_413_at_once(served: Served) -> None:
    for megabytes in (20, 50):
        size = megabytes << 20

        def chunks(size: int = size) -> Iterator[bytes]:
            for _ in range(size // 65536):
                yield b" " * 65536

        declared = (f"POST /graphql HTTP/1.1\r\nHost: cp\r\nContent-Length: {size}\r\n"
                    f"Authorization: Bearer {served.user_token}\r\n\r\n").encode()
        chunked = (f"POST /graphql HTTP/1.1\r\nHost: cp\r\nTransfer-Encoding: chunked\r\n"
                   f"Authorization: Bearer {served.user_token}\r\n\r\n").encode()
        def framed() -> Iterator[bytes]:
            return (b"10000\r\n" + chunk + b"\r\n" for chunk in chunks())

        for kind, head, body in (("declared", declared, chunks), ("chunked", chunked, framed)):
            status, elapsed = min((_answer(served.url, head, body()) for _ in range(TRIES)),
                                  key=lambda answer: answer[1])
            print(f"{megabytes} MB, {kind}: {status} in {elapsed * 1000:.1f} ms")
            assert status == 413
            assert elapsed < ANSWER_SECONDS


def test_ten_thousand_aliases_are_refused_at_once_and_memory_stays_flat(served: Served
                                                                        ) -> None:
    auth = {"authorization": f"Bearer {served.user_token}"}
    with httpx.Client(base_url=served.url, timeout=30, headers=auth) as client:
        # warm: the first GraphQL request builds what every later one uses
        assert client.post("/graphql", json={"query": "{ runs { id } }"}).status_code == 200
        body = msgspec.json.encode({"query": ALIASES})
        before = served.rss_kib()
        response, elapsed = _best_of(lambda: client.post("/graphql", content=body))
        after = served.rss_kib()
        for _ in range(REPEATS):
            client.post("/graphql", content=body)
        after_more = served.rss_kib()
    print(f"10,000 aliases ({len(ALIASES) / 1e6:.2f} MB): {response.status_code} in "
          f"{elapsed * 1000:.1f} ms; RSS {before} KiB before, {after} KiB after {TRIES}, "
          f"{after_more} KiB after {REPEATS + TRIES}")
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert elapsed < ANSWER_SECONDS
    # the unbounded query grew the process to 23 GiB; bounded, it may not grow by 20 MiB
    assert after_more - before < 20 * 1024
