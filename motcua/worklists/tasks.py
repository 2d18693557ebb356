"""An agency's inbox, and deciding a task as the token's holder.

The inbox: visibility lists the running cases whose `Agency` is the caller's (the agency of
their open task) in the statuses asked for; each case's `state` then gives its open tasks,
kept when they are for that agency and for one of the caller's roles. A task of a case
that holds two tasks at once, at two agencies, shows only in the inbox of the agency the
case names in `Agency` (the first task opened): a read model with one row per task would
show both.

Deciding: the role, agency and actor of a decision are the caller's, from the token. The
task must be for the caller's agency and need one of the caller's roles (its escalation
role once it is escalated); otherwise the decision is refused before anything is sent.
Everything else (the action, what is missing) the case's own validator judges.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from motcua.workflows.contracts import CaseState, CaseStatus, DecideInput, Decision, OpenTask
from motcua.worklists.errors import WorkRefused, on_case
from motcua.worklists.listing import RPC_TIMEOUT, CaseFilter, list_cases
from motcua.worklists.states import state_of, states_of

if TYPE_CHECKING:
    from temporalio.client import Client

InboxStatus = Literal["waiting_officer", "waiting_citizen", "stalled"]


class InboxTask(BaseModel):
    """One open task (no personal data: the case's codes, the task and its dates)."""

    dossier_code: str
    procedure_id: str
    case_status: CaseStatus
    step_id: str
    role: str
    agency: str
    actions: list[str]
    waiting_for: Literal["officer", "citizen"]
    opened_at: datetime
    due_at: datetime | None = Field(description="The task's own deadline")
    escalated: bool = Field(description="The task's own deadline passed without a decision")
    escalate_to: str | None
    case_due_at: datetime | None = Field(description="The case's legal deadline")
    overdue: bool = Field(description="The case's legal deadline has passed")
    decide_as: str | None = Field(
        description="The role the caller decides this task as; none: the caller may not"
    )


class InboxPage(BaseModel):
    tasks: list[InboxTask]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; none when this was the last. A "
        "page holds the tasks of up to `limit` cases, so it may hold fewer tasks, or none, "
        "and still not be the last."
    )
    unanswered: list[str] = Field(
        default_factory=list,
        description="Cases listed that did not answer in time (no worker?): their tasks "
        "are missing from this page",
    )


def decide_as(task: OpenTask, roles: Sequence[str]) -> str | None:
    """The role among `roles` that may decide `task`, if any."""
    if task.role in roles:
        return task.role
    if task.escalated and task.escalate_to and task.escalate_to in roles:
        return task.escalate_to
    return None


def tasks_in(
    state: CaseState, *, agency: str, roles: Sequence[str] | None, now: datetime
) -> list[InboxTask]:
    """The open tasks of `state` for `agency` and one of `roles` (None: every role)."""
    overdue = state.due_at is not None and state.due_at < now
    found = []
    for task in state.open_tasks:
        role = decide_as(task, roles or ())
        if task.agency != agency or (roles is not None and role is None):
            continue
        found.append(
            InboxTask(
                dossier_code=state.dossier_code,
                procedure_id=state.procedure_id,
                case_status=state.status,
                step_id=task.step_id,
                role=task.role,
                agency=task.agency,
                actions=list(task.actions),
                waiting_for=task.waiting_for,
                opened_at=task.opened_at,
                due_at=task.due_at,
                escalated=task.escalated,
                escalate_to=task.escalate_to,
                case_due_at=state.due_at,
                overdue=overdue,
                decide_as=role if task.waiting_for == "officer" else None,
            )
        )
    return found


async def inbox(
    client: Client,
    *,
    agency: str,
    roles: Sequence[str] | None,
    statuses: Sequence[InboxStatus] = ("waiting_officer",),
    procedure: str | None = None,
    due_before: datetime | None = None,
    overdue: bool = False,
    limit: int = 50,
    cursor: str | None = None,
) -> InboxPage:
    """One page of the open tasks of `agency` for `roles` (None: every role, for a
    supervisor), in cases of `statuses`. `due_before` and `overdue` look at the case's
    legal deadline (DueAt), which visibility filters on."""
    now = datetime.now(UTC)
    f = CaseFilter(
        statuses=[CaseStatus(s) for s in statuses],
        holder=agency,
        procedure=procedure,
        due_before=due_before,
        overdue=overdue,
    )
    page = await list_cases(client, f, limit=limit, cursor=cursor, now=now)
    states, unanswered = await states_of(client, [r.dossier_code for r in page.rows])
    tasks = [t for s in states.values() for t in tasks_in(s, agency=agency, roles=roles, now=now)]
    return InboxPage(tasks=tasks, next_cursor=page.next_cursor, unanswered=unanswered)


async def decide(
    client: Client,
    code: str,
    step: str,
    *,
    agency: str | None,
    roles: Sequence[str],
    actor: str,
    action: str,
    comment: str = "",
    form: dict[str, Any] | None = None,
    missing: Sequence[str] = (),
    token: str | None = None,
) -> Decision:
    """Decide task `step` of case `code` as `actor` of `agency` holding `roles`; refused
    (WorkRefused) before anything is sent when the task is not the caller's to decide."""
    state = await state_of(client, code)
    task = next((t for t in state.open_tasks if t.step_id == step), None)
    if task is None:
        open_ids = ", ".join(t.step_id for t in state.open_tasks) or "none"
        raise WorkRefused("conflict", f"no open task '{step}' (open tasks: {open_ids})")
    if agency != task.agency:
        raise WorkRefused(
            "forbidden", f"task '{step}' is for {task.agency}, not for your agency {agency}"
        )
    role = decide_as(task, roles)
    if role is None:
        needed = task.role + (f" or {task.escalate_to}" if task.escalated else "")
        yours = ", ".join(roles) or "none"
        raise WorkRefused(
            "forbidden", f"task '{step}' needs the role {needed}; your roles: {yours}"
        )
    if task.waiting_for != "officer":
        raise WorkRefused("conflict", f"task '{step}' is waiting for the citizen's supplement")
    decision = DecideInput(
        step_id=step,
        action=action,
        role=role,
        agency=task.agency,
        actor=actor,
        comment=comment,
        form=form or {},
        missing=list(missing),
        token=token,  # a case that pins trust checks it (ADR 0013)
    )
    handle = client.get_workflow_handle(code)
    result: Decision = await on_case(
        code,
        handle.execute_update("decide", decision, result_type=Decision, rpc_timeout=RPC_TIMEOUT),
    )
    return result
