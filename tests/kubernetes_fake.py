"""A fake Kubernetes API server, for the tests of the kubernetes agent kind.

No API server can run on the test machines (it needs etcd, a kubelet, a container runtime),
so the agent's tests talk to this one instead: a real HTTP server on loopback that the real
``kubernetes`` client calls, serving the few REST endpoints the agent uses (create, read,
list by label selector, replace and delete of Jobs, Pods, Deployments and Services, and a
pod's log) from an in-memory store, with the API's status codes (404, 409) and ``Status``
bodies. It runs no controllers: a test plays the Job controller and the kubelet by putting
pods in the store (:meth:`FakeKubernetes.add_pod`), in whatever state it wants to see the
agent handle (ImagePullBackOff, OOMKilled, evicted). Every request is recorded, so a test
can check what the agent asked for (e.g. a delete's grace period and propagation).
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

_PATH = re.compile(r"^/(?:api/v1|apis/(?P<group>[^/]+)/(?P<version>[^/]+))/namespaces/"
                   r"(?P<namespace>[^/]+)/(?P<resource>[^/]+)(?:/(?P<name>[^/]+))?"
                   r"(?:/(?P<sub>log))?$")
_KINDS = {"jobs": "Job", "pods": "Pod", "deployments": "Deployment", "services": "Service"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any


class FakeKubernetes:
    """The store and the server; ``url`` is what the client's ``host`` is set to."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.logs: dict[tuple[str, str], str] = {}
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self._version = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_PUT(self) -> None:
                fake._handle(self, "PUT")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- what tests look at and change -----------------------------------------------------

    def items(self, resource: str, namespace: str = "tether") -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(obj) for (kind, ns, _), obj in sorted(self.objects.items())
                    if kind == resource and ns == namespace]

    def get(self, resource: str, name: str, namespace: str = "tether") -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.get((resource, namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def calls(self, method: str, resource: str) -> list[Request]:
        return [r for r in self.requests
                if r.method == method and f"/{resource}" in r.path]

    def add_pod(self, job: dict[str, Any], status: dict[str, Any], *, log: str = "") -> str:
        """Play the Job controller: a pod of ``job`` (its template's labels, owned by it)
        whose status is ``status``; its name."""
        metadata = job["metadata"]
        name = f"{metadata['name']}-{uuid.uuid4().hex[:5]}"
        namespace = metadata.get("namespace", "tether")
        labels = {**job["spec"]["template"]["metadata"]["labels"],
                  "job-name": metadata["name"]}
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": namespace, "labels": labels,
                            "uid": str(uuid.uuid4()),
                            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                                 "name": metadata["name"],
                                                 "uid": metadata["uid"]}]},
               "spec": job["spec"]["template"]["spec"], "status": status}
        with self.lock:
            self.objects[("pods", namespace, name)] = pod
            self.logs[(namespace, name)] = log
        return name

    def put(self, resource: str, obj: dict[str, Any], namespace: str = "tether") -> None:
        with self.lock:
            self.objects[(resource, namespace, obj["metadata"]["name"])] = obj

    # -- the REST endpoints ----------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(handler.path)
        query = parse_qs(url.query)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        self.requests.append(Request(method, url.path, query, body))
        match = _PATH.match(url.path)
        if match is None or match["resource"] not in _KINDS:
            return self._status(handler, 404, "NotFound", f"no such path {url.path}")
        resource, namespace, name = match["resource"], match["namespace"], match["name"]
        with self.lock:
            if match["sub"] == "log":
                text = self.logs.get((namespace, name or ""))
                if text is None:
                    return self._status(handler, 404, "NotFound", f'pods "{name}" not found')
                lines = text.splitlines()[-int(query.get("tailLines", ["1000"])[0]):]
                return self._send(handler, 200, "\n".join(lines), content_type="text/plain")
            key = (resource, namespace, name or "")
            if method == "GET" and name is None:
                wanted = _selector(query.get("labelSelector", [""])[0])
                items = [obj for (kind, ns, _), obj in sorted(self.objects.items())
                         if kind == resource and ns == namespace
                         and wanted.items() <= (obj["metadata"].get("labels") or {}).items()]
                return self._send(handler, 200, {"kind": f"{_KINDS[resource]}List",
                                                 "apiVersion": "v1", "metadata": {},
                                                 "items": items})
            if method == "POST":
                name = body["metadata"]["name"]
                key = (resource, namespace, name)
                if key in self.objects:
                    return self._status(handler, 409, "AlreadyExists",
                                        f'{resource} "{name}" already exists')
                body["metadata"].update(namespace=namespace, uid=str(uuid.uuid4()),
                                        resourceVersion=self._next_version(),
                                        creationTimestamp=_now())
                self.objects[key] = body
                return self._send(handler, 201, body)
            if key not in self.objects:
                return self._status(handler, 404, "NotFound", f'{resource} "{name}" not found')
            if method == "GET":
                return self._send(handler, 200, self.objects[key])
            if method == "PUT":
                old = self.objects[key]["metadata"]
                body["metadata"].update(namespace=namespace, uid=old["uid"],
                                        resourceVersion=self._next_version(),
                                        creationTimestamp=old["creationTimestamp"])
                self.objects[key] = body
                return self._send(handler, 200, body)
            if method == "DELETE":
                deleted = self.objects.pop(key)
                if resource == "jobs":
                    # the garbage collector: the Job's pods go with it
                    for pod_key, pod in list(self.objects.items()):
                        if pod_key[0] == "pods" and any(
                                ref.get("uid") == deleted["metadata"]["uid"]
                                for ref in pod["metadata"].get("ownerReferences") or []):
                            del self.objects[pod_key]
                return self._send(handler, 200, {"kind": "Status", "apiVersion": "v1",
                                                 "status": "Success"})
        return self._status(handler, 405, "MethodNotAllowed", method)

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def _status(self, handler: BaseHTTPRequestHandler, code: int, reason: str,
                message: str) -> None:
        self._send(handler, code, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                   "message": message, "reason": reason, "code": code})

    def _send(self, handler: BaseHTTPRequestHandler, code: int, body: Any, *,
              content_type: str = "application/json") -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        handler.send_response(code)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def _selector(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split(",") if part)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fake_kubernetes() -> Iterator[FakeKubernetes]:
    fake = FakeKubernetes()
    try:
        yield fake
    finally:
        fake.close()
