"""Endpoints anyone may call, without a token: liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

router = APIRouter(tags=["public"])


class Readiness(BaseModel):
    status: str = Field(description="ready, or not ready")
    problems: dict[str, str] = Field(
        default_factory=dict, description="What is not reachable (temporal, database) and why"
    )


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: what is not reachable"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Temporal and the database are reachable (503 with what is not)."""
    problems: dict[str, str] = {}
    client = getattr(request.app.state, "temporal", None)
    if client is None:
        problems["temporal"] = "not connected"
    else:
        try:
            await client.service_client.check_health()
        except Exception as e:  # noqa: BLE001
            problems["temporal"] = type(e).__name__
    try:
        from sqlalchemy import text

        from motcua.db import get_engine

        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as e:  # noqa: BLE001
        problems["database"] = type(e).__name__
    if problems:
        return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})
