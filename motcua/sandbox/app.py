"""The sandbox registries and gateways as one FastAPI app (docs/sandbox-api.md).

`create_app(seed, citizens)` generates the synthetic population and mounts every service
under its prefix; state lives in memory, and with a journal also on disk (journal.py).
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from motcua.sandbox.common import install_error_handlers
from motcua.sandbox.faults import FaultMiddleware
from motcua.sandbox.journal import Journal
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


def create_app(
    seed: int = 42,
    citizens: int = 10_000,
    today: date | None = None,
    journal: Path | None = None,
) -> FastAPI:
    """The sandbox app; `today` pins the reference date (default: today in Vietnam);
    with `journal`, its writes are kept there and survive a restart (journal.py)."""
    sandbox = Sandbox(seed, citizens, today, Journal(journal) if journal else None)
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
    if sandbox.journal is not None:
        replay(app, sandbox, sandbox.journal)
    return app


def replay(app: FastAPI, sandbox: Sandbox, journal: Journal) -> None:
    """Apply the journal's writes again, through the routes, at their own moments."""
    writes = journal.writes()
    if not writes:
        return
    with TestClient(app, raise_server_exceptions=True) as client:
        for w in writes:
            sandbox.replaying_at = w.at
            try:
                answer = client.request(
                    w.method, w.path, json=w.body, headers={"Idempotency-Key": w.idempotency_key}
                )
            finally:
                sandbox.replaying_at = None
            if answer.status_code >= 300:
                raise RuntimeError(
                    f"sandbox journal {journal.path}: write {w.method} {w.path} no longer "
                    f"applies ({answer.status_code}); start with a new data directory"
                )
    logging.getLogger("motcua.sandbox").info("sandbox: %d writes replayed", len(writes))
