"""Auditors: a case's timeline, its replay, its evidence bundle, and the audit log's chain.

Who may call: auditors and admins. The same as the terminal's `motcua timeline`, `replay`,
`export` and `audit verify` (motcua.cli.auditing): a case's history comes from Temporal
while it keeps it, else from the archive (motcua.audit.replay.load_history); neither
having it is a 404 in Vietnamese and English.

Personal data (ids, names, addresses, phones) is masked in timelines and in the evidence
bundle's timeline unless the caller's token carries the `personal_data` permission
(motcua.api.identity); the answer says which (`personal_data`). Every timeline, replay and
export is appended to the audit log (motcua.audit.log) with the caller's account and role,
before the data is handed out.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Awaitable
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Query
from fastapi.responses import FileResponse, PlainTextResponse
from starlette.background import BackgroundTask
from temporalio.client import WorkflowHistory
from temporalio.service import RPCError

from motcua import db
from motcua.activities.store import StoreError
from motcua.api.deps import TemporalClient, require
from motcua.api.errors import Refusal
from motcua.api.identity import PERSONAL_DATA, Principal
from motcua.audit import log as audit_log
from motcua.audit.archive import ArchiveMissing
from motcua.audit.evidence import export_case
from motcua.audit.replay import HistoryNotFound, ReplayReport, load_history, replay
from motcua.audit.timeline import Timeline, build_timeline, render_text

T = TypeVar("T")
log = logging.getLogger(__name__)
router = APIRouter(tags=["auditor"])

Auditor = Annotated[Principal, Depends(require("auditor", "admin"))]
Code = Annotated[
    str,
    Path(
        min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-_]*$",
        description="Dossier code (a member case: CODE.step)",
    ),
]  # fmt: skip
BUSY = "Temporal is not answering now; try again shortly"
UNREADABLE = (
    "Không đọc được hồ sơ: lịch sử, văn bản hoặc định nghĩa của hồ sơ bị thiếu hoặc đã bị thay "
    "đổi trong kho. (The case's archived history, a document or its definition is missing or "
    "altered in the store.)"
)
REFUSALS: dict[int | str, dict[str, Any]] = {
    404: {"model": Refusal, "description": "Neither Temporal nor the archive has the case"},
    409: {"model": Refusal, "description": "What the case needs is missing or altered in store"},
}


def not_found(code: str) -> HTTPException:
    return HTTPException(
        404,
        f"Không tìm thấy hồ sơ {code} trong Temporal hay trong kho lưu trữ; hãy kiểm tra mã "
        f"hồ sơ. (Neither Temporal nor the archive has case {code}; check the dossier code.)",
    )


async def _read(code: str, call: Awaitable[T]) -> T:
    """Await a read of case `code`: nowhere to be found is 404, Temporal not answering 503,
    a stored file missing or altered 409 (the store's message names no person)."""
    try:
        return await call
    except HistoryNotFound:
        raise not_found(code) from None
    except RPCError as e:
        log.warning("Temporal refused an auditor's read: %s", e.status.name)
        raise HTTPException(503, BUSY) from None
    except (ArchiveMissing, StoreError) as e:
        log.error("a case's stored files cannot be read: %s", e)
        raise HTTPException(409, f"{UNREADABLE} {e}") from None


def _personal(caller: Principal) -> bool:
    return caller.may(PERSONAL_DATA)


# ---------------------------------------------------------------- the timeline


@router.get(
    "/audit/cases/{code}/timeline",
    response_model=Timeline,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "The timeline as JSON, or as text (`format=text`)",
        },
        **REFUSALS,
    },
)
async def timeline(
    code: Code,
    caller: Auditor,
    client: TemporalClient,
    format: Annotated[
        Literal["json", "text"], Query(description="json, or text to read (Vietnamese)")
    ] = "json",
) -> Timeline | PlainTextResponse:
    """Auditors, admins: what happened in the case, step by step, its member cases nested;
    personal data masked unless the token carries the personal_data permission."""
    history, source = await _read(code, load_history(client, code))
    personal = _personal(caller)

    async def member(workflow_id: str) -> WorkflowHistory | None:
        try:
            return (await load_history(client, workflow_id))[0]
        except HistoryNotFound:
            return None

    built = await _read(code, build_timeline(history, personal_data=personal, fetch_member=member))
    await audit_log.arecord(
        "timeline", actor=caller.sub, role=caller.role, case=code,
        detail={"source": source, "personal_data": personal, "format": format},
    )  # fmt: skip
    if format == "text":
        return PlainTextResponse(render_text(built))
    return built


# ---------------------------------------------------------------- replay


@router.post("/audit/cases/{code}/replay", response_model=ReplayReport, responses=REFUSALS)
async def replay_case(code: Code, caller: Auditor, client: TemporalClient) -> ReplayReport:
    """Auditors, admins: replay the case's history with today's workflow code: deterministic,
    or the first event where the code diverges (its id, type and step), or failed."""
    history, source = await _read(code, load_history(client, code))
    report = await replay(history, source)
    await audit_log.arecord(
        "replay", actor=caller.sub, role=caller.role, case=code,
        detail={"source": source, "outcome": report.outcome},
    )  # fmt: skip
    return report


# ---------------------------------------------------------------- evidence


def _temp_zip() -> FilePath:
    fd, name = tempfile.mkstemp(prefix="motcua-evidence-", suffix=".zip")
    os.close(fd)
    return FilePath(name)


def _remove(path: FilePath) -> None:
    path.unlink(missing_ok=True)


@router.get(
    "/audit/cases/{code}/evidence",
    response_class=FileResponse,
    responses={
        200: {
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The evidence bundle; check it offline with `motcua verify FILE`",
        },
        **REFUSALS,
    },
)
async def evidence(code: Code, caller: Auditor, client: TemporalClient) -> FileResponse:
    """Auditors, admins: the evidence bundle of the case (histories, definitions, records,
    signed documents, timeline, signed manifest of hashes); personal data in its timeline
    only with the personal_data permission."""
    personal = _personal(caller)
    path = await asyncio.to_thread(_temp_zip)
    try:
        manifest = await _read(code, export_case(client, code, path, personal_data=personal))
        await audit_log.arecord(
            "export", actor=caller.sub, role=caller.role, case=code,
            detail={"personal_data": personal, "files": len(manifest["files"])},
        )  # fmt: skip
    except BaseException:
        await asyncio.to_thread(_remove, path)
        raise
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"{code}.evidence.zip",
        background=BackgroundTask(_remove, path),
    )


# ---------------------------------------------------------------- the audit log


@router.get("/audit/log/verify", response_model=audit_log.ChainReport)
async def verify_log(caller: Auditor) -> audit_log.ChainReport:
    """Auditors, admins: walk the audit log's hash chain: intact, or its first broken entry."""
    return await db.run_sync(audit_log.verify)
