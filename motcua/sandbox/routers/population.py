"""Population database (cơ sở dữ liệu quốc gia về dân cư): citizens and households."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from motcua.sandbox.common import add_ledger, answer, not_found, sandbox_of
from motcua.sandbox.data import Citizen
from motcua.sandbox.state import Sandbox

SERVICE = "population"
router = APIRouter(prefix="/population")
add_ledger(router, SERVICE)


def citizen_json(sb: Sandbox, c: Citizen) -> dict[str, Any]:
    return {
        "pid": c.pid,
        "full_name": c.full_name,
        "birth_date": c.birth_date.isoformat(),
        "sex": c.sex,
        "ethnicity": c.ethnicity,
        "nationality": c.nationality,
        "address": sb.geo.address(c.street, c.commune_code),
        "household_id": c.household_id,
        "phone": c.phone,
        "email": c.email,
        "alive": c.alive,
        "death_date": c.death_date.isoformat() if c.death_date else None,
    }


@router.get("/citizens/{pid}")
async def get_citizen(pid: str, request: Request) -> Response:
    sb = sandbox_of(request)
    citizen = sb.world.citizens.get(pid)
    if citizen is None:
        raise not_found("citizen")
    return answer(200, citizen_json(sb, citizen))


@router.get("/households/{household_id}")
async def get_household(household_id: str, request: Request) -> Response:
    sb = sandbox_of(request)
    household = sb.world.households.get(household_id)
    if household is None:
        raise not_found("household")
    return answer(
        200,
        {
            "household_id": household.household_id,
            "head_pid": household.head_pid,
            "members": list(household.members),
            "address": sb.geo.address(household.street, household.commune_code),
        },
    )
