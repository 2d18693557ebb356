"""`/_admin`: fault injection, test samples, reset; and `/healthz`."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import Field
from starlette.responses import Response

from motcua.sandbox.common import Body, answer, not_found, sandbox_of
from motcua.sandbox.data import age_on
from motcua.sandbox.state import SERVICES, Fault, Sandbox

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


def samples(sb: Sandbox, count: int) -> dict[str, list[Any]]:
    """A few records of each kind, in generation order, from the current state."""
    world, today = sb.world, sb.today()
    out: dict[str, list[Any]] = {
        k: []
        for k in (
            "adult_with_household",
            "adult_without_household",
            "married",
            "unmarried_men",
            "unmarried_women",
            "under_age_men",
            "under_age_women",
            "mother_with_birth_certificate",
            "dead_with_death_notice",
            "death_notice_pending",
            "child_under_6",
            "child_6_or_older",
            "dead",
            "household",
        )
    }

    def add(kind: str, item: Any) -> None:
        if len(out[kind]) < count:
            out[kind].append(item)

    carded = {c["child_pid"] for c in sb.cards.values() if c["status"] == "active"}
    for c in world.citizens.values():
        if not c.alive:
            add("dead", c.pid)
            continue
        age = age_on(c.birth_date, today)
        spouse = world.citizens.get(c.spouse_pid or "")
        is_married = spouse is not None and spouse.alive
        if age >= 18:
            add("adult_with_household" if c.household_id else "adult_without_household", c.pid)
        if is_married and c.sex == "male" and spouse is not None:
            add("married", {"husband_pid": c.pid, "wife_pid": spouse.pid})
        if not is_married and c.sex == "male" and age >= 16:
            add("unmarried_men" if age >= 20 else "under_age_men", c.pid)
        if not is_married and c.sex == "female" and age >= 14:
            add("unmarried_women" if age >= 18 else "under_age_women", c.pid)
        if age < 6 and c.pid not in carded:
            add("child_under_6", c.pid)
        elif 6 <= age < 16:
            add("child_6_or_older", c.pid)
    for cert in world.birth_certificates.values():
        mother = world.citizens.get(cert.mother_pid)
        if cert.certificate_no not in sb.certificates_used and mother and mother.alive:
            add(
                "mother_with_birth_certificate",
                {
                    "mother_pid": cert.mother_pid,
                    "father_pid": cert.father_pid,
                    "certificate_no": cert.certificate_no,
                    "commune_code": mother.commune_code,
                },
            )
    for notice in world.death_notices.values():
        person = world.citizens.get(notice.pid)
        if person is None:
            continue
        kind = "death_notice_pending" if person.alive else "dead_with_death_notice"
        add(
            kind,
            {
                "pid": notice.pid,
                "notice_no": notice.notice_no,
                "death_date": notice.death_date.isoformat(),
                "commune_code": person.commune_code,
            },
        )
    for household in world.households.values():
        if len(household.members) >= 2:
            add("household", household.household_id)
    return out


@router.get("/_admin/samples")
async def get_samples(request: Request, count: int = Query(5, ge=1, le=1000)) -> Response:
    sb = sandbox_of(request)
    with sb.lock:
        return answer(200, samples(sb, count))
