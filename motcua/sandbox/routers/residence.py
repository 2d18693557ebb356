"""Residence database (cư trú): permanent registration, deregistration, cancellation.

A registration without `household_id` makes a new household with the citizen as head at
the given address; with one, the citizen joins that household and takes its address. The
citizen leaves any household they were in (its next member becomes head if they headed
it). A deregistration removes the citizen from their household. Cancelling either restores
what the citizen's residence was before it. A citizen with no residence record at all
(e.g. a newborn) is 404 on `GET /persons/{pid}`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field
from starlette.responses import Response

from motcua.sandbox.common import (
    Body,
    add_ledger,
    answer,
    invalid,
    not_eligible,
    not_found,
    sandbox_of,
    write,
)
from motcua.sandbox.data import Citizen, Household
from motcua.sandbox.state import Sandbox

SERVICE = "residence"
router = APIRouter(prefix="/residence")
add_ledger(router, SERVICE)


class StreetAddress(Body):
    street: str = Field(min_length=1)
    commune_code: str


class PermanentIn(Body):
    pid: str
    household_id: str | None = None
    address: StreetAddress
    relation_to_head: str = Field(min_length=1)


class DeregistrationIn(Body):
    pid: str
    reason: str = Field(min_length=1)


class CancelIn(Body):
    reason: str = Field(min_length=1)


def snapshot(sb: Sandbox, c: Citizen) -> dict[str, Any]:
    household = sb.world.households.get(c.household_id or "")
    return {
        "household_id": c.household_id,
        "street": c.street,
        "commune_code": c.commune_code,
        "status": c.residence_status,
        "head_pid": household.head_pid if household else None,
    }


def leave_household(sb: Sandbox, c: Citizen) -> None:
    household = sb.world.households.get(c.household_id or "")
    if household is not None and c.pid in household.members:
        household.members.remove(c.pid)
        if household.head_pid == c.pid and household.members:
            household.head_pid = household.members[0]
    c.household_id = None


def new_record(sb: Sandbox, prefix: str, kind: str, c: Citizen, before: dict[str, Any]) -> str:
    now = sb.now()
    no = f"{prefix}.{c.commune_code}.{now.year}.{sb.next_seq('residence'):06d}"
    sb.residence_records[no] = {
        "residence_no": no,
        "kind": kind,
        "pid": c.pid,
        "registered_at": now.isoformat(),
        "cancelled": False,
        "before": before,
        "created_household": None,
    }
    return no


@router.post("/permanent")
async def register_permanent(body: PermanentIn, request: Request) -> Response:
    def apply(sb: Sandbox) -> tuple[int, Any]:
        if body.address.commune_code not in sb.geo.communes:
            raise invalid("unknown commune code")
        person = sb.world.citizens.get(body.pid)
        if person is None:
            raise not_found("citizen")
        if not person.alive:
            raise not_eligible("the citizen is recorded as dead")
        target = None
        if body.household_id is not None:
            target = sb.world.households.get(body.household_id)
            if target is None:
                raise not_found("household")
            if person.pid in target.members:
                raise not_eligible("the citizen is already registered in this household")
        before = snapshot(sb, person)
        leave_household(sb, person)
        created = None
        if target is None:
            province = sb.geo.communes[body.address.commune_code].province_code
            created = f"HK{province}{90_000_000 + sb.next_seq('household'):08d}"
            target = Household(
                created, person.pid, [], body.address.street, body.address.commune_code
            )
            sb.world.households[created] = target
        target.members.append(person.pid)
        person.household_id = target.household_id
        person.street, person.commune_code = target.street, target.commune_code
        person.residence_status = "registered"
        no = new_record(sb, "CT", "permanent", person, before)
        sb.residence_records[no]["created_household"] = created
        registered_at = sb.residence_records[no]["registered_at"]
        return 201, {
            "residence_no": no,
            "household_id": target.household_id,
            "registered_at": registered_at,
        }

    return write(request, SERVICE, "permanent", body, apply)


@router.post("/permanent/deregistrations")
async def deregister(body: DeregistrationIn, request: Request) -> Response:
    def apply(sb: Sandbox) -> tuple[int, Any]:
        person = sb.world.citizens.get(body.pid)
        if person is None:
            raise not_found("citizen")
        if person.residence_status != "registered":
            raise not_eligible("the citizen has no permanent residence to remove")
        before = snapshot(sb, person)
        leave_household(sb, person)
        person.residence_status = "deregistered"
        no = new_record(sb, "XCT", "deregistration", person, before)
        registered_at = sb.residence_records[no]["registered_at"]
        return 201, {"deregistration_no": no, "registered_at": registered_at}

    return write(request, SERVICE, "deregistration", body, apply)


@router.get("/persons/{pid}")
async def get_person(pid: str, request: Request) -> Response:
    sb = sandbox_of(request)
    person = sb.world.citizens.get(pid)
    if person is None or person.residence_status is None:
        raise not_found("resident")
    return answer(
        200,
        {
            "pid": person.pid,
            "household_id": person.household_id,
            "address": sb.geo.address(person.street, person.commune_code),
            "status": person.residence_status,
        },
    )


def restore(sb: Sandbox, record: dict[str, Any]) -> None:
    person = sb.world.citizens.get(record["pid"])
    if person is None:
        return
    before = record["before"]
    leave_household(sb, person)
    household = sb.world.households.get(before["household_id"] or "")
    if household is not None:
        if person.pid not in household.members:
            household.members.append(person.pid)
        if before["head_pid"] == person.pid:
            household.head_pid = person.pid
    person.household_id = before["household_id"]
    person.street, person.commune_code = before["street"], before["commune_code"]
    person.residence_status = before["status"]
    created = sb.world.households.get(record["created_household"] or "")
    if created is not None and not created.members:
        del sb.world.households[created.household_id]


@router.post("/registrations/{residence_no}/cancellations")
async def cancel(residence_no: str, body: CancelIn, request: Request) -> Response:
    def apply(sb: Sandbox) -> tuple[int, Any]:
        record = sb.residence_records.get(residence_no)
        if record is None:
            raise not_found("residence registration")
        if not record["cancelled"]:
            restore(sb, record)
            record["cancelled"] = True
            record["cancel_reason"] = body.reason
        return 200, {
            "residence_no": residence_no,
            "kind": record["kind"],
            "pid": record["pid"],
            "cancelled": True,
        }

    return write(request, SERVICE, "cancellation", body, apply)
