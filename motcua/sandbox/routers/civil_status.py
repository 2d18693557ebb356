"""Civil status register (hộ tịch): births, deaths, marriages and their cancellation.

Rules: a birth needs a known female mother (and, when given, a known male father), a
certificate that names that mother and was not registered already (a certificate number
the health registry does not know is accepted: paper certificates exist); the child's
personal id is `0` + the registering commune's province code (an old birth-registration
code inside that province), the century/sex digit, the year and 6 random digits. A death
refuses the dead; a marriage refuses the married, the dead, a husband under 20 and a wife
under 18. A cancellation undoes the registration's effect (the child leaves the population,
the dead is alive again, the spouses are unmarried) and is itself idempotent.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import Field
from starlette.responses import Response

from motcua.sandbox.civil_register import Kind, Registration, electronic_no
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
from motcua.sandbox.data import Citizen, age_on, make_pid
from motcua.sandbox.state import Sandbox

SERVICE = "civil-status"
router = APIRouter(prefix="/civil-status")
add_ledger(router, SERVICE)

MARRIAGE_AGE = {"male": 20, "female": 18}


class Child(Body):
    full_name: str = Field(min_length=1, max_length=200)
    birth_date: date
    sex: Literal["male", "female"]
    ethnicity: str = Field(min_length=1)
    nationality: str = Field(min_length=1)
    place_of_birth: str = Field(min_length=1)


class BirthIn(Body):
    birth_certificate_no: str = Field(min_length=1)
    child: Child
    mother_pid: str
    father_pid: str | None = None
    commune_code: str


class DeathIn(Body):
    pid: str
    death_date: date
    place_of_death: str = Field(min_length=1)
    death_notice_no: str | None = None
    commune_code: str


class MarriageIn(Body):
    husband_pid: str
    wife_pid: str
    commune_code: str


class CancelIn(Body):
    reason: str = Field(min_length=1)


def commune(sb: Sandbox, code: str) -> None:
    if code not in sb.geo.communes:
        raise invalid("unknown commune code")


def citizen(sb: Sandbox, pid: str, what: str = "citizen") -> Citizen:
    found = sb.world.citizens.get(pid)
    if found is None:
        raise not_found(what)
    return found


def new_registration(
    sb: Sandbox, kind: Kind, commune_code: str, subjects: list[str], undo: dict[str, Any]
) -> Registration:
    now = sb.now()
    no = electronic_no(kind, commune_code, now.year, sb.next_seq("civil-status"))
    reg = Registration(no, kind, tuple(subjects), now, commune_code, undo)
    sb.registrations[no] = reg
    return reg


@router.post("/births")
async def register_birth(body: BirthIn, request: Request) -> Response:
    def apply(sb: Sandbox) -> tuple[int, Any]:
        commune(sb, body.commune_code)
        mother = citizen(sb, body.mother_pid, "mother")
        if mother.sex != "female":
            raise not_eligible("the mother on record is not female")
        if body.father_pid is not None:
            if citizen(sb, body.father_pid, "father").sex != "male":
                raise not_eligible("the father on record is not male")
        child = body.child
        if child.birth_date > sb.today():
            raise invalid("birth date is in the future")
        if child.birth_date <= mother.birth_date:
            raise invalid("birth date is before the mother's")
        cert = sb.world.birth_certificates.get(body.birth_certificate_no)
        if cert is not None and cert.mother_pid != mother.pid:
            raise not_eligible("the birth certificate names another mother")
        if body.birth_certificate_no in sb.certificates_used:
            raise not_eligible("this birth certificate is already registered")
        province = sb.geo.communes[body.commune_code].province_code
        ppp = sb.geo.provinces[province].birth_code
        while True:
            pid = make_pid(ppp, child.birth_date, child.sex, sb.rng.randrange(1_000_000))
            if pid not in sb.world.citizens:
                break
        sb.world.citizens[pid] = Citizen(
            pid=pid,
            full_name=child.full_name,
            birth_date=child.birth_date,
            sex=child.sex,
            ethnicity=child.ethnicity,
            nationality=child.nationality,
            street=mother.street,
            commune_code=mother.commune_code,
            household_id=None,
            mother_pid=mother.pid,
            father_pid=body.father_pid,
        )
        reg = new_registration(
            sb, "birth", body.commune_code, [pid], {"certificate": body.birth_certificate_no}
        )
        sb.certificates_used[body.birth_certificate_no] = reg.registration_no
        return 201, {
            "registration_no": reg.registration_no,
            "child_pid": pid,
            "registered_at": reg.registered_at.isoformat(),
            "commune_code": body.commune_code,
        }

    return write(request, SERVICE, "birth", body, apply)


@router.post("/deaths")
async def register_death(body: DeathIn, request: Request) -> Response:
    def apply(sb: Sandbox) -> tuple[int, Any]:
        commune(sb, body.commune_code)
        person = citizen(sb, body.pid)
        if not person.alive:
            raise not_eligible("the citizen is already recorded as dead")
        if body.death_date > sb.today():
            raise invalid("death date is in the future")
        if body.death_date < person.birth_date:
            raise invalid("death date is before the birth date")
        if body.death_notice_no is not None:
            notice = sb.world.death_notices.get(body.death_notice_no)
            if notice is not None and notice.pid != person.pid:
                raise not_eligible("the death notice names another citizen")
        person.alive = False
        person.death_date = body.death_date
        reg = new_registration(sb, "death", body.commune_code, [person.pid], {})
        return 201, {
            "registration_no": reg.registration_no,
            "registered_at": reg.registered_at.isoformat(),
        }

    return write(request, SERVICE, "death", body, apply)


def married(sb: Sandbox, c: Citizen) -> bool:
    spouse = sb.world.citizens.get(c.spouse_pid or "")
    return spouse is not None and spouse.alive


@router.post("/marriages")
async def register_marriage(body: MarriageIn, request: Request) -> Response:
    def apply(sb: Sandbox) -> tuple[int, Any]:
        commune(sb, body.commune_code)
        if body.husband_pid == body.wife_pid:
            raise invalid("husband and wife are the same citizen")
        husband = citizen(sb, body.husband_pid, "husband")
        wife = citizen(sb, body.wife_pid, "wife")
        today = sb.today()
        for person, sex in ((husband, "male"), (wife, "female")):
            if person.sex != sex:
                raise not_eligible("the spouses' sexes on record do not fit the request")
            if not person.alive:
                raise not_eligible("a spouse is recorded as dead")
            if married(sb, person):
                raise not_eligible("a spouse is already married")
            if age_on(person.birth_date, today) < MARRIAGE_AGE[sex]:
                raise not_eligible("a spouse is under the legal age for marriage")
        undo = {"previous": {husband.pid: husband.spouse_pid, wife.pid: wife.spouse_pid}}
        husband.spouse_pid, wife.spouse_pid = wife.pid, husband.pid
        reg = new_registration(sb, "marriage", body.commune_code, [husband.pid, wife.pid], undo)
        return 201, {
            "registration_no": reg.registration_no,
            "registered_at": reg.registered_at.isoformat(),
        }

    return write(request, SERVICE, "marriage", body, apply)


# A number may hold a slash (paper books number "12/2001"): clients quote it as one path
# segment ("12%2F2001"), which the server decodes before routing, so these routes take the
# rest of the path; the same number unquoted works too.
@router.get("/registrations/{registration_no:path}")
async def get_registration(registration_no: str, request: Request) -> Response:
    reg = sandbox_of(request).registrations.get(registration_no)
    if reg is None:
        raise not_found("registration")
    return answer(200, reg.as_json())


def undo(sb: Sandbox, reg: Registration) -> None:
    people = sb.world.citizens
    done = reg.undo or {}
    if reg.kind == "birth":
        pid = reg.subject_pids[0]
        child = people.pop(pid, None)
        if child is not None and child.household_id:
            household = sb.world.households.get(child.household_id)
            if household is not None and pid in household.members:
                household.members.remove(pid)
        if "certificate" in done:
            sb.certificates_used.pop(done["certificate"], None)
    elif reg.kind == "death":
        person = people.get(reg.subject_pids[0])
        if person is not None:
            person.alive, person.death_date = True, None
    elif reg.kind == "marriage":
        husband_pid, wife_pid = reg.subject_pids
        husband, wife = people.get(husband_pid), people.get(wife_pid)
        previous = done.get("previous", {})
        if husband is not None and husband.spouse_pid == wife_pid:
            husband.spouse_pid = previous.get(husband_pid)
        if wife is not None and wife.spouse_pid == husband_pid:
            wife.spouse_pid = previous.get(wife_pid)


@router.post("/registrations/{registration_no:path}/cancellations")
async def cancel_registration(registration_no: str, body: CancelIn, request: Request) -> Response:
    def apply(sb: Sandbox) -> tuple[int, Any]:
        reg = sb.registrations.get(registration_no)
        if reg is None:
            raise not_found("registration")
        if not reg.cancelled:
            undo(sb, reg)
            reg.cancelled, reg.cancel_reason = True, body.reason
        return 200, reg.as_json()

    return write(request, SERVICE, "cancellation", body, apply)
