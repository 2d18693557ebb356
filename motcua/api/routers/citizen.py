"""Citizens: the procedures on offer, the pre-filled form, submitting, following a dossier,
supplementing it, downloading its documents and rating the service.

Who may call: the catalogue (`GET /procedures`) is public, like the national portal's;
everything else is for citizens (`require("citizen")`), whose token's `sub` is their
personal id. A citizen sees only the dossiers they submitted here: another's dossier
answers 404, exactly like one that does not exist, so codes cannot be probed.

Submitting: the logged-in citizen is the applicant: the field the definition names for
the applicant's id is theirs, or, where several parties may file (a marriage), the field
of the party they say they are with `as` (motcua.cases.parties). The registries fill what
they know (motcua.cases.prefill; a pre-filled value sent different is refused), the
receiving agency is derived from that data, and the case starts through
motcua.cases.starting, pinning the token trust (ADR 0013). The `Idempotency-Key` header is
required: the same citizen and key give the same dossier, 201 the first time and 200 after
(motcua.api.submissions).

Refusals of what the citizen sent are in Vietnamese, with `problems`: one per field, a
stable code and what to do (motcua.api.citizen_refusals).

A supplement received and a document downloaded are appended to the audit log
(motcua.audit.log), the citizen named by a keyed pseudonym: a download before its bytes
are sent. A citizen reading their own dossier is not: no one else's data is read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path as FilePath
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response
from sqlmodel import col, or_, select
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from motcua import db
from motcua.activities.documents import IssuedDocumentRow
from motcua.activities.store import StoreError, get_store
from motcua.api import citizen_refusals as refusals
from motcua.api import submissions
from motcua.api.citizen_views import (
    DocumentOut,
    DossierItem,
    DossierView,
    FormOut,
    ProcedureOut,
    RatingIn,
    RatingOut,
    SubmitIn,
    Submitted,
    SupplementIn,
    SupplementOut,
    dossier_view,
    form_out,
    procedure_out,
    procedure_title,
)
from motcua.api.deps import TemporalClient, require
from motcua.api.identity import Principal, case_trust
from motcua.audit.keyed import text_ref
from motcua.audit.log import arecord
from motcua.cases import offering, starting
from motcua.cases.labels import STATUS_VI
from motcua.cases.prefill import prefill, receiving_agency
from motcua.workflows.contracts import CASE_STATUS, CaseState, SupplementInput
from motcua.workflows.dsl.model import ProcedureDefinition
from motcua.workflows.procedure import OPEN_STATUSES, ProcedureWorkflow

T = TypeVar("T")
Party = Annotated[
    str | None,
    Query(
        alias="as", max_length=100,
        description="Which of the procedure's `parties` the citizen is (a marriage: "
        "husband_pid or wife_pid); that field is filled with their id",
    ),
]  # fmt: skip
log = logging.getLogger(__name__)
router = APIRouter(tags=["citizen"])

Citizen = Annotated[Principal, Depends(require("citizen"))]
Code = Annotated[
    str, Path(max_length=120, pattern=r"^[A-Z0-9][A-Z0-9.\-]*$", description="Dossier code")
]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
        description="Any unique text per dossier (a UUID): a repeat returns the same dossier",
    ),
]  # fmt: skip
RPC_TIMEOUT = timedelta(seconds=15)

UNAVAILABLE = "cơ sở dữ liệu chuyên ngành tạm thời không truy cập được; Ông/Bà vui lòng thử lại sau"
BUSY = "hệ thống đang bận, chưa trả lời được; Ông/Bà vui lòng thử lại sau"


def _not_found(code: str) -> HTTPException:
    return HTTPException(404, f"không tìm thấy hồ sơ {code} trong các hồ sơ của Ông/Bà")


def _offered(procedure_id: str) -> tuple[FilePath, ProcedureDefinition]:
    found = offering.offered().get(procedure_id)
    if found is None:
        raise HTTPException(
            404, f"không có thủ tục '{procedure_id}' (danh sách thủ tục: GET /procedures)"
        )
    return found


async def _compiled(procedure_id: str) -> Any:
    path, _ = _offered(procedure_id)
    try:
        return await asyncio.to_thread(offering.compiled, path)
    except starting.InvalidDefinition:
        log.warning("procedure %s does not compile; it takes no dossiers", procedure_id)
        raise HTTPException(
            409, "thủ tục này tạm thời không nhận hồ sơ (định nghĩa thủ tục chưa hợp lệ)"
        ) from None


async def _temporal(code: str, call: Awaitable[T]) -> T:
    """Await a call on case `code`: a lost case is 404, a silent one 503."""
    try:
        return await call
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            if "completed" in e.message.lower() or "closed" in e.message.lower():
                raise HTTPException(409, f"hồ sơ {code} đã giải quyết xong") from None
            raise _not_found(code) from None
        log.warning("Temporal refused a call on a case: %s", e.status.name)
        raise HTTPException(503, BUSY) from None
    except WorkflowQueryFailedError:
        raise HTTPException(503, BUSY) from None


def _own(caller: Principal, code: str) -> submissions.Submission:
    row = submissions.owned(caller.sub, code)
    if row is None:
        raise _not_found(code)
    return row


# ---------------------------------------------------------------- procedures


@router.get("/procedures", response_model=list[ProcedureOut])
def procedures() -> list[ProcedureOut]:
    """The procedures and bundles a citizen may file (public): deadline, fee, papers, fields."""
    return [procedure_out(defn) for _, defn in offering.offered().values()]


@router.get("/procedures/{procedure_id}/form", response_model=FormOut)
async def form(
    procedure_id: str, request: Request, caller: Citizen, party: Party = None
) -> FormOut:
    """The form pre-filled for the logged-in citizen: what the registries know is filled in,
    only the fields left to type are empty. Fields typed so far may be passed as query
    parameters (`?birth_certificate_no=...`) so the look-ups that need them run too.

    The citizen's own personal id fills the field of the party they are (`party`). Where
    several people may file the procedure (`parties`: a marriage, by the man or the woman)
    the citizen says which they are with `?as=wife_pid`; without it the party fields stay
    to type, unless the citizen's own id is typed in one of them. Refused (422, in
    Vietnamese, with `problems`): `as` naming a field that is not a party, the citizen's id
    typed in another party's field, or another id typed in their own."""
    compiled = await _compiled(procedure_id)
    defn: ProcedureDefinition = compiled[0].definition
    typed: dict[str, Any] = {k: v for k, v in request.query_params.items() if k in defn.input}
    own = refusals.placed(defn, typed, caller.sub, party, must_know=False)
    if own:
        typed[own] = caller.sub
    out = form_out(defn, typed, await prefill(defn, typed), own, caller.sub)
    out.opened = submissions.form_opened_mark(caller.sub, defn.id, datetime.now(UTC))
    return out


# ---------------------------------------------------------------- submitting


async def _complete(
    defn: ProcedureDefinition, sent: dict[str, Any], sub: str, chosen: str | None
) -> tuple[dict[str, Any], str | None, int]:
    """The dossier to start (the citizen in their party's field, the registries' values
    filled in), its receiving agency, derived from registry data, and how many fields the
    citizen typed beyond what the registries and the login filled."""
    dossier = dict(sent)
    own = refusals.placed(defn, dossier, sub, chosen, must_know=True)
    if own:
        dossier[own] = sub
    found = await prefill(defn, dossier)
    if any(x.status == "unavailable" for x in found.lookups):
        raise HTTPException(503, UNAVAILABLE, {"Retry-After": "30"})
    changed = [n for n, v in found.values.items() if sent.get(n) not in (None, v)]
    if changed:
        raise refusals.prefilled_changed(defn, changed)
    dossier |= found.values
    filled = set(found.values) | ({own} if own else set())
    typed = [n for n, v in sent.items() if v not in (None, "") and n not in filled]
    return dossier, receiving_agency(defn, dossier, found), len(typed)


@router.post(
    "/dossiers",
    response_model=Submitted,
    status_code=201,
    responses={200: {"model": Submitted, "description": "A repeat: the dossier it submitted"}},
)
async def submit(
    body: SubmitIn,
    response: Response,
    caller: Citizen,
    client: TemporalClient,
    idempotency_key: IdempotencyKey,
) -> Submitted:
    """Submit a dossier (online). A repeat with the same Idempotency-Key returns the same
    dossier code; a different dossier under a used key is refused (422).

    The citizen's own personal id goes in the applicant's field, which they leave empty.
    Where several people may file the procedure (the catalogue's `parties`: a marriage, by
    the man or the woman), the citizen says which they are with `"as": "wife_pid"`, or
    types their own id in that party's field; the other parties' ids are typed. Refused
    (422, in Vietnamese): `as` that is not one of the parties, the citizen's id in another
    party's field, someone else's id in their own, or several parties and nothing saying
    which. A dossier the checks refuse answers 422 with `problems`: for each field a stable
    `code` and a Vietnamese `message` (what is wrong, what to do)."""
    compiled = await _compiled(body.procedure_id)
    defn: ProcedureDefinition = compiled[0].definition
    mark = submissions.submission_mark(caller.sub, idempotency_key)
    opened_at = None
    if body.form_opened:
        opened_at = submissions.form_opened_at(
            caller.sub, defn.id, body.form_opened, datetime.now(UTC)
        )
        if opened_at is None:
            raise HTTPException(
                422, "form_opened không phải mã do biểu mẫu này cấp cho bạn (hoặc đã quá hạn)"
            )
    typed_fields = 0

    async def start(on_code: Callable[[str], Awaitable[None]]) -> str:
        nonlocal typed_fields
        dossier, agency, typed_fields = await _complete(defn, body.dossier, caller.sub, body.party)
        prepared = starting.prepare(compiled, dossier, agency)
        trust = await asyncio.to_thread(case_trust)
        started = await starting.start(
            client, prepared, on_code=on_code, memo={"submission": mark}, trust=trust
        )
        return started.code

    async def started_here(code: str) -> bool:
        described = await starting.describe(client, code)
        return described is not None and await described.memo_value("submission", None) == mark

    try:
        outcome = await submissions.submit_once(
            owner=caller.sub, key=idempotency_key, procedure_id=defn.id,
            mac=submissions.request_mac(defn.id, body.dossier, party=body.party),
            start=start, started_here=started_here,
        )  # fmt: skip
    except starting.StartRefused as e:
        raise refusals.start_refused(e, caller.sub, defn) from None
    except RPCError as e:
        log.warning("Temporal refused a start: %s", e.status.name)
        raise HTTPException(503, BUSY) from None
    except submissions.KeyReused:
        raise HTTPException(
            422, "Idempotency-Key này đã được dùng cho một hồ sơ khác; mỗi hồ sơ một khóa mới"
        ) from None
    except submissions.StillSubmitting:
        raise HTTPException(
            409, "hồ sơ gửi với Idempotency-Key này đang được tiếp nhận; thử lại sau ít giây"
        ) from None
    if outcome.created:
        await db.run_sync(
            submissions.record_form, caller.sub, idempotency_key, typed_fields, opened_at
        )
    response.status_code = 201 if outcome.created else 200
    return Submitted(
        dossier_code=outcome.dossier_code, procedure_id=defn.id, repeated=not outcome.created
    )


# ---------------------------------------------------------------- following a dossier


async def _status(client: Client, code: str) -> str | None:
    try:
        described = await client.get_workflow_handle(code).describe(rpc_timeout=RPC_TIMEOUT)
    except RPCError:
        return None
    return described.typed_search_attributes.get(CASE_STATUS)


@router.get("/dossiers", response_model=list[DossierItem])
async def my_dossiers(
    caller: Citizen,
    client: TemporalClient,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[DossierItem]:
    """The caller's dossiers, newest first, with their status."""
    rows = await db.run_sync(lambda: submissions.mine(caller.sub, limit=limit, offset=offset))
    codes = [r.dossier_code or "" for r in rows]
    statuses = await asyncio.gather(*(_status(client, c) for c in codes))
    return [
        DossierItem(
            dossier_code=code,
            procedure_id=r.procedure_id,
            title=procedure_title(r.procedure_id),
            submitted_at=db.utc(r.submitted_at) if r.submitted_at else None,
            status=status,
            status_label=STATUS_VI.get(status) if status else None,
        )  # fmt: skip
        for r, code, status in zip(rows, codes, statuses, strict=True)
    ]


async def _states(
    client: Client, code: str, *, closed: bool = True
) -> tuple[CaseState, dict[str, CaseState]]:
    """The case's state and its members' (a bundle's tasks, decisions and events are in
    its members); with `closed` False, only the members still open."""
    handle = client.get_workflow_handle(code)
    state = await _temporal(code, handle.query(ProcedureWorkflow.state, rpc_timeout=RPC_TIMEOUT))
    open_members = [s for s, v in state.children.items() if closed or v in OPEN_STATUSES]

    async def member(step_id: str) -> CaseState | None:
        try:
            handle = client.get_workflow_handle(f"{code}.{step_id}")
            result: CaseState = await handle.query(ProcedureWorkflow.state, rpc_timeout=RPC_TIMEOUT)
            return result
        except (RPCError, WorkflowQueryFailedError):
            return None  # not started yet, or silent: its status in `children` says enough

    found = await asyncio.gather(*(member(s) for s in open_members))
    return state, {s: m for s, m in zip(open_members, found, strict=True) if m is not None}


@router.get("/dossiers/{code}", response_model=DossierView)
async def dossier(code: Code, caller: Citizen, client: TemporalClient) -> DossierView:
    """Status, open tasks (what is awaited, from whom, by when) and the timeline. A
    bundle's timeline holds its members' events too (each agency's decision), in time
    order, each naming its member (`member`, `member_title`, `dossier_code`)."""
    _own(caller, code)
    state, members = await _states(client, code)
    return dossier_view(state, members)


@router.post("/dossiers/{code}/supplement", response_model=SupplementOut)
async def supplement(
    code: Code, body: SupplementIn, caller: Citizen, client: TemporalClient
) -> SupplementOut:
    """Answer a supplement request: the fields sent go to the task that asked; it reopens."""
    _own(caller, code)
    refusals.clean_text("note", "Ghi chú", body.note)
    state, members = await _states(client, code, closed=False)
    cases = {code: state} | {f"{code}.{s}": m for s, m in members.items()}
    asking = [
        (case, t.step_id)
        for case, st in cases.items()
        for t in st.open_tasks
        if t.waiting_for == "citizen" and body.step_id in (None, t.step_id)
    ]
    if not asking:
        raise HTTPException(409, "hồ sơ không có yêu cầu bổ sung nào đang chờ Ông/Bà")
    if len(asking) > 1:
        steps = ", ".join(sorted({s for _, s in asking}))
        raise HTTPException(
            422, f"nhiều yêu cầu bổ sung đang chờ: ghi rõ step_id (một trong: {steps})"
        )
    case, step_id = asking[0]
    request = SupplementInput(
        step_id=step_id, actor=caller.sub, documents=body.documents, note=body.note
    )
    handle = client.get_workflow_handle(case)
    try:
        await _temporal(
            code,
            handle.execute_update(ProcedureWorkflow.supplement, request, rpc_timeout=RPC_TIMEOUT),
        )
    except WorkflowUpdateFailedError as e:
        cause = e.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause or e)
        raise refusals.supplement_refused(message, cases[case]) from None
    await arecord(
        "supplement", actor=caller.sub, role=caller.role, case=case,
        detail={"step": step_id, "documents": sorted(body.documents), "note": text_ref(body.note)},
    )  # fmt: skip
    return SupplementOut(
        dossier_code=case, step_id=step_id, message="Đã nhận hồ sơ bổ sung; cán bộ tiếp tục xử lý"
    )


# ---------------------------------------------------------------- documents


def _documents(code: str) -> list[IssuedDocumentRow]:
    """Every document the case `code` and its members issued, oldest first."""
    with db.session() as s:
        stmt = (
            select(IssuedDocumentRow)
            .where(
                or_(
                    col(IssuedDocumentRow.dossier_code) == code,
                    col(IssuedDocumentRow.dossier_code).startswith(f"{code}."),
                )
            )
            .order_by(col(IssuedDocumentRow.issued_at), col(IssuedDocumentRow.id))
        )
        return list(s.exec(stmt))


@router.get("/dossiers/{code}/documents", response_model=list[DocumentOut])
async def documents(code: Code, caller: Citizen) -> list[DocumentOut]:
    """The signed documents of the dossier: receipt, requests, refusals and results."""
    _own(caller, code)
    rows = await db.run_sync(_documents, code)
    return [
        DocumentOut(
            document_ref=r.document_ref,
            dossier_code=r.dossier_code,
            title=r.title,
            template=r.template,
            signed=r.signed,
            sha256=r.sha256,
            size=r.size,
            issued_at=db.utc(r.issued_at),
            verification_url=r.verification_url,
        )  # fmt: skip
        for r in rows
    ]


@router.get(
    "/dossiers/{code}/documents/{document_ref}",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "The signed PDF"}},
)
async def download(
    code: Code,
    document_ref: Annotated[str, Path(max_length=80, pattern=r"^[0-9a-f]{64}(\.[a-z0-9]{1,10})?$")],
    caller: Citizen,
) -> Response:
    """Download one of the dossier's documents, as signed."""
    _own(caller, code)
    rows = await db.run_sync(_documents, code)
    if not any(r.document_ref == document_ref for r in rows):
        raise HTTPException(404, f"hồ sơ {code} không có văn bản {document_ref}")
    try:
        data = await asyncio.to_thread(get_store().get, document_ref)
    except StoreError:
        log.error("document %s of a dossier is missing or corrupted in the store", document_ref)
        raise HTTPException(
            409, "văn bản này tạm thời không tải được; Ông/Bà vui lòng liên hệ cơ quan giải quyết"
        ) from None
    detail = {"document_ref": document_ref}
    await arecord("download", actor=caller.sub, role=caller.role, case=code, detail=detail)
    pdf = document_ref.endswith(".pdf")
    return Response(
        data,
        media_type="application/pdf" if pdf else "application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{code}-{document_ref[:12]}'
                 + (".pdf" if pdf else "") + '"'},
    )  # fmt: skip


# ---------------------------------------------------------------- rating


@router.post("/dossiers/{code}/rating", response_model=RatingOut, status_code=201)
async def rate(code: Code, body: RatingIn, caller: Citizen, client: TemporalClient) -> RatingOut:
    """Rate the service once the dossier is finished: 1-5 stars and a comment, once."""
    row = _own(caller, code)
    refusals.clean_text("comment", "Ý kiến", body.comment)
    described = await _temporal(
        code, client.get_workflow_handle(code).describe(rpc_timeout=RPC_TIMEOUT)
    )
    if described.status == WorkflowExecutionStatus.RUNNING:
        raise HTTPException(409, "Ông/Bà đánh giá được khi hồ sơ đã giải quyết xong")
    try:
        rating = await submissions.rate(
            code=code, owner=caller.sub, procedure_id=row.procedure_id,
            stars=body.stars, comment=body.comment,
        )  # fmt: skip
    except submissions.AlreadyRated:
        raise HTTPException(
            409, f"hồ sơ {code} đã được đánh giá; mỗi hồ sơ chỉ đánh giá một lần"
        ) from None
    return RatingOut(
        dossier_code=code, stars=rating.stars, comment=rating.comment,
        rated_at=db.utc(rating.rated_at),
    )  # fmt: skip
