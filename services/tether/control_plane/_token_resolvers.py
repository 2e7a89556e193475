"""GraphQL resolvers of tokens (list, create with an optional expiry, revoke) and of the
audit log. Admin tokens only; the audit log has no mutation at all.

User tokens are global (one works in every deployment it has a role in), so only an admin in
prod manages them; a branch deployment's admin lists, creates and revokes the agent tokens of
its deployment only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from anyio import to_thread
from ariadne import MutationType, ObjectType, QueryType

from ._audit import audited, parse_expires_in
from ._resolvers import GraphQLContext, Info
from .errors import BadInput, Forbidden
from .storage import AuditEntry, Role, TokenKind, TokenRecord

query = QueryType()
mutation = MutationType()
token_type = ObjectType("Token")

# the most entries one page of the audit log holds
AUDIT_PAGE_LIMIT = 500


@dataclass(frozen=True, slots=True)
class CreatedToken:
    token: str
    info: TokenRecord


def _require_admin(context: GraphQLContext, what: str) -> None:
    if context.token.role != "admin":
        raise Forbidden(f"a {context.token.role} token cannot {what}; use an admin token")


async def _manages_user_tokens(context: GraphQLContext) -> bool:
    return await to_thread.run_sync(context.store.manages_user_tokens, context.token)


@query.field("tokens")
async def _tokens(_: None, info: Info) -> list[TokenRecord]:
    context = info.context
    _require_admin(context, "list tokens")
    user_tokens = await _manages_user_tokens(context)
    return await to_thread.run_sync(lambda: context.store.list_tokens(user_tokens=user_tokens))


@query.field("auditLog")
async def _audit_log(_: None, info: Info, limit: int = 50, before: int | None = None,
                     action: str | None = None, actor: str | None = None
                     ) -> list[AuditEntry]:
    context = info.context
    _require_admin(context, "read the audit log")
    if not 0 < limit <= AUDIT_PAGE_LIMIT:
        raise BadInput(f"limit must be between 1 and {AUDIT_PAGE_LIMIT}, got {limit}")
    return await to_thread.run_sync(lambda: context.store.audit_log(
        limit, before=before, action=action or None, actor=actor or None))


@token_type.field("roles")
async def _token_roles(token: TokenRecord, info: Info) -> list[dict[str, str]]:
    if token.kind != "user":
        return []
    roles = await to_thread.run_sync(info.context.store.token_roles, token.id)
    return [{"deployment": deployment, "role": role} for deployment, role in roles.items()]


@mutation.field("createToken")
async def _create_token(_: None, info: Info, kind: str, name: str, role: str = "viewer",
                        expires_in: str | None = None,
                        roles: list[dict[str, str]] | None = None) -> CreatedToken:
    context = info.context
    async with audited(context.store, context.actor, "token.create", name):
        _require_admin(context, "create tokens")
        if kind == "user" and not await _manages_user_tokens(context):
            raise Forbidden("only an admin in prod creates user tokens (a user token works "
                            "in every deployment it has a role in); an admin here creates "
                            "agent tokens of this deployment")
        if not name.strip():
            raise BadInput("give the token a name, so that lists say whose it is")
        lifetime = None if not expires_in else parse_expires_in(expires_in)

        def create() -> CreatedToken:
            token, record = context.store.issue_token(
                cast(TokenKind, kind), cast(Role, role), name.strip(), expires_in=lifetime,
                roles={entry["deployment"]: cast(Role, entry["role"])
                       for entry in roles or []},
                actor=context.actor)
            return CreatedToken(token=token, info=record)

        return await to_thread.run_sync(create)


@mutation.field("revokeToken")
async def _revoke_token(_: None, info: Info, id: int) -> TokenRecord:
    context = info.context
    async with audited(context.store, context.actor, "token.revoke", str(id)):
        _require_admin(context, "revoke tokens")
        user_tokens = await _manages_user_tokens(context)

        def revoke() -> TokenRecord:
            if not context.store.revoke_token(id, actor=context.actor,
                                              user_tokens=user_tokens):
                raise BadInput(f"no unrevoked token has id {id}; the token list shows them")
            record = context.store.get_token(id)
            assert record is not None
            return record

        return await to_thread.run_sync(revoke)


BINDABLES = [query, mutation, token_type]
