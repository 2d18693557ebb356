"""The sandbox registries and gateways as one FastAPI app (docs/sandbox-api.md).

`create_app(seed, citizens)` generates the synthetic population and mounts every service
under its prefix; state lives in memory for the life of the process.
"""

from __future__ import annotations

from datetime import date

from fastapi import FastAPI

from motcua.sandbox.common import install_error_handlers
from motcua.sandbox.faults import FaultMiddleware
from motcua.sandbox.routers import (
    admin,
    civil_status,
    gateways,
    health,
    population,
    residence,
    social_insurance,
)
from motcua.sandbox.state import Sandbox


def create_app(seed: int = 42, citizens: int = 10_000, today: date | None = None) -> FastAPI:
    """The sandbox app; `today` pins the reference date (default: today in Vietnam)."""
    sandbox = Sandbox(seed, citizens, today)
    app = FastAPI(
        title="motcua sandbox registries",
        docs_url="/_admin/docs",
        redoc_url=None,
        openapi_url="/_admin/openapi.json",
    )
    app.state.sandbox = sandbox
    install_error_handlers(app)
    for module in (population, civil_status, residence, social_insurance, health, gateways):
        app.include_router(module.router)
    app.include_router(admin.router)
    app.add_middleware(FaultMiddleware, sandbox=sandbox)
    return app
