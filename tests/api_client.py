"""The API in the test's own event loop, holding the test's Temporal client (or none)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from temporalio.client import Client

from motcua.api.app import create_app


@asynccontextmanager
async def open_api(temporal: Client | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the API; without Temporal, what needs it answers 503."""
    app = create_app(connect_temporal=False)
    app.state.temporal = temporal
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", timeout=60) as c:
        yield c
