"""Sign-in with a user token, and sign-out. The session id goes into an HttpOnly, SameSite=Lax
cookie; the sign-in form itself is protected by a double-submit CSRF cookie (there is no
session yet to bind its token to)."""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from .._audit import client_of
from .._graphql import GraphQLApi
from .._limits import signin_limiter
from .._state import AppState
from ..errors import TokenExpired
from ..storage import Actor
from ._base import CSRF_FIELD, DEPLOYMENT_COOKIE, SESSION_COOKIE, Pages, Viewer, form_text
from ._render import Renderer
from .errors import CsrfRejected, SignInRequired

# how long a browser session lasts; revoking its token, or its expiry, ends it at once
SESSION_SECONDS = 12 * 3600
_SIGNIN_COOKIE = "tether_signin"


def safe_next(target: str) -> str:
    """Where to go after signing in: a path on this site only (never another host)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/runs"
    return target


class SignInPages(Pages):
    def __init__(self, state: AppState, graphql: GraphQLApi, renderer: Renderer) -> None:
        super().__init__(state, graphql, renderer)
        # every attempt spends one of its client address's budget, before the token is even
        # looked at: guessing tokens, or making the control plane hash them, is slow
        self._attempts = signin_limiter(state.settings)

    async def form(self, request: Request) -> Response:
        target = safe_next(request.query_params.get("next", "/runs"))
        try:
            await self.viewer_of(request)
            return RedirectResponse(target, status_code=303)
        except SignInRequired:
            pass
        return self._form(request, target, error=None)

    def _form(self, request: Request, target: str, error: str | None,
              status_code: int = 200) -> Response:
        nonce = secrets.token_urlsafe(24)
        # under `tether dev`, the user token is in a file the user may not know of
        response = self.render(request, None, "signin.html", status_code=status_code,
                               next=target, error=error, csrf=nonce,
                               dev_credentials_file=self._state.settings.dev_credentials_file)
        response.set_cookie(_SIGNIN_COOKIE, nonce, max_age=600, httponly=True,
                            samesite="strict", secure=request.url.scheme == "https",
                            path="/signin")
        return response

    async def submit(self, request: Request) -> Response:
        wait = self._attempts.take(request.client.host if request.client else "")
        if wait:
            seconds = max(1, round(wait + 0.5))
            response = self._form(
                request, safe_next(request.query_params.get("next", "/runs")),
                f"Too many sign-in attempts from your address; try again in {seconds} s.", 429)
            response.headers["Retry-After"] = str(seconds)
            return response
        try:
            form = await request.form()
            target = safe_next(form_text(form, "next", "/runs"))
            sent, expected = form_text(form, CSRF_FIELD), request.cookies.get(_SIGNIN_COOKIE, "")
            if not expected or not hmac.compare_digest(sent, expected):
                raise CsrfRejected()
            token = form_text(form, "token").strip()
            if not token:
                return self._form(request, target, "Paste a user token to sign in.", 400)
            client = client_of(request)
            try:
                info = await self.call(self.unscoped_store.authenticate, token)
            except TokenExpired as exc:
                await self.call(self.unscoped_store.record_refusal,
                                Actor.of_token(exc.token, via="ui", client=client),
                                "session.sign_in", str(exc.token.id), str(exc))
                return self._form(request, target, f"{exc}.", 401)
            if info is None or info.kind != "user":
                why = ("That is an agent token; sign in with a user token."
                       if info is not None else "That token is unknown or has been revoked.")
                return self._form(
                    request, target,
                    f"{why} An admin can create one under Settings → Tokens, or run "
                    "`tether control-plane create-token --kind user`.", 401)
            await self.call(self.unscoped_store.note_use, info, via="ui", client=client)
            session_id, _csrf = await self.call(
                self.unscoped_store.create_session, info.id, SESSION_SECONDS,
                actor=Actor.of_token(info, via="ui", client=client))
        except Exception as exc:
            return self.error_page(request, None, exc)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(SESSION_COOKIE, session_id, max_age=SESSION_SECONDS, httponly=True,
                            samesite="lax", secure=request.url.scheme == "https", path="/")
        response.delete_cookie(_SIGNIN_COOKIE, path="/signin")
        return response

    async def signout(self, request: Request, viewer: Viewer) -> Response:
        await self.call(self.unscoped_store.end_session, viewer.session_id, actor=viewer.actor)
        response = RedirectResponse("/signin", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def switch_deployment(self, request: Request, viewer: Viewer) -> Response:
        """The header's switcher: look at another deployment from now on (a cookie), back on
        the page the switch was made from."""
        form = await request.form()
        name = form_text(form, "deployment")
        # refused here (unknown name, no access) rather than silently on the next page
        await self.call(self.unscoped_store.access, viewer.token, name)
        back = form_text(form, "next", "/runs")
        # only a path of this site: never an address elsewhere
        target = back if back.startswith("/") and not back.startswith("//") else "/runs"
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(DEPLOYMENT_COOKIE, name, max_age=SESSION_SECONDS, httponly=True,
                            samesite="lax", secure=request.url.scheme == "https", path="/")
        return response
