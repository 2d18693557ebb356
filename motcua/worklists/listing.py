"""Cases as Temporal's visibility lists them: by status, agency, procedure and due date.

What the search attributes mean (the case keeps them current, motcua.workflows.case_book):
- `CaseStatus`: the case's status (a bundle shows a stalled or waiting member's);
- `Agency`: the agency of the case's open task (the first, when several are open at once);
  it stays when the task closes, so it names the agency that last held the case, and it
  is unset until the case's first task opens;
- `DueAt`: the case's legal deadline, the date the citizen was promised (an apology moves
  it); a task's own deadline is only in the case's `state`;
- `ProcedureId`, `DossierCode`. The agency that received the dossier is the dossier code's
  prefix (motcua.dossier_codes), for member cases too (`<bundle code>.<step>`).

A page follows Temporal's own page token, handed out as an opaque cursor. Visibility on a
SQL store cannot ORDER BY: cases come newest first, not by due date.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from motcua.workflows.contracts import (
    AGENCY,
    CASE_STATUS,
    DUE_AT,
    PROCEDURE_ID,
    WORKFLOW_TYPE,
    CaseStatus,
)
from motcua.worklists.errors import WorkRefused

if TYPE_CHECKING:
    from temporalio.client import Client, WorkflowExecution

RPC_TIMEOUT = timedelta(seconds=15)
MAX_PAGE = 500
OPEN = (
    CaseStatus.running,
    CaseStatus.waiting_officer,
    CaseStatus.waiting_citizen,
    CaseStatus.stalled,
)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,79}$")  # agency codes, procedure ids
# `<agency>-<yymmdd>-<sequence>`, and `.<step>` for a bundle's member.
_CODE = re.compile(r"^(?P<agency>[A-Za-z0-9][A-Za-z0-9.\-]*?)-\d{6}-[0-9A-Za-z]+(?:\..+)?$")


class CaseFilter(BaseModel):
    """Which cases: every condition given must hold."""

    statuses: list[CaseStatus] = Field(default_factory=list, description="Any of these")
    holder: str | None = Field(None, description="Agency holds (or last held) the case's task")
    agency: str | None = Field(None, description="Agency received the dossier or holds its task")
    received_by: str | None = Field(None, description="Agency received the dossier")
    procedure: str | None = None
    due_before: datetime | None = Field(None, description="Legal deadline before this moment")
    overdue: bool = Field(False, description="Legal deadline already passed")
    running_only: bool = Field(True, description="Only cases whose workflow still runs")


class CaseRow(BaseModel):
    """One case as visibility knows it (no personal data: codes, status, dates)."""

    dossier_code: str
    procedure_id: str | None
    status: str | None = Field(description="CaseStatus, as the case last reported it")
    agency: str | None = Field(description="The agency that holds or last held its task")
    received_by: str | None = Field(description="The agency that received the dossier")
    due_at: datetime | None = Field(description="The legal deadline")
    started_at: datetime | None
    running: bool = Field(description="Whether the workflow still runs")


class CasePage(BaseModel):
    rows: list[CaseRow]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; none when this was the last"
    )


def received_by(code: str) -> str | None:
    """The agency that received the dossier: its code's prefix (member codes included)."""
    match = _CODE.match(code)
    return match["agency"] if match else None


def checked_name(value: str, what: str) -> str:
    """An agency code or procedure id safe to put in a visibility query (no quotes)."""
    if not _NAME.match(value):
        example = "vn.birth_registration" if what == "procedure" else "UBND-00070"
        raise WorkRefused(
            "invalid", f"{what} must be letters, digits, '.', '_' or '-' (e.g. {example})"
        )
    return value


def _aware(value: datetime) -> datetime:
    """A moment without a zone is UTC's."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _moment(value: datetime) -> str:
    return _aware(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def visibility_query(f: CaseFilter, now: datetime) -> str:
    """The query Temporal's visibility answers for `f` (its values checked, no quotes)."""
    parts = [f"WorkflowType = '{WORKFLOW_TYPE}'"]
    if f.running_only:
        parts.append("ExecutionStatus = 'Running'")
    if f.statuses:
        listed = ", ".join(f"'{CaseStatus(s).value}'" for s in dict.fromkeys(f.statuses))
        parts.append(f"{CASE_STATUS.name} IN ({listed})")
    if f.holder:
        parts.append(f"{AGENCY.name} = '{checked_name(f.holder, 'agency')}'")
    if f.received_by:
        parts.append(f"DossierCode STARTS_WITH '{checked_name(f.received_by, 'agency')}-'")
    if f.agency:
        a = checked_name(f.agency, "agency")
        parts.append(f"({AGENCY.name} = '{a}' OR DossierCode STARTS_WITH '{a}-')")
    if f.procedure:
        parts.append(f"{PROCEDURE_ID.name} = '{checked_name(f.procedure, 'procedure')}'")
    before = [_aware(t) for t in (f.due_before, now if f.overdue else None) if t is not None]
    if before:
        parts.append(f"{DUE_AT.name} < '{_moment(min(before))}'")
    return " AND ".join(parts)


def row_of(execution: WorkflowExecution) -> CaseRow:
    from temporalio.client import WorkflowExecutionStatus

    attrs = execution.typed_search_attributes
    return CaseRow(
        dossier_code=execution.id,
        procedure_id=attrs.get(PROCEDURE_ID),
        status=attrs.get(CASE_STATUS),
        agency=attrs.get(AGENCY),
        received_by=received_by(execution.id),
        due_at=attrs.get(DUE_AT),
        started_at=execution.start_time,
        running=execution.status == WorkflowExecutionStatus.RUNNING,
    )


def _wanted(row: CaseRow, f: CaseFilter) -> bool:
    """What a prefix match cannot say exactly: `UBND-1` is a prefix of `UBND-1-...` and of
    `UBND-1-2-...`; the code's own parse decides."""
    if f.received_by and row.received_by != f.received_by:
        return False
    return not f.agency or f.agency in (row.agency, row.received_by)


def _seal(f: CaseFilter, token: bytes) -> bytes:
    """A check that a cursor came from a listing with the same filter (not a secret: a
    forged one still gets no further than Temporal refusing its page token)."""
    return hashlib.sha256(f.model_dump_json().encode() + token).digest()[:8]


def encode_cursor(f: CaseFilter, token: bytes | None) -> str | None:
    if not token:
        return None
    return base64.urlsafe_b64encode(_seal(f, token) + token).decode().rstrip("=")


def decode_cursor(f: CaseFilter, cursor: str | None) -> bytes | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    seal, token = raw[:8], raw[8:]
    if not token or seal != _seal(f, token):
        raise WorkRefused("invalid", "cursor is not one this listing handed out") from None
    return token


async def list_cases(
    client: Client,
    f: CaseFilter,
    *,
    limit: int = 50,
    cursor: str | None = None,
    now: datetime | None = None,
) -> CasePage:
    """One page of at most `limit` cases matching `f`, newest first."""
    from temporalio.service import RPCError, RPCStatusCode

    query = visibility_query(f, now or datetime.now(UTC))
    pages = client.list_workflows(
        query,
        page_size=max(1, min(limit, MAX_PAGE)),
        next_page_token=decode_cursor(f, cursor),
        rpc_timeout=RPC_TIMEOUT,
    )
    try:
        await pages.fetch_next_page()
    except RPCError as e:
        if e.status == RPCStatusCode.INVALID_ARGUMENT or cursor:
            raise WorkRefused("invalid", f"Temporal refused the listing: {e.message}") from None
        raise WorkRefused("no_answer", f"Temporal could not list cases ({e.status.name})") from None
    rows = [row_of(e) for e in pages.current_page or []]
    return CasePage(
        rows=[r for r in rows if _wanted(r, f)],
        next_cursor=encode_cursor(f, pages.next_page_token),
    )


async def every_case(
    client: Client, f: CaseFilter, *, now: datetime | None = None
) -> list[CaseRow]:
    """Every case matching `f`, page after page (for bulk work and reports)."""
    rows: list[CaseRow] = []
    cursor: str | None = None
    while True:
        page = await list_cases(client, f, limit=MAX_PAGE, cursor=cursor, now=now)
        rows += page.rows
        if page.next_cursor is None:
            return rows
        cursor = page.next_cursor
