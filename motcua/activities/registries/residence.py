"""Residence register (cư trú): permanent residence registration and deregistration."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from temporalio import activity

from motcua.activities.base import ActivityInput
from motcua.activities.registries.http import call, payload, seg
from motcua.activities.registries.population import Address

REGISTRY = "residence"


class StreetAddress(BaseModel):
    model_config = ConfigDict(extra="forbid")

    street: str
    commune_code: str


class RegisterPermanentInput(ActivityInput):
    pid: str
    household_id: str | None = None  # none: a new household with the citizen as its head
    address: StreetAddress
    relation_to_head: str


class PermanentRegistered(BaseModel):
    residence_no: str
    household_id: str
    registered_at: datetime


class DeregisterPermanentInput(ActivityInput):
    pid: str
    reason: str


class Deregistered(BaseModel):
    deregistration_no: str
    registered_at: datetime


class GetPersonInput(ActivityInput):
    pid: str


class Resident(BaseModel):
    pid: str
    household_id: str | None = None
    address: Address
    status: Literal["registered", "deregistered"]


class CancelRegistrationInput(ActivityInput):
    residence_no: str
    reason: str


class Cancelled(BaseModel):
    residence_no: str
    kind: Literal["permanent", "deregistration"]
    pid: str
    cancelled: bool


@activity.defn(name="residence.register_permanent")
async def register_permanent(req: RegisterPermanentInput) -> PermanentRegistered:
    """Register `pid` as a permanent resident at `address`. Once per key."""
    return await call(
        PermanentRegistered,
        REGISTRY,
        "POST",
        "/permanent",
        operation="permanent residence registration",
        json=payload(req),
        idempotency_key=req.idempotency_key,
    )


@activity.defn(name="residence.deregister_permanent")
async def deregister_permanent(req: DeregisterPermanentInput) -> Deregistered:
    """Deregister `pid`'s permanent residence (a death, a move abroad). Once per key."""
    return await call(
        Deregistered,
        REGISTRY,
        "POST",
        "/permanent/deregistrations",
        operation="permanent residence deregistration",
        json=payload(req),
        idempotency_key=req.idempotency_key,
    )


@activity.defn(name="residence.get_person")
async def get_person(req: GetPersonInput) -> Resident:
    """Where `pid` is registered, and whether the registration stands; NotFound if never."""
    path = f"/persons/{seg(req.pid)}"
    return await call(Resident, REGISTRY, "GET", path, operation="resident look-up")


@activity.defn(name="residence.cancel_registration")
async def cancel_registration(req: CancelRegistrationInput) -> Cancelled:
    """Cancel a residence registration (what `compensate` calls), under its own key."""
    return await call(
        Cancelled,
        REGISTRY,
        "POST",
        f"/registrations/{seg(req.residence_no)}/cancellations",
        operation="residence registration cancellation",
        json=payload(req, without=("residence_no",)),
        idempotency_key=req.idempotency_key,
    )


ACTIVITIES: list[Any] = [register_permanent, deregister_permanent, get_person, cancel_registration]
