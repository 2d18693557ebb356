"""`/_admin`: fault injection, test samples, reset; and `/healthz`."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.responses import Response

from motcua.sandbox.common import Body, answer, invalid, not_found, sandbox_of
from motcua.sandbox.samples import KINDS, samples
from motcua.sandbox.state import SERVICES, Fault

router = APIRouter()


class FaultIn(Body):
    latency_ms: int = Field(0, ge=0, le=120_000)
    error_rate: float = Field(0.0, ge=0.0, le=1.0)
    outage: bool = False
    error_after_apply: bool = False


@router.get("/healthz")
async def healthz(request: Request) -> Response:
    sb = sandbox_of(request)
    return answer(200, {"status": "ok", "citizens": len(sb.world.citizens), "seed": sb.seed})


@router.get("/_admin/faults")
async def get_faults(request: Request) -> Response:
    sb = sandbox_of(request)
    return answer(200, {name: sb.faults[name].as_json() for name in SERVICES})


@router.get("/_admin/faults/{service}")
async def get_fault(service: str, request: Request) -> Response:
    sb = sandbox_of(request)
    if service not in SERVICES:
        raise not_found("service")
    return answer(200, sb.faults[service].as_json())


@router.put("/_admin/faults/{service}")
async def put_fault(service: str, body: FaultIn, request: Request) -> Response:
    sb = sandbox_of(request)
    if service not in SERVICES:
        raise not_found("service")
    sb.set_fault(service, Fault(**body.model_dump()))
    return answer(200, sb.faults[service].as_json())


@router.delete("/_admin/faults")
async def clear_faults(request: Request) -> Response:
    sb = sandbox_of(request)
    sb.clear_faults()
    return answer(200, {name: sb.faults[name].as_json() for name in SERVICES})


@router.post("/_admin/reset")
async def reset(
    request: Request,
    today: date | None = Query(None, description="A new reference date for the new world"),
) -> Response:
    sb = sandbox_of(request)
    if today is not None:
        sb.fixed_today = today
    sb.reset()
    return answer(200, {"status": "ok", "citizens": len(sb.world.citizens), "seed": sb.seed})


@router.get("/_admin/samples")
async def get_samples(
    request: Request,
    count: int = Query(5, ge=1, le=1000, description="Records of each kind, at most"),
    kind: list[str] | None = Query(None, description="Only these kinds (repeatable)"),
) -> Response:
    sb = sandbox_of(request)
    unknown = sorted(set(kind or ()) - set(KINDS))
    if unknown:
        raise invalid(f"unknown sample kind {', '.join(unknown)}; known: {', '.join(KINDS)}")
    with sb.lock:
        return answer(200, samples(sb, count, kind or KINDS))
