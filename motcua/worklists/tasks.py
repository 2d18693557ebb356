"""What an inbox shows of a task, and deciding a task as the token's holder.

The inbox itself is a query of the read model (motcua.readmodel.inbox): one row per task,
so a case with tasks at two agencies at once is in both inboxes.

Deciding: the role, agency and actor of a decision are the caller's, from the token. The
task must be for the caller's agency and need one of the caller's roles (its escalation
role once it is escalated); otherwise the decision is refused before anything is sent.
Everything else (the action, what is missing) the case's own validator judges.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from motcua.workflows.contracts import AssignInput, CaseStatus, DecideInput, Decision, OpenTask
from motcua.worklists.errors import WorkRefused, on_case
from motcua.worklists.listing import RPC_TIMEOUT
from motcua.worklists.states import state_of

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
    assignee: str | None = Field(None, description="The officer a supervisor assigned it to")
    decide_as: str | None = Field(
        description="The role the caller decides this task as; none: the caller may not"
    )


class InboxPage(BaseModel):
    tasks: list[InboxTask]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; none when this was the last"
    )


def decide_as(task: OpenTask, roles: Sequence[str]) -> str | None:
    """The role among `roles` that may decide `task`, if any."""
    if task.role in roles:
        return task.role
    if task.escalated and task.escalate_to and task.escalate_to in roles:
        return task.escalate_to
    return None


async def _agency_task(client: Client, code: str, step: str, agency: str | None) -> OpenTask:
    """Open task `step` of case `code`, if it is `agency`'s (WorkRefused otherwise)."""
    state = await state_of(client, code)
    task = next((t for t in state.open_tasks if t.step_id == step), None)
    if task is None:
        open_ids = ", ".join(t.step_id for t in state.open_tasks) or "none"
        raise WorkRefused("conflict", f"no open task '{step}' (open tasks: {open_ids})")
    if agency != task.agency:
        raise WorkRefused(
            "forbidden", f"task '{step}' is for {task.agency}, not for your agency {agency}"
        )
    return task


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
    task = await _agency_task(client, code, step, agency)
    role = decide_as(task, roles)
    if role is None:
        needed = task.role + (f" or {task.escalate_to}" if task.escalated else "")
        yours = ", ".join(roles) or "none"
        raise WorkRefused(
            "forbidden", f"task '{step}' needs the role {needed}; your roles: {yours}"
        )
    if task.waiting_for != "officer":
        raise WorkRefused("conflict", f"task '{step}' is waiting for the citizen's supplement")
    if task.assignee and task.assignee != actor:
        raise WorkRefused("forbidden", f"task '{step}' is assigned to {task.assignee}")
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


async def assign(
    client: Client,
    code: str,
    step: str,
    *,
    agency: str | None,
    officer: str,
    actor: str,
    reason: str = "",
    token: str | None = None,
) -> OpenTask:
    """Assign task `step` of case `code` to `officer`, as supervisor `actor` of `agency`;
    refused (WorkRefused) before anything is sent when the task is not the agency's."""
    await _agency_task(client, code, step, agency)
    assignment = AssignInput(step_id=step, officer=officer, actor=actor, reason=reason, token=token)
    handle = client.get_workflow_handle(code)
    result: OpenTask = await on_case(
        code,
        handle.execute_update("assign", assignment, result_type=OpenTask, rpc_timeout=RPC_TIMEOUT),
    )
    return result
