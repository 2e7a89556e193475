"""The control plane: metadata store, GraphQL API and agent API in one ASGI app.

    create_app(settings) -> Starlette     the app (tests mount it in httpx.ASGITransport)
    serve(settings)                       run it with uvicorn on settings.host:settings.port

The store is :mod:`tether.control_plane.storage`; the errors are
:mod:`tether.control_plane.errors`; the API contract is ``tether.graphql`` next to this file.
"""

from ._app import create_app, serve
from ._graphql import SDL_PATH, build_schema

__all__ = ["SDL_PATH", "build_schema", "create_app", "serve"]
