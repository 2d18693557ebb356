"""Officers and supervisors: the inbox, decisions, the stalled list and resumes, overdue work.

Who may call: officers and supervisors (`require("officer", "supervisor")`), acting within
the agency their token names; overdue work per role is for supervisors only. The role,
agency and actor of a decision or resume come from the token, never from the body (a
body that names them is refused, 422). What the case refuses comes back as 409 (its state
does not allow it now) or 422 (the request is wrong), with the case's own message.

The inbox is read from the read model (motcua.readmodel, ADR 0014); the stalled list and
overdue work from Temporal's visibility and the cases' state (motcua.worklists, ADR 0016).

Every decision, assignment and resume that took effect is appended to the audit log
(motcua.audit.log) with the caller's account and role; comments and reasons only by length
and keyed digest (they may name people), form fields by name.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from temporalio.service import RPCError

from motcua import db
from motcua.api.deps import TemporalClient, require
from motcua.api.identity import Principal
from motcua.audit.keyed import text_ref
from motcua.audit.log import arecord
from motcua.readmodel import inbox as read_inbox
from motcua.workflows.contracts import Decision, OpenTask, ResumeAction
from motcua.worklists import overdue, stalls, tasks
from motcua.worklists.errors import KIND_STATUS, WorkRefused

T = TypeVar("T")
log = logging.getLogger(__name__)
router = APIRouter(tags=["officer"])

Staff = Annotated[Principal, Depends(require("officer", "supervisor"))]
Supervisor = Annotated[Principal, Depends(require("supervisor"))]
Code = Annotated[
    str, Path(max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-_]*$", description="Dossier code")
]
Step = Annotated[str, Path(max_length=80, pattern=r"^[A-Za-z0-9_.\-]+$", description="Step id")]
Limit = Annotated[int, Query(ge=1, le=200, description="At most this many rows per page")]
Cursor = Annotated[str | None, Query(max_length=2000, description="`next_cursor` of a page")]
Activity = Annotated[
    str | None,
    Query(
        max_length=120, description="An activity (population.get_citizen) or family (population.)"
    ),
]


def _agency(caller: Principal) -> str:
    if not caller.agency:
        raise HTTPException(403, "your token names no agency: ask for an officer's account")
    return caller.agency


def _token(request: Request) -> str | None:
    """The caller's bearer token (verified already), for cases that check it (ADR 0013)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _answer(call: Awaitable[T]) -> T:
    try:
        return await call
    except WorkRefused as e:
        raise HTTPException(KIND_STATUS[e.kind], e.message) from None
    except RPCError as e:  # Temporal itself did not answer: down, overloaded
        log.warning("Temporal did not answer a call on a case: %s", e.status.name)
        raise HTTPException(
            503, f"Temporal could not answer ({e.status.name}); try again shortly"
        ) from None


# ---------------------------------------------------------------- inbox and decisions


@router.get("/inbox", response_model=tasks.InboxPage)
async def inbox(
    caller: Staff,
    procedure: Annotated[str | None, Query(max_length=80, description="Procedure id")] = None,
    status: Annotated[
        list[tasks.InboxStatus] | None,
        Query(description="Case statuses (repeat); default waiting_officer"),
    ] = None,
    due_before: Annotated[
        datetime | None, Query(description="The case's legal deadline is before this moment")
    ] = None,
    overdue: Annotated[bool, Query(description="The case's legal deadline has passed")] = False,
    mine: Annotated[bool, Query(description="Only the tasks assigned to me")] = False,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> tasks.InboxPage:
    """Open tasks of the caller's agency for the caller's officer roles (a supervisor sees
    every role's), newest first, from the read model."""
    now = datetime.now(UTC)
    f = read_inbox.InboxFilter(
        agency=_agency(caller),
        roles=None if caller.role == "supervisor" else list(caller.officer_roles),
        statuses=list(status or ["waiting_officer"]),
        procedure=procedure,
        due_before=due_before,
        overdue_at=now if overdue else None,
        assignee=caller.sub if mine else None,
        caller=caller.sub,
    )
    return await _answer(
        db.run_sync(lambda: read_inbox.page(f, now=now, limit=limit, cursor=cursor))
    )


class DecideBody(BaseModel):
    """What the officer decides; who decides, in which role and agency, is the token's."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(min_length=1, max_length=40, description="approve, reject, ...")
    comment: str = Field("", max_length=2000, description="Reason or note recorded")
    form: dict[str, Any] = Field(default_factory=dict, description="The task's form fields")
    missing: list[Annotated[str, Field(max_length=300)]] = Field(
        default_factory=list, max_length=50, description="For request_supplement"
    )


@router.post("/cases/{code}/tasks/{step}/decide", response_model=Decision)
async def decide(
    code: Code, step: Step, body: DecideBody, caller: Staff, client: TemporalClient,
    request: Request,
) -> Decision:  # fmt: skip
    """Decide an open task of the caller's agency in one of the caller's roles (403
    otherwise, before anything reaches the case)."""
    decision = await _answer(
        tasks.decide(
            client,
            code,
            step,
            agency=_agency(caller),
            roles=caller.officer_roles,
            actor=caller.sub,
            action=body.action,
            comment=body.comment,
            form=body.form,
            missing=body.missing,
            token=_token(request),
        )
    )
    await arecord(
        "decide", actor=caller.sub, role=caller.role, case=code,
        detail={"step": step, "action": body.action, "comment": text_ref(body.comment),
                "form_fields": sorted(body.form), "missing": len(body.missing)},
    )  # fmt: skip
    return decision


# ---------------------------------------------------------------- stalled cases


@router.get("/stalled", response_model=stalls.StalledPage)
async def stalled(
    caller: Staff,
    client: TemporalClient,
    activity: Activity = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> stalls.StalledPage:
    """Stalled steps in the cases the caller's agency received: step, activity, error,
    attempts and since when."""
    return await _answer(
        stalls.stalled(
            client, agency=_agency(caller), activity=activity, limit=limit, cursor=cursor
        )
    )


class ResumeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step: str = Field(min_length=1, max_length=80, description="The stalled step")
    action: ResumeAction
    reason: str = Field(min_length=1, max_length=1000, description="Why; recorded on the case")
    result: dict[str, Any] | None = Field(None, description="For provide: the step's result")


@router.post("/cases/{code}/resume", response_model=stalls.ResumeOutcome)
async def resume(
    code: Code, body: ResumeBody, caller: Staff, client: TemporalClient, request: Request
) -> stalls.ResumeOutcome:
    """Resume one stalled step of a case the caller's agency received."""
    outcome = await _answer(
        stalls.resume(
            client,
            code,
            agency=_agency(caller),
            step=body.step,
            action=body.action,
            actor=caller.sub,
            reason=body.reason,
            result=body.result,
            token=_token(request),
        )
    )
    await _resumed(caller, [outcome], body.action, body.reason, body.result)
    return outcome


async def _resumed(
    caller: Principal,
    outcomes: list[stalls.ResumeOutcome],
    action: ResumeAction,
    reason: str,
    result: dict[str, Any] | None,
    **more: Any,
) -> None:
    """One audit entry per step resumed (a skipped or refused one changed nothing)."""
    for o in outcomes:
        if o.outcome == "resumed":
            await arecord(
                "resume", actor=caller.sub, role=caller.role, case=o.dossier_code,
                detail={"step": o.step_id, "action": action, "reason": text_ref(reason),
                        "result_fields": sorted(result or {}), **more},
            )  # fmt: skip


class BulkResumeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    activity: str = Field(
        min_length=1, max_length=120,
        description="The activity (population.get_citizen) or family (population.)",
    )  # fmt: skip
    action: ResumeAction = "retry"
    reason: str = Field(min_length=1, max_length=1000, description="Recorded on every case")
    result: dict[str, Any] | None = Field(None, description="For provide: the same result")
    dry_run: bool = Field(False, description="Only list what would be resumed")


@router.post("/stalled/resume", response_model=stalls.BulkResume)
async def resume_all(
    body: BulkResumeBody, caller: Staff, client: TemporalClient, request: Request
) -> stalls.BulkResume:
    """Resume every step stalled on one activity in the cases the caller's agency received
    (after a registry outage, say), one reason on each; safe to repeat: a case already
    resumed is skipped."""
    done = await _answer(
        stalls.resume_all(
            client,
            agency=_agency(caller),
            activity=body.activity,
            action=body.action,
            actor=caller.sub,
            reason=body.reason,
            result=body.result,
            token=_token(request),
            dry_run=body.dry_run,
        )
    )
    await _resumed(
        caller, done.outcomes, body.action, body.reason, body.result, activity=body.activity
    )
    return done


# ---------------------------------------------------------------- supervision


@router.get("/supervision/overdue", response_model=overdue.OverdueReport)
async def overdue_work(caller: Supervisor) -> overdue.OverdueReport:
    """Overdue tasks of the supervisor's agency, per officer they are assigned to (per role
    where nobody was assigned), from the read model."""
    agency, now = _agency(caller), datetime.now(UTC)
    return await db.run_sync(lambda: overdue.overdue(agency=agency, now=now))


class AssignBody(BaseModel):
    """Who takes the task; who assigns it, and in which agency, is the token's."""

    model_config = ConfigDict(extra="forbid")

    officer: str = Field(
        min_length=1, max_length=200, description="The officer's account id, of your agency"
    )
    reason: str = Field("", max_length=500, description="Why, recorded on the case")


@router.post("/cases/{code}/tasks/{step}/assign", response_model=OpenTask)
async def assign(
    code: Code, step: Step, body: AssignBody, caller: Supervisor, client: TemporalClient,
    request: Request,
) -> OpenTask:  # fmt: skip
    """Assign (or reassign) an open task of the supervisor's agency to one officer: from
    then on only that officer decides it. Sent to the case as its `assign` Update."""
    task = await _answer(
        tasks.assign(
            client,
            code,
            step,
            agency=_agency(caller),
            officer=body.officer,
            actor=caller.sub,
            reason=body.reason,
            token=_token(request),
        )
    )
    await arecord(
        "assign", actor=caller.sub, role=caller.role, case=code,
        detail={"step": step, "officer": body.officer, "reason": text_ref(body.reason)},
    )  # fmt: skip
    return task
