"""Settings → Deployments: the deployments the signed-in token has a role in, prod and the
branch deployments with their branch, commit, age and when they expire, each one a click
away (the header's switcher, as a button per row). Creating and deleting them is the CLI's
and the API's (what CI runs for a pull request)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ._base import Pages, Viewer


class DeploymentPages(Pages):
    async def deployments(self, request: Request, viewer: Viewer) -> Response:
        shown = [deployment
                 for deployment in await self.call(self.unscoped_store.list_deployments)
                 if deployment.name in viewer.deployments]
        return self.render(request, viewer, "deployments.html", deployments=shown)
