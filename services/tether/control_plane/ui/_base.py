"""What every page handler shares: the signed-in session, the CSRF check on every form that
changes something, store calls in a worker thread, mutations through the GraphQL API (so the
UI obeys the API's rules and shows its error messages), and errors rendered as pages."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar
from urllib.parse import quote

from anyio import to_thread
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tether.errors import TetherError

from .._audit import client_of
from .._graphql import GraphQLApi
from .._state import AppState
from ..errors import Forbidden, StorageError
from ..storage import PROD, Actor, Store, TokenInfo
from ._render import Renderer
from .errors import BadRequest, CsrfRejected, SignInRequired, UiError

logger = logging.getLogger("tether.control_plane.ui")

SESSION_COOKIE = "tether_session"
# the deployment the browser looks at (the header's switcher sets it; none: prod)
DEPLOYMENT_COOKIE = "tether_deployment"
CSRF_FIELD = "csrf"

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in user of a request, in the deployment the browser looks at: ``store``
    sees that deployment only, and ``token`` has its role there."""

    session_id: str
    token: TokenInfo
    csrf: str
    store: Store
    # every deployment's name, for the header's switcher
    deployments: tuple[str, ...] = ()
    # the browser's address, for the audit log
    client: str = ""

    @property
    def deployment(self) -> str:
        return self.store.deployment

    @property
    def can_launch(self) -> bool:
        return self.token.role != "viewer"

    @property
    def is_admin(self) -> bool:
        return self.token.role == "admin"

    @property
    def actor(self) -> Actor:
        return Actor.of_token(self.token, via="ui", client=self.client)


class ActionFailed(TetherError):
    """A mutation the API refused; the message is the API's own."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


Handler = Callable[[Request, Viewer], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


class Pages:
    """Base of the page groups: each handler is wrapped by :meth:`page` or :meth:`action`."""

    def __init__(self, state: AppState, graphql: GraphQLApi, renderer: Renderer) -> None:
        self._state = state
        self._graphql = graphql
        self._renderer = renderer

    @property
    def unscoped_store(self) -> Store:
        """The store of no deployment in particular: for signing in and sessions only. A page
        reads and writes through ``viewer.store``, the deployment the browser looks at."""
        return self._state.store

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A blocking store call, in a worker thread."""
        return await to_thread.run_sync(lambda: fn(*args, **kwargs))

    async def mutate(self, viewer: Viewer, document: str, **variables: Any) -> dict[str, Any]:
        """Run a GraphQL mutation as the viewer's token; :class:`ActionFailed` carries the
        API's error message."""
        result = await self._graphql.execute(viewer.token,
                                             {"query": document, "variables": variables},
                                             deployment=viewer.deployment,
                                             via="ui", client=viewer.client)
        errors = result.get("errors")
        if errors:
            first = errors[0]
            raise ActionFailed(first.get("message", "the request failed"),
                               first.get("extensions", {}).get("code", "ERROR"))
        data: dict[str, Any] = result["data"]
        return data

    def render(self, request: Request, viewer: Viewer | None, template: str,
               status_code: int = 200, **context: Any) -> Response:
        return self._renderer.page(template, status_code=status_code, request=request,
                                   viewer=viewer, csrf_field=CSRF_FIELD, **context)

    def page(self, handler: Handler) -> Endpoint:
        """A GET page for a signed-in user."""
        return self._wrap(handler, check_csrf=False)

    def action(self, handler: Handler) -> Endpoint:
        """A POST that changes something: signed in, and the form carries the CSRF token."""
        return self._wrap(handler, check_csrf=True)

    def _wrap(self, handler: Handler, *, check_csrf: bool) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            viewer: Viewer | None = None
            try:
                viewer = await self.viewer_of(request)
                if check_csrf:
                    form = await request.form()
                    sent = form.get(CSRF_FIELD) or request.headers.get("x-csrf-token", "")
                    if not isinstance(sent, str) or not hmac.compare_digest(sent, viewer.csrf):
                        raise CsrfRejected()
                return await handler(request, viewer)
            except SignInRequired:
                if request.method == "GET":
                    target = request.url.path + (f"?{request.url.query}"
                                                 if request.url.query else "")
                    return RedirectResponse(f"/signin?next={quote(target)}", status_code=303)
                return self.error_page(request, None, SignInRequired(
                    "your session has ended; sign in again, then repeat the action"))
            except Exception as exc:
                return self.error_page(request, viewer, exc)
        return endpoint

    async def viewer_of(self, request: Request) -> Viewer:
        session_id = request.cookies.get(SESSION_COOKIE)
        if not session_id:
            raise SignInRequired("sign in with a user token to see this page")
        shared = self.unscoped_store
        session = await self.call(shared.get_session, session_id)
        if session is None:
            raise SignInRequired("your session has ended or its token was revoked")
        wanted = request.cookies.get(DEPLOYMENT_COOKIE) or PROD
        roles = await self.call(shared.token_roles, session.token.id)
        deployments = tuple(d.name for d in await self.call(shared.list_deployments)
                            if not roles or d.name in roles)
        # a deployment deleted since it was chosen: back to prod, or the token's first
        fallback = PROD if PROD in deployments or not deployments else deployments[0]
        store, token = await self.call(shared.access, session.token,
                                       wanted if wanted in deployments else fallback)
        return Viewer(session_id=session_id, token=token, csrf=session.csrf, store=store,
                      deployments=deployments, client=client_of(request))

    def error_page(self, request: Request, viewer: Viewer | None, exc: Exception) -> Response:
        """A readable page for any error: the message of errors users can act on, a generic
        one (and the log) for the rest."""
        if isinstance(exc, UiError):
            title, status, message = exc.title, exc.status_code, str(exc)
        elif isinstance(exc, ActionFailed):
            title, status, message = "The control plane refused this", 400, str(exc)
            if exc.code == "FORBIDDEN":
                status = 403
        elif isinstance(exc, StorageError):
            logger.error("storage error on %s: %s", request.url.path, exc)
            title, status = "The metadata database is unavailable", 503
            message = f"{exc}; retry in a moment"
        elif isinstance(exc, Forbidden):
            title, status, message = "Not allowed", 403, str(exc)
        elif isinstance(exc, TetherError):
            title, status, message = "The control plane refused this", 400, str(exc)
        else:
            logger.exception("web UI error on %s %s", request.method, request.url.path)
            title, status = "Something went wrong", 500
            message = ("the control plane failed to answer this page; its log has the details "
                       "— try again, and report it if it keeps happening")
        return self.render(request, viewer, "error.html", status_code=status, title=title,
                           message=message)


def form_text(form: Any, name: str, default: str = "") -> str:
    value = form.get(name, default)
    if not isinstance(value, str):
        raise BadRequest(f"form field {name!r} must be text")
    return value
