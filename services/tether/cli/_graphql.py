from __future__ import annotations

import ssl
from typing import Any

import httpx

from .._tls import client_verify, handshake_failure
from ..errors import ControlPlaneError, Unauthorized
from ..settings import load_settings


class GraphQLClient:
    """The CLI's synchronous client of the control plane's GraphQL API. ``verify`` checks the
    control plane's certificate (see :func:`tether._tls.client_verify`)."""

    def __init__(self, *, url: str, token: str, timeout: float = 30.0,
                 verify: ssl.SSLContext | bool = True, deployment: str = "prod") -> None:
        self.base_url = url.rstrip("/")
        self._url = self.base_url + "/graphql"
        # every request works in this deployment (the API's X-Tether-Deployment header)
        self._http = httpx.Client(headers={"authorization": f"Bearer {token}",
                                           "x-tether-deployment": deployment},
                                  timeout=timeout, verify=verify)

    def close(self) -> None:
        self._http.close()

    def execute(self, document: str, **variables: Any) -> dict[str, Any]:
        """The ``data`` of the answer; the first GraphQL error becomes a ControlPlaneError."""
        try:
            response = self._http.post(self._url, json={"query": document,
                                                         "variables": variables})
        except httpx.HTTPError as exc:
            tls = handshake_failure(self.base_url, exc)
            if tls is not None:
                raise ControlPlaneError(tls) from exc
            raise ControlPlaneError(
                f"cannot reach the control plane at {self._url}: {exc} (is `tether dev` "
                "running, and is TETHER_URL right?)"
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code == 401:
            raise Unauthorized(body.get("error", response.text), status_code=401)
        errors = body.get("errors") or []
        if errors:
            raise ControlPlaneError(errors[0].get("message", str(errors[0])),
                                    status_code=response.status_code)
        if response.status_code != 200 or "data" not in body:
            raise ControlPlaneError(f"control plane answered {response.status_code}: "
                                    f"{response.text[:500]}", status_code=response.status_code)
        data: dict[str, Any] = body["data"]
        return data


def graphql_client() -> GraphQLClient:
    """A client of the control plane the CLI is pointed at, with the user's token (see
    :func:`tether.cli._target.control_plane_target`)."""
    from ._target import control_plane_target

    settings = load_settings()
    target = control_plane_target(settings)
    return GraphQLClient(url=target.url, token=target.token, verify=client_verify(settings),
                         deployment=settings.deployment)


def execute(document: str, **variables: Any) -> dict[str, Any]:
    """One GraphQL request with a client of its own (:func:`graphql_client`), closed after:
    for commands that make a single request, or a few seconds apart."""
    client = graphql_client()
    try:
        return client.execute(document, **variables)
    finally:
        client.close()
