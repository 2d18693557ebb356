"""Population register (CSDL quốc gia về dân cư): who a citizen is, and their household."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel
from temporalio import activity

from motcua.activities.base import ActivityInput
from motcua.activities.registries.http import call, seg


class Address(BaseModel):
    street: str
    commune_code: str
    commune_name: str
    province_code: str
    province_name: str


class GetCitizenInput(ActivityInput):
    pid: str


class Citizen(BaseModel):
    pid: str
    full_name: str
    birth_date: date
    sex: Literal["male", "female"]
    ethnicity: str
    nationality: str
    address: Address
    household_id: str | None = None
    phone: str | None = None
    email: str | None = None
    alive: bool
    death_date: date | None = None


class GetHouseholdInput(ActivityInput):
    household_id: str


class Household(BaseModel):
    household_id: str
    head_pid: str
    members: list[str]
    address: Address


@activity.defn(name="population.get_citizen")
async def get_citizen(req: GetCitizenInput) -> Citizen:
    """The citizen with personal id `pid`; NotFound if the register has none."""
    path = f"/citizens/{seg(req.pid)}"
    return await call(Citizen, "population", "GET", path, operation="citizen look-up")


@activity.defn(name="population.get_household")
async def get_household(req: GetHouseholdInput) -> Household:
    """The household `household_id`: its head, members and address."""
    path = f"/households/{seg(req.household_id)}"
    return await call(Household, "population", "GET", path, operation="household look-up")


ACTIVITIES: list[Any] = [get_citizen, get_household]
