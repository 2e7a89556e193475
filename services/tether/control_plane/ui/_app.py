"""The web UI's routes, mounted at the root of the control plane's app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from .._graphql import GraphQLApi
from .._state import AppState
from ._alert_pages import AlertPages
from ._audit_pages import AuditPages
from ._automation_pages import AutomationPages
from ._backfill_pages import BackfillPages
from ._catalog_pages import CatalogPages
from ._deployment_pages import DeploymentPages
from ._render import STATIC, Renderer
from ._run_pages import RunPages
from ._signin import SignInPages
from ._token_pages import TokenPages
from .errors import PageNotFound


async def _home(_request: Request) -> Response:
    return RedirectResponse("/runs", status_code=303)


def _no_such_page(pages: RunPages) -> Callable[[Request], Awaitable[Response]]:
    """Any other address: the error page, signed in or not. (Sending the browser to sign in
    would be wrong here: its own requests, such as /favicon.ico, would restart the sign-in
    form under the user's hands.)"""
    async def endpoint(request: Request) -> Response:
        return pages.error_page(request, None, PageNotFound(
            f"there is no page at {request.url.path}; the menu leads to every page"))

    return endpoint


def web_ui_routes(state: AppState, graphql: GraphQLApi) -> list[BaseRoute]:
    renderer = Renderer()
    signin = SignInPages(state, graphql, renderer)
    runs = RunPages(state, graphql, renderer)
    catalog = CatalogPages(state, graphql, renderer)
    tokens = TokenPages(state, graphql, renderer)
    automation = AutomationPages(state, graphql, renderer)
    audit = AuditPages(state, graphql, renderer)
    alerts = AlertPages(state, graphql, renderer)
    backfills = BackfillPages(state, graphql, renderer)
    deployments = DeploymentPages(state, graphql, renderer)
    get, post = ["GET"], ["POST"]
    return [
        Route("/", _home, methods=get),
        Route("/signin", signin.form, methods=get),
        Route("/signin", signin.submit, methods=post),
        Route("/signout", signin.action(signin.signout), methods=post),
        Route("/deployment", signin.action(signin.switch_deployment), methods=post),
        Route("/runs", runs.page(runs.runs), methods=get),
        Route("/runs/{run_id}", runs.page(runs.run), methods=get),
        Route("/runs/{run_id}/updates", runs.page(runs.updates), methods=get),
        Route("/runs/{run_id}/events", runs.page(runs.events), methods=get),
        Route("/runs/{run_id}/logs", runs.page(runs.logs), methods=get),
        Route("/runs/{run_id}/cancel", runs.action(runs.cancel), methods=post),
        Route("/runs/{run_id}/reexecute", runs.action(runs.reexecute), methods=post),
        Route("/backfills", backfills.page(backfills.backfills), methods=get),
        Route("/backfills", backfills.action(backfills.launch), methods=post),
        Route("/backfills/{backfill_id}", backfills.page(backfills.backfill), methods=get),
        Route("/backfills/{backfill_id}/cancel", backfills.action(backfills.cancel),
              methods=post),
        Route("/backfills/{backfill_id}/rerun", backfills.action(backfills.rerun),
              methods=post),
        Route("/jobs", catalog.page(catalog.jobs), methods=get),
        Route("/jobs/{location}/{job}", catalog.page(catalog.job), methods=get),
        Route("/jobs/{location}/{job}/launch", catalog.action(catalog.launch), methods=post),
        Route("/jobs/{location}/{job}/check", catalog.action(catalog.check_config),
              methods=post),
        Route("/assets", catalog.page(catalog.assets), methods=get),
        Route("/assets/materialize", catalog.action(catalog.materialize), methods=post),
        Route("/assets/{location}/{key:path}", catalog.page(catalog.asset), methods=get),
        Route("/locations", catalog.page(catalog.locations), methods=get),
        Route("/locations/{location}/redeploy", catalog.action(catalog.redeploy),
              methods=post),
        Route("/agents", catalog.page(catalog.agents), methods=get),
        Route("/automation", automation.page(automation.automations), methods=get),
        Route("/automation/{kind}/{location}/{name}", automation.action(automation.toggle),
              methods=post),
        Route("/settings/tokens", tokens.page(tokens.tokens), methods=get),
        Route("/settings/tokens", tokens.action(tokens.create), methods=post),
        Route("/settings/tokens/{token_id:int}/revoke", tokens.action(tokens.revoke),
              methods=post),
        Route("/settings/deployments", deployments.page(deployments.deployments), methods=get),
        Route("/settings/audit", audit.page(audit.audit_log), methods=get),
        Route("/settings/alerts", alerts.page(alerts.alerts), methods=get),
        Route("/settings/alerts", alerts.action(alerts.create), methods=post),
        Route("/settings/alerts/{name}/test", alerts.action(alerts.test), methods=post),
        Route("/settings/alerts/{name}/delete", alerts.action(alerts.delete), methods=post),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
        # last: any other address is a readable page too, not a bare "Not Found"
        Route("/{path:path}", _no_such_page(runs), methods=get),
    ]
