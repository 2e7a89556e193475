"""The control plane's app in process (httpx's ASGI transport) on a SQLite file, with the
``hello`` location loaded as an agent would report it, and a browser-like client that signs in
through the sign-in form."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tether.control_plane import create_app
from tether.control_plane.storage import Store
from tether.settings import Settings

from ..conftest import load_location

_HIDDEN = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def csrf_of(html: str) -> str:
    match = _HIDDEN.search(html)
    assert match, "no CSRF field on the page"
    return match.group(1)


@dataclass
class Ui:
    app: object
    store: Store
    tmp_path: Path

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app),  # type: ignore[arg-type]
                                 base_url="http://cp")

    async def signed_in(self, role: str = "admin", name: str = "ada") -> httpx.AsyncClient:
        """A new browser whose user has signed in with a fresh token of ``role``."""
        token = self.store.create_token("user", role=role, name=name)  # type: ignore[arg-type]
        browser = self.client()
        form = await browser.get("/signin")
        response = await browser.post("/signin", data={
            "token": token, "csrf": csrf_of(form.text), "next": "/runs"})
        assert response.status_code == 303, response.text
        return browser


@pytest.fixture
async def ui(tmp_path: Path) -> AsyncIterator[Ui]:
    settings = Settings(data_dir=str(tmp_path))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        store = Store.from_url(settings.resolved_database_url)
        load_location(store)
        yield Ui(app=app, store=store, tmp_path=tmp_path)
        store.close()
