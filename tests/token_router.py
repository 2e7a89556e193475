"""One address in front of several real control planes, each holding one deployment: every
request goes to the control plane whose agent token it carries.

A control plane holds one deployment today, and names it in its answers to agent heartbeats
(``TETHER_AGENT_DEPLOYMENT``). Until one control plane holds several, this is how a test puts
an agent with a token per deployment in front of two deployments behind one URL, as an agent
meets them in production. It forwards bytes and answers nothing itself: what the agent sees
is what the control planes answer, and a request sent with the wrong token reaches the wrong
control plane, which refuses it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

# the answer headers the agent reads
_KEPT_HEADERS = ("content-type", "retry-after")


class TokenRouter:
    def __init__(self, routes: Mapping[str, str]) -> None:
        """``routes``: agent token → the URL of the control plane that knows it."""
        self.routes = dict(routes)
        self.forwarded: dict[str, int] = {url: 0 for url in self.routes.values()}
        # long-polled claims wait up to the control plane's hold, plus the agent's margin
        self._http = httpx.Client(timeout=60.0)
        router = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                router.forward(self, "POST")

            def do_GET(self) -> None:
                router.forward(self, "GET")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def forward(self, request: BaseHTTPRequestHandler, method: str) -> None:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        target = self.routes.get(token)
        if target is None:
            request.send_response(401)
            request.end_headers()
            return
        self.forwarded[target] += 1
        body = request.rfile.read(int(request.headers.get("content-length", "0") or 0))
        headers = {name: value for name, value in request.headers.items()
                   if name.lower() in ("authorization", "content-type", "traceparent")}
        try:
            answer = self._http.request(method, f"{target}{request.path}", content=body,
                                        headers=headers)
        except httpx.HTTPError:
            request.send_response(502)
            request.end_headers()
            return
        request.send_response(answer.status_code)
        for name in _KEPT_HEADERS:
            if name in answer.headers:
                request.send_header(name, answer.headers[name])
        request.send_header("content-length", str(len(answer.content)))
        request.end_headers()
        request.wfile.write(answer.content)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.close()
