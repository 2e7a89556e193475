"""Real receivers of alerts, started by the tests: an HTTP server that records what it is
POSTed (webhooks, Slack, Teams, PagerDuty alike), and an SMTP server (aiosmtpd) that speaks
STARTTLS with a self-signed certificate and takes mail only after AUTH."""

from __future__ import annotations

import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class HttpReceiver:
    """Records every POST and answers ``status`` (200 by default). Stopped, its port refuses
    connections; started again, it takes them on the same port."""

    def __init__(self, port: int, status: int = 200) -> None:
        self.port, self.status = port, status
        self.received: list[Received] = []
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HttpReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.received)} of {count} POSTs arrived in "
                                     f"{timeout} s")
            time.sleep(0.05)
        return list(self.received)


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key (the client trusts the
    certificate itself as its CA)."""
    cert, key = directory / "smtp.pem", directory / "smtp.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


class SmtpReceiver:
    """An SMTP server on ``port`` that requires STARTTLS before AUTH, and AUTH (``user``,
    ``password``) before mail; the messages it took are in ``messages``."""

    def __init__(self, port: int, directory: Path, user: str = "alerts",
                 password: str = "s3cret") -> None:
        self.port = port
        self.cert, key = self_signed(directory)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, key)
        self.messages: list[Message] = []
        self.logins: list[str] = []
        receiver = self

        class Handler:
            async def handle_DATA(self, server: SMTP, session: Session,
                                  envelope: Envelope) -> str:
                assert isinstance(envelope.content, bytes)
                receiver.messages.append(message_from_bytes(envelope.content))
                return "250 Message accepted"

        def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                         data: Any) -> AuthResult:
            ok = (isinstance(data, LoginPassword) and data.login.decode() == user
                  and data.password.decode() == password)
            if ok:
                receiver.logins.append(user)
            return AuthResult(success=ok)

        self._controller = Controller(
            Handler(), hostname="127.0.0.1", port=port, tls_context=context,
            require_starttls=True, auth_required=True, authenticator=authenticate,
            auth_require_tls=True)

    def start(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
