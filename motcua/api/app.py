"""The FastAPI application: `create_app()`, served by `uvicorn motcua.api.app:create_app
--factory` (what `make run` does).

At start-up the app connects to Temporal once and keeps the client in `app.state.temporal`;
if Temporal is not up yet the app still starts, answers `/healthz`, reports itself not
ready on `/readyz`, and connects on the next request that needs Temporal.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from motcua.api import errors, observability
from motcua.api.routers import auditor, auth, citizen, codec, programme, public, verify
from motcua.api.routers.analyst import router as analyst_router
from motcua.api.routers.officer import router as officer_router

log = logging.getLogger(__name__)


async def _connect(app: FastAPI) -> None:
    from motcua.temporal import connect

    try:
        app.state.temporal = await asyncio.wait_for(connect(), timeout=5)
    except Exception as e:  # noqa: BLE001 - the app runs without Temporal and says so
        log.warning("Temporal not reachable at start-up: %s", type(e).__name__)
        app.state.temporal = None


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    await _connect(app)
    yield


def create_app(*, connect_temporal: bool = True) -> FastAPI:
    app = FastAPI(
        title="motcua",
        summary="Thủ tục hành chính một cửa: công dân, cán bộ, chuyên viên, kiểm toán",
        lifespan=_lifespan if connect_temporal else None,
    )
    app.state.temporal = None
    app.include_router(public.router)
    app.include_router(auth.router)
    app.include_router(officer_router)
    app.include_router(citizen.router)
    app.include_router(analyst_router)
    app.include_router(programme.router)
    app.include_router(auditor.router)
    app.include_router(verify.router)
    app.include_router(codec.router)
    app.include_router(observability.router)
    errors.install(app)
    app.add_middleware(codec.CodecCors)
    app.add_middleware(observability.RequestMetrics)  # outermost: sees every answer
    return app
