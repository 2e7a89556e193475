"""Settings → Audit log: who did what, newest first, paged, filtered by action and actor.
Admins only; read-only (the log has no way to edit or delete an entry)."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from ..errors import Forbidden
from ._base import Pages, Viewer
from .errors import BadRequest

PAGE_SIZE = 50


class AuditPages(Pages):
    async def audit_log(self, request: Request, viewer: Viewer) -> Response:
        if not viewer.is_admin:
            raise Forbidden(f"the audit log is for admin tokens; you are signed in as a "
                            f"{viewer.token.role}")
        params = request.query_params
        action, actor = params.get("action", ""), params.get("actor", "").strip()
        before_text = params.get("before", "")
        if before_text and not before_text.isdigit():
            raise BadRequest(f"before must be an entry id, got {before_text!r}")
        before = int(before_text) if before_text else None
        entries = await self.call(viewer.store.audit_log, PAGE_SIZE + 1, before=before,
                                  action=action or None, actor=actor or None)
        more, entries = len(entries) > PAGE_SIZE, entries[:PAGE_SIZE]
        filters = {key: value for key, value in (("action", action), ("actor", actor))
                   if value}
        older = (f"/settings/audit?{urlencode({**filters, 'before': entries[-1].id})}"
                 if more else None)
        return self.render(request, viewer, "audit.html", entries=entries, older=older,
                           newest=f"/settings/audit?{urlencode(filters)}" if before else None,
                           actions=await self.call(viewer.store.audit_actions),
                           action=action, actor=actor)
