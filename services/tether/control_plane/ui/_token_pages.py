"""Settings → Tokens: create a user or agent token (shown once, optionally expiring), list
with last use, revoke. Admins only; creating and revoking go through the GraphQL API, so its
rules and the audit log apply."""

from __future__ import annotations

from typing import get_args

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ..errors import BadInput, Forbidden
from ..storage import Role, TokenKind
from ._base import Pages, Viewer, form_text
from .errors import BadRequest

# the choices the form offers: the store's own token kinds and roles
_KINDS: tuple[TokenKind, ...] = get_args(TokenKind)[::-1]
_ROLES: tuple[Role, ...] = get_args(Role)

CREATE = """mutation($kind: String!, $name: String!, $role: String, $expiresIn: String) {
  createToken(kind: $kind, name: $name, role: $role, expiresIn: $expiresIn) { token }
}"""
REVOKE = "mutation($id: Int!) { revokeToken(id: $id) { id } }"


def _require_admin(viewer: Viewer) -> None:
    if not viewer.is_admin:
        raise Forbidden(f"managing tokens needs an admin token; you are signed in as a "
                        f"{viewer.token.role}")


class TokenPages(Pages):
    async def tokens(self, request: Request, viewer: Viewer) -> Response:
        _require_admin(viewer)
        return await self._page(request, viewer, created=None, created_name="")

    async def _page(self, request: Request, viewer: Viewer, *, created: str | None,
                    created_name: str, status_code: int = 200) -> Response:
        # a branch deployment's admin sees its agent tokens only (as the tokens query)
        user_tokens = await self.call(viewer.store.manages_user_tokens, viewer.token)
        tokens = await self.call(viewer.store.list_tokens, user_tokens=user_tokens)
        return self.render(request, viewer, "tokens.html", status_code=status_code,
                           tokens=tokens, kinds=_KINDS, roles=_ROLES, created=created,
                           created_name=created_name, now=await self.call(viewer.store.now))

    # creating and revoking leave the role check to the API, which puts a refusal on the
    # audit log
    async def create(self, request: Request, viewer: Viewer) -> Response:
        form = await request.form()
        kind, role = form_text(form, "kind", "user"), form_text(form, "role", "viewer")
        name = form_text(form, "name").strip()
        expires_in = form_text(form, "expires_in").strip() or None
        if kind not in _KINDS or role not in _ROLES:
            raise BadInput(f"choose a kind ({', '.join(_KINDS)}) and a role "
                           f"({', '.join(_ROLES)}); got {kind!r} and {role!r}")
        if not name:
            raise BadRequest("give the token a name, so that the list says whose it is")
        data = await self.mutate(viewer, CREATE, kind=kind, name=name, role=role,
                                 expiresIn=expires_in)
        # the one time the token is shown: the response to the form, never stored or linked
        return await self._page(request, viewer, created=data["createToken"]["token"],
                                created_name=name)

    async def revoke(self, request: Request, viewer: Viewer) -> Response:
        await self.mutate(viewer, REVOKE, id=request.path_params["token_id"])
        return RedirectResponse("/settings/tokens", status_code=303)
