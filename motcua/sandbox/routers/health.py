"""Health facilities: birth certificates (giấy chứng sinh) and death notices (giấy báo tử)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from motcua.sandbox.common import add_ledger, answer, not_found, sandbox_of

SERVICE = "health"
router = APIRouter(prefix="/health")
add_ledger(router, SERVICE)


@router.get("/birth-certificates/{certificate_no}")
async def get_birth_certificate(certificate_no: str, request: Request) -> Response:
    cert = sandbox_of(request).world.birth_certificates.get(certificate_no)
    if cert is None:
        raise not_found("birth certificate")
    return answer(
        200,
        {
            "certificate_no": cert.certificate_no,
            "mother_pid": cert.mother_pid,
            "child": {
                "birth_date": cert.birth_date.isoformat(),
                "sex": cert.sex,
                "place_of_birth": cert.place_of_birth,
            },
            "issued_by": cert.issued_by,
            "issued_at": cert.issued_at.isoformat(),
        },
    )


@router.get("/death-notices/{notice_no}")
async def get_death_notice(notice_no: str, request: Request) -> Response:
    notice = sandbox_of(request).world.death_notices.get(notice_no)
    if notice is None:
        raise not_found("death notice")
    return answer(
        200,
        {
            "notice_no": notice.notice_no,
            "pid": notice.pid,
            "death_date": notice.death_date.isoformat(),
            "place_of_death": notice.place_of_death,
            "issued_by": notice.issued_by,
        },
    )
