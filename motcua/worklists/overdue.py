"""Overdue work of an agency, for its supervisors.

A task is overdue when its own deadline has passed (the case escalates it then) or the
case's legal deadline has. The workflow assigns a task to a role at an agency, never to a
person (OpenTask has no assignee), so overdue work is grouped by role; each task names
who last decided in its case (`last_actor`), the officer who last acted on it. Assigning
or reassigning a task to a person needs a change to the workflow (ADR 0016).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from motcua.workflows.contracts import CaseState, CaseStatus
from motcua.worklists.listing import CaseFilter, every_case
from motcua.worklists.states import states_of

if TYPE_CHECKING:
    from temporalio.client import Client

ASSIGNMENT = (
    "Tasks are assigned to a role at an agency, not to a person: grouped by role; "
    "last_actor is who last decided in the case."
)


class OverdueTask(BaseModel):
    dossier_code: str
    procedure_id: str
    step_id: str
    due_at: datetime | None = Field(description="The task's own deadline")
    case_due_at: datetime | None = Field(description="The case's legal deadline")
    task_overdue: bool
    case_overdue: bool
    escalated: bool
    escalate_to: str | None
    last_actor: str | None = Field(description="The officer who last decided in the case")


class OverdueGroup(BaseModel):
    role: str
    count: int
    tasks: list[OverdueTask]


class OverdueReport(BaseModel):
    agency: str
    as_of: datetime
    assignment: str = ASSIGNMENT
    groups: list[OverdueGroup]
    by_last_actor: dict[str, int] = Field(
        description="Overdue tasks per officer who last decided in their case ('-': nobody)"
    )
    unanswered: list[str] = Field(default_factory=list)


def overdue_in(
    states: Iterable[CaseState], *, agency: str, now: datetime, unanswered: list[str] | None = None
) -> OverdueReport:
    """The overdue officer tasks of `agency` among `states`, by role."""
    by_role: dict[str, list[OverdueTask]] = {}
    for state in states:
        case_overdue = state.due_at is not None and state.due_at < now
        last_actor = state.decisions[-1].actor if state.decisions else None
        for task in state.open_tasks:
            if task.agency != agency or task.waiting_for != "officer":
                continue
            task_overdue = task.escalated or (task.due_at is not None and task.due_at < now)
            if not (task_overdue or case_overdue):
                continue
            by_role.setdefault(task.role, []).append(
                OverdueTask(
                    dossier_code=state.dossier_code,
                    procedure_id=state.procedure_id,
                    step_id=task.step_id,
                    due_at=task.due_at,
                    case_due_at=state.due_at,
                    task_overdue=task_overdue,
                    case_overdue=case_overdue,
                    escalated=task.escalated,
                    escalate_to=task.escalate_to,
                    last_actor=last_actor,
                )
            )
    groups = [
        OverdueGroup(role=role, count=len(tasks), tasks=tasks)
        for role, tasks in sorted(by_role.items())
    ]
    actors = Counter(t.last_actor or "-" for g in groups for t in g.tasks)
    return OverdueReport(
        agency=agency,
        as_of=now,
        groups=groups,
        by_last_actor=dict(sorted(actors.items())),
        unanswered=unanswered or [],
    )


async def overdue(client: Client, *, agency: str) -> OverdueReport:
    """Every running case whose task `agency` holds, read for overdue tasks."""
    now = datetime.now(UTC)
    f = CaseFilter(statuses=[CaseStatus.waiting_officer, CaseStatus.stalled], holder=agency)
    rows = await every_case(client, f, now=now)
    states, unanswered = await states_of(client, [r.dossier_code for r in rows])
    return overdue_in(states.values(), agency=agency, now=now, unanswered=unanswered)
