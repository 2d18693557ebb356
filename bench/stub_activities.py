"""Stub activities with canned answers, for benchmarks that measure the workflow side only.

Registered under the product's activity names, with the product's input and result models,
so the engine and the hand-written twin schedule exactly the same calls and decode the same
payloads: whatever differs between them is workflow code. No I/O: no registry, no PDF, no
database, no e-mail. The answers have the shapes the sandbox registries give (docs/
sandbox-api.md), so the birth registration's expressions find every field they read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from temporalio import activity

from motcua.activities.calendar import Deadline, DeadlineRequest
from motcua.activities.documents import DocumentRequest, IssuedDocument
from motcua.activities.notifications import Delivery, NotifyInput, NotifyResult
from motcua.activities.registries.civil_status import BirthRegistered, RegisterBirthInput
from motcua.activities.registries.health import (
    BirthCertificate,
    GetBirthCertificateInput,
    Newborn,
)
from motcua.activities.registries.population import Address, Citizen, GetCitizenInput

VN = ZoneInfo("Asia/Ho_Chi_Minh")
# Far enough ahead that neither the deadline timer nor the apology timer nor the task's
# escalation fires while a benchmark round runs, whatever the time of day.
DUE_AFTER = timedelta(days=10)
COMMUNE = Address(
    street="Số 12 ngõ 34 phố Trần Phú",
    commune_code="00070",  # a commune of today's list (places.py): the paperwork names it
    commune_name="Phường Hoàn Kiếm",
    province_code="01",
    province_name="Thành phố Hà Nội",
)


def _digits(seed: str, n: int = 12) -> str:
    """A stable number from `seed` (a personal id, a registration number)."""
    return str(int(hashlib.sha256(seed.encode()).hexdigest(), 16))[:n]


@activity.defn(name="calendar.add_working_days")
async def add_working_days(request: DeadlineRequest) -> Deadline:
    due = (request.start + DUE_AFTER).astimezone(VN).replace(hour=17, minute=0, second=0)
    return Deadline(
        due=due, due_date=due.date(), day_zero=request.start.date(), calendar_version="stub"
    )


@activity.defn(name="population.get_citizen")
async def get_citizen(req: GetCitizenInput) -> Citizen:
    return Citizen(
        pid=req.pid,
        full_name="Nguyễn Thị Hoa",
        birth_date=date(1994, 3, 8),
        sex="female",
        ethnicity="Kinh",
        nationality="Việt Nam",
        address=COMMUNE,
        household_id="HK" + _digits(req.pid, 10),
        phone="0912345678",
        email="hoa@example.vn",
        alive=True,
    )


@activity.defn(name="health.get_birth_certificate")
async def get_birth_certificate(req: GetBirthCertificateInput) -> BirthCertificate:
    return BirthCertificate(
        certificate_no=req.certificate_no,
        mother_pid="001194000123",
        child=Newborn(
            birth_date=date(2026, 11, 9), sex="male", place_of_birth="Bệnh viện Phụ sản Hà Nội"
        ),
        issued_by="Bệnh viện Phụ sản Hà Nội",
        issued_at=datetime(2026, 11, 10, 2, 30, tzinfo=UTC),
    )


@activity.defn(name="civil_status.register_birth")
async def register_birth(req: RegisterBirthInput) -> BirthRegistered:
    return BirthRegistered(
        registration_no="KS-" + _digits(req.idempotency_key, 8),
        child_pid="0012" + _digits(req.idempotency_key, 8),
        registered_at=datetime.now(UTC),
        commune_code=req.commune_code,
    )


@activity.defn(name="documents.issue")
async def issue(req: DocumentRequest) -> IssuedDocument:
    digest = hashlib.sha256(req.idempotency_key.encode()).hexdigest()
    code = digest[:12].upper()
    return IssuedDocument(
        document_ref=f"sha256:{digest}",
        sha256=digest,
        size=48_213,
        title=req.title or req.template,
        template=req.template,
        sign_as=req.sign_as,
        signed=True,
        verification_code=code,
        verification_url=f"http://localhost:8000/verify/{req.dossier_code}/{code}",
    )


@activity.defn(name="notify.send")
async def send(req: NotifyInput) -> NotifyResult:
    at = datetime.now(UTC)
    deliveries = [
        Delivery(
            channel=c,
            status="sent",
            address="h***@example.vn",
            outbox_id=i,
            at=at,
            provider_id=f"stub-{i}",
            attempts=1,
        )
        for i, c in enumerate(req.channels, start=1)
    ]
    return NotifyResult(
        template=req.template, subject="Thông báo", deliveries=deliveries, replayed=False
    )


ACTIVITIES: list[Callable[..., Any]] = [
    add_working_days,
    get_citizen,
    get_birth_certificate,
    register_birth,
    issue,
    send,
]
