"""What a case's Temporal history says about it, read without running any workflow code.

The archive (motcua.audit.archive) records these facts beside the history; replay
(motcua.audit.replay) uses `step_of` to say which step an event belongs to. Payloads are
decoded with the data converter (motcua.temporal), so reading needs the codec keys.

Facts: the start input (CaseStart: its definition or the reference to it), the accepted
officer decisions (`decide` Updates), the member cases started as child workflows with how
they ended, and how the case itself closed.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from temporalio.api.common.v1 import Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from motcua.activities.documents import IssuedDocument
from motcua.temporal import data_converter
from motcua.workflows.contracts import CaseResult, CaseStart, DecideInput

CASE_WORKFLOW = "ProcedureWorkflow"
DOCUMENT_ACTIVITY = "documents.issue"

# How a closing event ends a case whose result does not say it (a completed case's does).
CLOSED_AS: dict[int, str] = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED: "failed",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED: "aborted",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED: "terminated",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT: "timed_out",
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: "continued_as_new",
}
CHILD_CLOSED_AS: dict[int, str] = {
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_FAILED: "failed",
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_CANCELED: "aborted",
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TERMINATED: "terminated",
    EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_TIMED_OUT: "timed_out",
}


class DecisionFact(BaseModel):
    event_id: int
    at: datetime
    step_id: str
    action: str
    role: str
    agency: str
    actor: str
    comment_sha256: str  # the reason itself may name people: kept in the history, encrypted


class MemberFact(BaseModel):
    step_id: str
    dossier_code: str
    run_id: str | None = None
    status: str = "running"


class CaseFacts(BaseModel):
    dossier_code: str
    run_id: str
    start: CaseStart
    started_at: datetime
    closed_at: datetime | None = None
    status: str = "running"
    decisions: list[DecisionFact] = []
    members: list[MemberFact] = []
    documents: list[IssuedDocument] = []


def at(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


async def decode(payloads: Payloads, converter: DataConverter, *types: type) -> list[Any]:
    """The values in `payloads`, as `types` (plain JSON values where no type is given)."""
    values = list(payloads.payloads)
    if not values:
        return []
    return await converter.decode(values, list(types) or None)


async def read_facts(history: WorkflowHistory, converter: DataConverter | None = None) -> CaseFacts:
    """The facts of the case whose history this is (one run of it)."""
    conv = converter or data_converter()
    first = history.events[0]
    started = first.workflow_execution_started_event_attributes
    (start,) = await decode(started.input, conv, CaseStart)
    facts = CaseFacts(
        dossier_code=history.workflow_id,
        run_id=history.run_id,
        start=start,
        started_at=at(first),
    )
    members: dict[int, MemberFact] = {}
    document_calls: set[int] = set()  # scheduled event ids of documents.issue
    for e in history.events:
        t = e.event_type
        if t == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if e.activity_task_scheduled_event_attributes.activity_type.name == DOCUMENT_ACTIVITY:
                document_calls.add(e.event_id)
        elif t == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = e.activity_task_completed_event_attributes
            if done.scheduled_event_id in document_calls:
                (issued,) = await decode(done.result, conv, IssuedDocument)
                facts.documents.append(issued)
        elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            request = e.workflow_execution_update_accepted_event_attributes.accepted_request
            if request.input.name == "decide":
                (d,) = await decode(request.input.args, conv, DecideInput)
                facts.decisions.append(_decision(e, d))
        elif t == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            child = e.start_child_workflow_execution_initiated_event_attributes
            if child.workflow_type.name == CASE_WORKFLOW:
                step = child.workflow_id.removeprefix(f"{history.workflow_id}.")
                members[e.event_id] = MemberFact(step_id=step, dossier_code=child.workflow_id)
        elif t == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
            a = e.child_workflow_execution_started_event_attributes
            if a.initiated_event_id in members:
                members[a.initiated_event_id].run_id = a.workflow_execution.run_id
        elif t == EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED:
            c = e.child_workflow_execution_completed_event_attributes
            if c.initiated_event_id in members:
                (result,) = await decode(c.result, conv, CaseResult)
                members[c.initiated_event_id].status = result.status.value
        elif t in CHILD_CLOSED_AS:
            initiated = _child_initiated(e)
            if initiated in members:
                members[initiated].status = CHILD_CLOSED_AS[t]
        elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            result_payloads = e.workflow_execution_completed_event_attributes.result
            (result,) = await decode(result_payloads, conv, CaseResult)
            facts.status, facts.closed_at = result.status.value, at(e)
        elif t in CLOSED_AS:
            facts.status, facts.closed_at = CLOSED_AS[t], at(e)
    facts.members = list(members.values())
    return facts


def _decision(event: HistoryEvent, d: DecideInput) -> DecisionFact:
    return DecisionFact(
        event_id=event.event_id,
        at=at(event),
        step_id=d.step_id,
        action=d.action,
        role=d.role,
        agency=d.agency,
        actor=d.actor,
        comment_sha256=hashlib.sha256(d.comment.encode()).hexdigest(),
    )


def _child_initiated(event: HistoryEvent) -> int:
    for name in (
        "child_workflow_execution_failed_event_attributes",
        "child_workflow_execution_canceled_event_attributes",
        "child_workflow_execution_terminated_event_attributes",
        "child_workflow_execution_timed_out_event_attributes",
    ):
        if event.HasField(name):
            return int(getattr(event, name).initiated_event_id)
    return 0


def event_name(event: HistoryEvent) -> str:
    """`ActivityTaskScheduled` for EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: Temporal's UI names."""
    raw = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
    return "".join(part.capitalize() for part in raw.split("_"))
