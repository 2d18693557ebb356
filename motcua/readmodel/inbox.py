"""An agency's inbox from the read model: one SQL query, whatever the number of open cases.

A task shows in the inbox of its own agency, for its role (its escalation role once
escalated), while its case is in one of the statuses asked for; newest first, a page of
tasks at a time, with a keyset cursor (opened_at, dossier code, place) bound to the filter
that handed it out. The rows are as fresh as the case's last projection: a case writes
them before its Update returns (motcua.workflows.procedure).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import and_, or_, tuple_
from sqlmodel import col, select

from motcua import db
from motcua.readmodel.tables import DossierView, TaskView
from motcua.workflows.contracts import CaseStatus
from motcua.worklists.errors import WorkRefused
from motcua.worklists.tasks import InboxPage, InboxTask


class InboxFilter(BaseModel):
    agency: str
    roles: list[str] | None  # None: every role (a supervisor)
    statuses: list[str]
    procedure: str | None = None
    due_before: datetime | None = None
    overdue_at: datetime | None = None  # the case's deadline passed before this moment
    assignee: str | None = None  # only the tasks assigned to this officer
    caller: str | None = None  # who asks: a task assigned to another is not theirs to decide


def _seal(f: InboxFilter, after: list[object]) -> str:
    text = f.model_dump_json() + json.dumps(after, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cursor(f: InboxFilter, last: TaskView) -> str:
    after: list[object] = [last.opened_at.isoformat(), last.dossier_code, last.n]
    raw = json.dumps({"after": after, "seal": _seal(f, after)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(f: InboxFilter, cursor: str) -> tuple[datetime, str, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        after = data["after"]
        if data["seal"] == _seal(f, after):
            return db.utc(datetime.fromisoformat(after[0])), str(after[1]), int(after[2])
    except (binascii.Error, ValueError, TypeError, KeyError, IndexError):
        pass
    raise WorkRefused("invalid", "cursor is not one this listing handed out")


def page(f: InboxFilter, *, now: datetime, limit: int = 50, cursor: str | None = None) -> InboxPage:
    """One page of at most `limit` open tasks matching `f`, newest first."""
    query = (
        select(TaskView, DossierView.status)
        .join(DossierView, col(DossierView.dossier_code) == col(TaskView.dossier_code))
        .where(
            col(TaskView.agency) == f.agency,
            col(TaskView.is_open),
            col(DossierView.status).in_(f.statuses),
        )
    )
    if f.roles is not None:
        query = query.where(
            or_(
                col(TaskView.role).in_(f.roles),
                and_(col(TaskView.escalated), col(TaskView.escalate_to).in_(f.roles)),
            )
        )
    if f.procedure:
        query = query.where(col(TaskView.procedure_id) == f.procedure)
    if f.assignee:
        query = query.where(col(TaskView.assignee) == f.assignee)
    if f.due_before:
        query = query.where(col(TaskView.case_due_at) < f.due_before)
    if f.overdue_at:
        query = query.where(col(TaskView.case_due_at) < f.overdue_at)
    key = (col(TaskView.opened_at), col(TaskView.dossier_code), col(TaskView.n))
    if cursor:
        query = query.where(tuple_(*key) < tuple_(*_after(f, cursor)))
    query = query.order_by(*(k.desc() for k in key)).limit(limit + 1)
    with db.session() as s:
        found = list(s.exec(query))
    tasks = [_task(t, CaseStatus(status), f, now) for t, status in found[:limit]]
    more = len(found) > limit
    return InboxPage(tasks=tasks, next_cursor=_cursor(f, found[limit - 1][0]) if more else None)


def _task(t: TaskView, status: CaseStatus, f: InboxFilter, now: datetime) -> InboxTask:
    roles = f.roles
    role: str | None = None  # a supervisor (roles None) sees every task, deciding none
    if t.assignee and t.assignee != f.caller:
        role = None  # assigned to another officer
    elif roles is not None and t.role in roles:
        role = t.role
    elif roles is not None and t.escalated and t.escalate_to in roles:
        role = t.escalate_to
    case_due = db.utc(t.case_due_at) if t.case_due_at else None
    return InboxTask(
        dossier_code=t.dossier_code,
        procedure_id=t.procedure_id,
        case_status=status,
        step_id=t.step_id,
        role=t.role,
        agency=t.agency,
        actions=t.actions.split(",") if t.actions else [],
        waiting_for="citizen" if t.waiting_for == "citizen" else "officer",
        opened_at=db.utc(t.opened_at),
        due_at=db.utc(t.due_at) if t.due_at else None,
        escalated=t.escalated,
        escalate_to=t.escalate_to,
        case_due_at=case_due,
        overdue=case_due is not None and case_due < now,
        assignee=t.assignee,
        decide_as=role if t.waiting_for == "officer" else None,
    )
