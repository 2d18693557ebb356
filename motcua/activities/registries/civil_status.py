"""Civil status register (hộ tịch): births, deaths and marriages, and undoing them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from temporalio import activity

from motcua.activities.base import ActivityInput
from motcua.activities.registries.http import call, payload, seg

REGISTRY = "civil_status"


class Child(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full_name: str
    birth_date: date
    sex: Literal["male", "female"]
    ethnicity: str
    nationality: str
    place_of_birth: str


class RegisterBirthInput(ActivityInput):
    birth_certificate_no: str
    child: Child
    mother_pid: str
    father_pid: str | None = None
    commune_code: str


class BirthRegistered(BaseModel):
    registration_no: str
    child_pid: str
    registered_at: datetime
    commune_code: str


class RegisterDeathInput(ActivityInput):
    pid: str
    death_date: date
    place_of_death: str
    death_notice_no: str | None = None
    commune_code: str


class RegisterMarriageInput(ActivityInput):
    husband_pid: str
    wife_pid: str
    commune_code: str


class Registered(BaseModel):
    registration_no: str
    registered_at: datetime


class GetRegistrationInput(ActivityInput):
    registration_no: str


class Registration(BaseModel):
    registration_no: str
    kind: Literal["birth", "death", "marriage"]
    subject_pids: list[str]
    registered_at: datetime
    cancelled: bool


class CancelRegistrationInput(ActivityInput):
    registration_no: str
    reason: str


@activity.defn(name="civil_status.register_birth")
async def register_birth(req: RegisterBirthInput) -> BirthRegistered:
    """Register a birth; the registry gives the child a personal id. Once per key."""
    return await call(
        BirthRegistered,
        REGISTRY,
        "POST",
        "/births",
        operation="birth registration",
        json=payload(req),
        idempotency_key=req.idempotency_key,
    )


@activity.defn(name="civil_status.register_death")
async def register_death(req: RegisterDeathInput) -> Registered:
    """Register a death; the registry marks the citizen dead. Once per key."""
    return await call(
        Registered,
        REGISTRY,
        "POST",
        "/deaths",
        operation="death registration",
        json=payload(req),
        idempotency_key=req.idempotency_key,
    )


@activity.defn(name="civil_status.register_marriage")
async def register_marriage(req: RegisterMarriageInput) -> Registered:
    """Register a marriage; NotEligible if either is married, dead or under age."""
    return await call(
        Registered,
        REGISTRY,
        "POST",
        "/marriages",
        operation="marriage registration",
        json=payload(req),
        idempotency_key=req.idempotency_key,
    )


@activity.defn(name="civil_status.get_registration")
async def get_registration(req: GetRegistrationInput) -> Registration:
    """A registration by number: its kind, subjects and whether it was cancelled."""
    path = f"/registrations/{seg(req.registration_no)}"
    return await call(Registration, REGISTRY, "GET", path, operation="registration look-up")


@activity.defn(name="civil_status.cancel_registration")
async def cancel_registration(req: CancelRegistrationInput) -> Registration:
    """Cancel a registration and undo its effect (what `compensate` calls), under the undo
    step's own key; the registration as it now stands."""
    return await call(
        Registration,
        REGISTRY,
        "POST",
        f"/registrations/{seg(req.registration_no)}/cancellations",
        operation="registration cancellation",
        json=payload(req, without=("registration_no",)),
        idempotency_key=req.idempotency_key,
    )


ACTIVITIES: list[Any] = [
    register_birth,
    register_death,
    register_marriage,
    get_registration,
    cancel_registration,
]
