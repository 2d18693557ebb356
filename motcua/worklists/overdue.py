"""Overdue work of an agency, for its supervisors, from the read model.

A task is overdue when its own deadline has passed (the case escalates it then) or the
case's legal deadline has. Work is grouped by the officer it is assigned to (a supervisor
assigns it, `assign`); a task nobody was assigned is grouped under its role, for whoever
holds that role. Each task names who last decided in its case (`last_actor`).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import func, or_
from sqlmodel import col, select

from motcua import db
from motcua.readmodel.tables import DecisionView, DossierView, TaskView

ASSIGNMENT = (
    "Grouped by the officer each task is assigned to; a task nobody was assigned is under "
    "its role, for whoever holds it. A supervisor reassigns with POST "
    "/cases/{code}/tasks/{step}/assign."
)


class OverdueTask(BaseModel):
    dossier_code: str
    procedure_id: str
    step_id: str
    role: str
    due_at: datetime | None = Field(description="The task's own deadline")
    case_due_at: datetime | None = Field(description="The case's legal deadline")
    task_overdue: bool
    case_overdue: bool
    escalated: bool
    escalate_to: str | None
    last_actor: str | None = Field(description="The officer who last decided in the case")


class OverdueGroup(BaseModel):
    officer: str | None = Field(description="The officer the tasks are assigned to; none: nobody")
    role: str | None = Field(description="For unassigned tasks: the role that may decide them")
    count: int
    tasks: list[OverdueTask]


class OverdueReport(BaseModel):
    agency: str
    as_of: datetime
    assignment: str = ASSIGNMENT
    groups: list[OverdueGroup]
    by_officer: dict[str, int] = Field(
        description="Overdue tasks per assigned officer ('-': not assigned)"
    )


def _moment(value: datetime | None) -> datetime | None:
    return db.utc(value) if value is not None else None


def overdue(*, agency: str, now: datetime) -> OverdueReport:
    """The open officer tasks of `agency` past their own or their case's deadline."""
    last = (
        select(DecisionView.dossier_code, func.max(DecisionView.n).label("n"))
        .group_by(col(DecisionView.dossier_code))
        .subquery()
    )
    query = (
        select(TaskView, DecisionView.actor)
        .join(DossierView, col(DossierView.dossier_code) == col(TaskView.dossier_code))
        .outerjoin(last, last.c.dossier_code == col(TaskView.dossier_code))
        .outerjoin(
            DecisionView,
            (col(DecisionView.dossier_code) == last.c.dossier_code)
            & (col(DecisionView.n) == last.c.n),
        )
        .where(
            col(TaskView.agency) == agency,
            col(TaskView.is_open),
            col(TaskView.waiting_for) == "officer",
            or_(
                col(TaskView.escalated),
                col(TaskView.due_at) < now,
                col(TaskView.case_due_at) < now,
            ),
        )
        .order_by(col(TaskView.case_due_at), col(TaskView.dossier_code), col(TaskView.n))
    )
    with db.session() as s:
        rows = list(s.exec(query))
    groups: dict[tuple[str | None, str | None], list[OverdueTask]] = {}
    for t, last_actor in rows:
        due, case_due = _moment(t.due_at), _moment(t.case_due_at)
        key = (t.assignee, None) if t.assignee else (None, t.role)
        groups.setdefault(key, []).append(
            OverdueTask(
                dossier_code=t.dossier_code,
                procedure_id=t.procedure_id,
                step_id=t.step_id,
                role=t.role,
                due_at=due,
                case_due_at=case_due,
                task_overdue=t.escalated or (due is not None and due < now),
                case_overdue=case_due is not None and case_due < now,
                escalated=t.escalated,
                escalate_to=t.escalate_to,
                last_actor=last_actor,
            )
        )
    report = [
        OverdueGroup(officer=officer, role=role, count=len(tasks), tasks=tasks)
        for (officer, role), tasks in sorted(
            groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or "")
        )
    ]
    per_officer = Counter({g.officer or "-": 0 for g in report})
    for g in report:
        per_officer[g.officer or "-"] += g.count
    return OverdueReport(
        agency=agency, as_of=now, groups=report, by_officer=dict(sorted(per_officer.items()))
    )
