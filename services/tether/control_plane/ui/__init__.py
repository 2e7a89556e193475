"""The web UI: server-rendered pages (Jinja) with a small script for live updates, served by
the control plane itself with its own static files (no build step, no other host)."""

from ._app import web_ui_routes

__all__ = ["web_ui_routes"]
