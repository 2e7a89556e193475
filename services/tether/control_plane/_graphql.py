"""POST /graphql: the schema-first API (Ariadne) behind a user token.

Errors a user can fix come back as GraphQL errors whose ``extensions.code`` names the
problem; anything unexpected is logged here and answered with a generic message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ariadne import graphql, make_executable_schema, unwrap_graphql_error
from graphql import (
    GraphQLError,
    GraphQLSchema,
    get_named_type,
    is_leaf_type,
    is_required_argument,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tether.errors import JobNotFoundError, TetherError

from ._audit import client_of
from ._auth import require_token
from ._automation_resolvers import BINDABLES as AUTOMATION_BINDABLES
from ._location_resolvers import BINDABLES as LOCATION_BINDABLES
from ._resolvers import BINDABLES, GraphQLContext
from ._state import AppState
from ._token_resolvers import BINDABLES as TOKEN_BINDABLES
from .errors import (
    AmbiguousJobError,
    BadInput,
    Forbidden,
    LocationNotFound,
    LocationNotLoaded,
    RunNotFound,
    StorageError,
)
from .storage import Actor, TokenInfo

SDL_PATH = Path(__file__).with_name("tether.graphql")

logger = logging.getLogger("tether.control_plane.graphql")

_CODES: dict[type[Exception], str] = {
    JobNotFoundError: "JOB_NOT_FOUND",
    AmbiguousJobError: "AMBIGUOUS_JOB",
    LocationNotFound: "LOCATION_NOT_FOUND",
    LocationNotLoaded: "LOCATION_NOT_LOADED",
    RunNotFound: "RUN_NOT_FOUND",
    BadInput: "BAD_INPUT",
    Forbidden: "FORBIDDEN",
    StorageError: "STORAGE_UNAVAILABLE",
}


def build_schema(extra_sdl: str = "") -> GraphQLSchema:
    """The API's schema; ``extra_sdl`` extends it (tests use it for API versions to come)."""
    schema: GraphQLSchema = make_executable_schema(
        SDL_PATH.read_text() + extra_sdl, *BINDABLES, *LOCATION_BINDABLES,
        *AUTOMATION_BINDABLES, *TOKEN_BINDABLES, convert_names_case=True,
    )
    return schema


def _code_of(error: Exception | None) -> str:
    for cls in type(error).__mro__:
        if cls in _CODES:
            return _CODES[cls]
    return "INTERNAL_SERVER_ERROR"


def format_error(error: GraphQLError, debug: bool = False) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    original = unwrap_graphql_error(error)
    if original is None or isinstance(original, GraphQLError):
        # a syntax or validation error in the request itself; graphql-core's text is clear
        code = "GRAPHQL_VALIDATION_FAILED"
    else:
        code = _code_of(original)
        if code == "INTERNAL_SERVER_ERROR":
            formatted["message"] = "internal error; the control-plane log has the details"
    formatted["extensions"] = {**formatted.get("extensions", {}), "code": code}
    return formatted


class _ErrorLog(logging.LoggerAdapter[logging.Logger]):
    """Ariadne logs every error at ERROR level; a user's mistake (unknown job, bad query) is
    not the operator's problem, so only unexpected errors keep that level."""

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        original = unwrap_graphql_error(msg) if isinstance(msg, GraphQLError) else None
        if original is None or isinstance(original, GraphQLError | TetherError):
            self.logger.info("GraphQL request error: %s", msg)
        else:
            self.logger.error(msg, *args, **kwargs)


class GraphQLApi:
    def __init__(self, state: AppState, *, schema: GraphQLSchema | None = None) -> None:
        self._state = state
        self._schema = build_schema() if schema is None else schema
        self._log = _ErrorLog(logger, {})

    async def handle(self, request: Request) -> Response:
        token = await require_token(request, self._state.store, "user")
        try:
            data = await request.json()
        except ValueError as exc:
            return JSONResponse(
                {"errors": [{"message": f"the request body is not JSON: {exc}",
                             "extensions": {"code": "BAD_REQUEST"}}]},
                status_code=400,
            )
        result = await self.execute(token, data, client=client_of(request))
        # GraphQL over HTTP: a request that never executed (syntax, validation) is a 400;
        # one that executed answers 200 even when some fields failed.
        return JSONResponse(result, status_code=200 if "data" in result else 400)

    async def execute(self, token: TokenInfo, data: Any, *, via: str = "graphql",
                      client: str = "") -> dict[str, Any]:
        """Run one GraphQL request (``{"query": ..., "variables": ...}``) as ``token``: the
        HTTP endpoint's path, and the web UI's, so both obey the same rules and errors.
        ``via`` and ``client`` say where it came from, for the audit log."""
        context = GraphQLContext(store=self._state.store, signal=self._state.signal, token=token,
                                 actor=Actor.of_token(token, via=via, client=client))
        _, result = await graphql(
            self._schema,
            data,
            context_value=context,
            error_formatter=format_error,
            logger=self._log,
        )
        return result

    def mutation_document(self, name: str, arguments: Sequence[str]) -> str | None:
        """A request document that calls mutation ``name`` with ``arguments`` as variables of
        the schema's own types, or None when the schema has no such mutation or it takes other
        required arguments (the web UI offers an action only when its mutation exists)."""
        mutation_type = self._schema.mutation_type
        field = None if mutation_type is None else mutation_type.fields.get(name)
        if field is None or not set(arguments) <= set(field.args):
            return None
        if any(is_required_argument(arg) and arg_name not in arguments
               for arg_name, arg in field.args.items()):
            return None
        variables = ", ".join(f"${arg}: {field.args[arg].type}" for arg in arguments)
        passed = ", ".join(f"{arg}: ${arg}" for arg in arguments)
        selection = "" if is_leaf_type(get_named_type(field.type)) else " { __typename }"
        head = f"mutation({variables})" if arguments else "mutation"
        call = f"{name}({passed})" if arguments else name
        return f"{head} {{ {call}{selection} }}"
