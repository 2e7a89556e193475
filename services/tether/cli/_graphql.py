from __future__ import annotations

from typing import Any

import httpx

from ..errors import ControlPlaneError, Unauthorized
from ..settings import load_settings
from ._credentials import user_token


class GraphQLClient:
    """The CLI's synchronous client of the control plane's GraphQL API."""

    def __init__(self, *, url: str, token: str, timeout: float = 30.0) -> None:
        self._url = url.rstrip("/") + "/graphql"
        self._http = httpx.Client(headers={"authorization": f"Bearer {token}"}, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def execute(self, document: str, **variables: Any) -> dict[str, Any]:
        """The ``data`` of the answer; the first GraphQL error becomes a ControlPlaneError."""
        try:
            response = self._http.post(self._url, json={"query": document,
                                                         "variables": variables})
        except httpx.HTTPError as exc:
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
    """A client with the user's token, from the settings or the local deployment."""
    settings = load_settings()
    return GraphQLClient(url=settings.url, token=user_token(settings))
