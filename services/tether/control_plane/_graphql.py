"""POST /graphql: the schema-first API (Ariadne) behind a user token.

Errors a user can fix come back as GraphQL errors whose ``extensions.code`` names the
problem; anything unexpected is logged here and answered with a generic message. Every
request is bounded before any resolver runs (:mod:`._query_limits`), and mutations are
rate-limited per token (:mod:`._limits`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import msgspec
from anyio import to_thread
from ariadne import graphql, make_executable_schema, unwrap_graphql_error
from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationType,
    TypeInfo,
    get_named_type,
    get_operation_ast,
    is_leaf_type,
    is_required_argument,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from tether.errors import JobNotFoundError, TetherError

from ._alert_resolvers import BINDABLES as ALERT_BINDABLES
from ._audit import client_of
from ._auth import require_token
from ._automation_resolvers import BINDABLES as AUTOMATION_BINDABLES
from ._backfill_resolvers import BINDABLES as BACKFILL_BINDABLES
from ._deployment_resolvers import BINDABLES as DEPLOYMENT_BINDABLES
from ._limits import mutation_limiter
from ._location_resolvers import BINDABLES as LOCATION_BINDABLES
from ._nesting import nesting_depth
from ._partition_resolvers import BINDABLES as PARTITION_BINDABLES
from ._query_limits import QueryLimits
from ._resolvers import BINDABLES, GraphQLContext
from ._state import AppState
from ._token_resolvers import BINDABLES as TOKEN_BINDABLES
from .errors import (
    AmbiguousJobError,
    BadInput,
    DeploymentNotFound,
    Forbidden,
    LocationNotFound,
    LocationNotLoaded,
    RunNotFound,
    StorageError,
)
from .storage import PROD, Actor, TokenInfo

# the request header that names the deployment a GraphQL request works in (none: prod)
DEPLOYMENT_HEADER = "x-tether-deployment"

SDL_PATH = Path(__file__).with_name("tether.graphql")

logger = logging.getLogger("tether.control_plane.graphql")

_CODES: dict[type[Exception], str] = {
    JobNotFoundError: "JOB_NOT_FOUND",
    AmbiguousJobError: "AMBIGUOUS_JOB",
    LocationNotFound: "LOCATION_NOT_FOUND",
    LocationNotLoaded: "LOCATION_NOT_LOADED",
    RunNotFound: "RUN_NOT_FOUND",
    DeploymentNotFound: "DEPLOYMENT_NOT_FOUND",
    BadInput: "BAD_INPUT",
    Forbidden: "FORBIDDEN",
    StorageError: "STORAGE_UNAVAILABLE",
}


def build_schema(extra_sdl: str = "") -> GraphQLSchema:
    """The API's schema; ``extra_sdl`` extends it (tests use it for API versions to come)."""
    schema: GraphQLSchema = make_executable_schema(
        SDL_PATH.read_text() + extra_sdl, *BINDABLES, *LOCATION_BINDABLES,
        *AUTOMATION_BINDABLES, *TOKEN_BINDABLES, *PARTITION_BINDABLES, *ALERT_BINDABLES,
        *BACKFILL_BINDABLES,
        *DEPLOYMENT_BINDABLES,
        convert_names_case=True,
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
        # (the limits' rules name their own code)
        code = formatted.get("extensions", {}).get("code", "GRAPHQL_VALIDATION_FAILED")
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


RATE_LIMITED = "RATE_LIMITED"


def _refusal(message: str, code: str, **extensions: Any) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}


class GraphQLApi:
    def __init__(self, state: AppState, *, schema: GraphQLSchema | None = None) -> None:
        self._state = state
        self._schema = build_schema() if schema is None else schema
        self._log = _ErrorLog(logger, {})
        self._limits = QueryLimits.from_settings(state.settings)
        self._validator = self._limits.validator()
        self._mutations = mutation_limiter(state.settings)

    async def handle(self, request: Request) -> Response:
        token = await require_token(request, self._state.store, "user")
        deployment = request.headers.get(DEPLOYMENT_HEADER, "").strip() or PROD
        try:
            data = msgspec.json.decode(await request.body())
        except (msgspec.DecodeError, RecursionError) as exc:
            why = "nests too deeply" if isinstance(exc, RecursionError) else f"is not JSON: {exc}"
            return JSONResponse(_refusal(f"the request body {why}", "BAD_REQUEST"),
                                status_code=400)
        result = await self.execute(token, data, deployment=deployment,
                                    client=client_of(request))
        # GraphQL over HTTP: a request that never executed (syntax, validation, a limit) is
        # a 400, or a 429 when the token's mutations are over their rate; one that executed
        # answers 200 even when some fields failed.
        if "data" in result:
            return JSONResponse(result)
        extensions = result["errors"][0].get("extensions", {})
        if extensions.get("code") == RATE_LIMITED:
            return JSONResponse(result, status_code=429,
                                headers={"Retry-After": str(extensions["retryAfter"])})
        return JSONResponse(result, status_code=400)

    async def execute(self, token: TokenInfo, data: Any, *, deployment: str = PROD,
                      via: str = "graphql", client: str = "") -> dict[str, Any]:
        """Run one GraphQL request (``{"query": ..., "variables": ...}``) as ``token`` in
        ``deployment``: the HTTP endpoint's path, and the web UI's, so both obey the same
        rules and errors. Every resolver gets the store of that deployment only, and the
        token with its role there. ``via`` and ``client`` say where it came from, for the
        audit log."""
        try:
            store, token = await to_thread.run_sync(
                self._state.store.access, token, deployment)
        except (DeploymentNotFound, Forbidden, BadInput) as exc:
            return _refusal(str(exc), _code_of(exc))
        limits = self._limits
        variables = data.get("variables") if isinstance(data, dict) else None
        # the variables object itself is one level
        if nesting_depth(variables, limits.max_input_depth + 1) > limits.max_input_depth + 1:
            return _refusal(f"the variables nest more than {limits.max_input_depth} levels "
                            "deep, the most the control plane accepts (its "
                            "TETHER_MAX_INPUT_DEPTH); the request was not run", "BAD_INPUT")
        document: DocumentNode | None = None
        query = data.get("query") if isinstance(data, dict) else None
        if isinstance(query, str) and query:
            try:
                document = limits.parse(query)
            except GraphQLError as exc:
                return {"errors": [format_error(exc)]}
        operation_name = data.get("operationName") if isinstance(data, dict) else None

        def validate(schema: GraphQLSchema, document_ast: DocumentNode,
                     rules: Collection[type[ASTValidationRule]] | None = None,
                     max_errors: int | None = None,
                     type_info: TypeInfo | None = None) -> list[GraphQLError]:
            # a request refused by the limits or the specification spends no mutation budget
            errors = self._validator(schema, document_ast, rules, max_errors, type_info)
            if errors:
                return errors
            refusal = self._over_mutation_rate(token, document_ast, operation_name)
            return [] if refusal is None else [refusal]

        context = GraphQLContext(store=store, signal=self._state.signal, token=token,
                                 actor=Actor.of_token(token, via=via, client=client))
        _, result = await graphql(
            self._schema,
            data,
            context_value=context,
            query_document=document,
            query_validator=validate,
            validation_rules=lambda _context, _document, _data: [limits.cost_rule(
                variables if isinstance(variables, dict) else None)],
            error_formatter=format_error,
            logger=self._log,
        )
        return result

    def _over_mutation_rate(self, token: TokenInfo, document: DocumentNode,
                            operation_name: Any) -> GraphQLError | None:
        """Each mutation field of the operation to run spends one of the token's budget."""
        operation = get_operation_ast(
            document, operation_name if isinstance(operation_name, str) else None)
        if operation is None or operation.operation is not OperationType.MUTATION:
            return None
        wait = self._mutations.take(token.id, len(operation.selection_set.selections))
        if not wait:
            return None
        if wait == float("inf"):
            return GraphQLError(
                f"more mutations in one request than the {self._mutations.burst} a token may "
                "send at once (TETHER_MUTATION_BURST); send fewer",
                extensions={"code": "BAD_INPUT"})
        seconds = max(1, round(wait + 0.5))
        return GraphQLError(
            f"this token has sent too many mutations; retry in {seconds} s (the control "
            "plane's TETHER_MUTATIONS_PER_MINUTE)",
            extensions={"code": RATE_LIMITED, "retryAfter": seconds})

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
