"""Health facilities' records: birth certificates (giấy chứng sinh) and death notices."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel
from temporalio import activity

from motcua.activities.base import ActivityInput
from motcua.activities.registries.http import call, seg

REGISTRY = "health"


class GetBirthCertificateInput(ActivityInput):
    certificate_no: str


class Newborn(BaseModel):
    birth_date: date
    sex: Literal["male", "female"]
    place_of_birth: str


class BirthCertificate(BaseModel):
    certificate_no: str
    mother_pid: str
    child: Newborn
    issued_by: str
    issued_at: datetime


class GetDeathNoticeInput(ActivityInput):
    notice_no: str


class DeathNotice(BaseModel):
    notice_no: str
    pid: str
    death_date: date
    place_of_death: str
    issued_by: str


@activity.defn(name="health.get_birth_certificate")
async def get_birth_certificate(req: GetBirthCertificateInput) -> BirthCertificate:
    """The birth certificate a hospital issued for a newborn."""
    path = f"/birth-certificates/{seg(req.certificate_no)}"
    return await call(
        BirthCertificate, REGISTRY, "GET", path, operation="birth certificate look-up"
    )


@activity.defn(name="health.get_death_notice")
async def get_death_notice(req: GetDeathNoticeInput) -> DeathNotice:
    """The death notice (giấy báo tử) a hospital or commune issued."""
    path = f"/death-notices/{seg(req.notice_no)}"
    return await call(DeathNotice, REGISTRY, "GET", path, operation="death notice look-up")


ACTIVITIES: list[Any] = [get_birth_certificate, get_death_notice]
