"""One pass over a case's decoded history, in event order, into its timeline.

What the history does not say outright is inferred here, from the events around it:
- a task's deadline timer belongs to the step of the decision or supplement handled in the
  workflow task that cancelled it; any other timer (a `wait`, the apology) to no step;
- a stall is the failed call of the step an officer then resumed; a stall with no failed
  call (an expression that failed) is the moment the case's status turned `stalled`, or the
  resume itself; a stall nobody resumed is the failed call before the status turned;
- a member's step is its workflow id after the bundle's code, `{dossier_code}.{step_id}`;
  only members of type ProcedureWorkflow are members (an archiving child is not).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from temporalio.api.enums.v1 import WorkflowTaskFailedCause

from motcua.audit.decoded import Decoded
from motcua.audit.masking import ENGINE_REASONS, Masker, sha256_json
from motcua.audit.timeline_calls import CLOSED, activity_entry, key_of, parse_key
from motcua.audit.timeline_model import (
    CancelRequestEntry,
    DeadlineEntry,
    EndEntry,
    EngineErrorEntry,
    Entry,
    MemberEntry,
    MemberStatusEntry,
    MessageEntry,
    ReceivedEntry,
    StallEntry,
    Timeline,
    TimerEntry,
)
from motcua.audit.timeline_steps import step_spans, steps_of_definition
from motcua.audit.timeline_updates import TASK_UPDATES, WRITTEN, update_entry, update_input
from motcua.workflows.contracts import WORKFLOW_TYPE
from motcua.workflows.procedure import (
    CANCELLED_REASON,
    FETCH_ACTIVITY,
    FETCH_STEP,
    MEMBER_STATUS_SIGNAL,
)

FETCH_TITLE = ("call", "Lấy định nghĩa thủ tục từ kho, theo mã băm hồ sơ liên thông giao")
CHILD_CLOSED = {
    "child_workflow_execution_failed": "failed",
    "child_workflow_execution_canceled": "aborted",
    "child_workflow_execution_terminated": "terminated",
    "child_workflow_execution_timed_out": "timed_out",
    "start_child_workflow_execution_failed": "failed",
}
CASE_CLOSED = {
    "workflow_execution_failed": "failed",
    "workflow_execution_canceled": "aborted",
    "workflow_execution_terminated": "terminated",
    "workflow_execution_timed_out": "timed_out",
    "workflow_execution_continued_as_new": "continued_as_new",
}
EVENT_SIGNAL = "event"  # ProcedureWorkflow.event: EventInput(name, data)
ENDED = ("child_workflow_execution_completed", "workflow_execution_completed")
FREE_REASONS = ("rejected", "aborted")  # their reason is written by people (masking.reason)
TimerOutcome = Literal["fired", "canceled", "pending"]


class CaseReader:
    """Reads one history; `members` are the member cases' readers, by initiated event id
    (None where the member's history was not fetched)."""

    def __init__(
        self,
        workflow_id: str,
        run_id: str | None,
        events: list[Decoded],
        members: dict[int, CaseReader | None],
        mask: Masker,
    ) -> None:
        self.workflow_id, self.run_id, self.events = workflow_id, run_id, events
        self.members, self.mask = members, mask
        first = events[0]
        start = first.values[0] if first.values and isinstance(first.values[0], dict) else {}
        self.start: dict[str, Any] = start
        self.code: str = start.get("dossier_code") or workflow_id
        self.definition: dict[str, Any] = (start.get("procedure") or {}).get("definition") or {}
        self.entries: list[Entry] = []
        self.runs: dict[str, int] = {}  # step id -> its latest run
        self.activities: dict[int, Decoded] = {}  # scheduled event id -> scheduled event
        self.started: dict[int, Decoded] = {}  # scheduled event id -> started event
        self.timers: dict[str, Decoded] = {}
        self.updates: dict[str, Decoded] = {}  # update id -> accepted event
        self.task_steps: dict[int, str] = {}  # workflow task -> step of a task's Update in it
        self.children: dict[int, MemberEntry] = {}
        self.failures: list[StallEntry] = []  # failed calls that may be a stall's cause
        self.stalled_at: list[Decoded] = []  # the status turned `stalled`, not yet explained
        self.member_stalled = False  # a member reported a stall: the bundle's is its
        self.status = "running"
        self.due: Any = None
        self.end: EndEntry | None = None

    def learn(self) -> None:
        """Teach the masker every personal value and written text of this case and its
        members, before any entry is written."""
        for d in self.events:
            self.mask.learn(d.values)
            if d.kind == "workflow_execution_update_accepted":
                for key in WRITTEN:
                    self.mask.learn_written(update_input(d).get(key))
            elif d.kind in ENDED and d.values and isinstance(d.values[0], dict):
                # A member's rejection, read in its bundle's history (the member's own
                # may not be fetched): the officer's comment, repeated in the output.
                end = d.values[0]
                if end.get("status") in FREE_REASONS and end.get("reason") not in ENGINE_REASONS:
                    self.mask.learn_written(end.get("reason"))
        for member in self.members.values():
            if member is not None:
                member.learn()

    def timeline(self) -> Timeline:
        for d in self.events:
            self._read(d)
        for scheduled in list(self.activities.values()):  # still running: an open case
            self._activity(scheduled, None)
        for started in self.timers.values():
            self._timer(started, None, "pending", None)
        self._stalls_not_resumed()
        steps = steps_of_definition(self.definition) | {FETCH_STEP: FETCH_TITLE}
        times = {d.id: d.at for d in self.events}
        entries = step_spans(self.entries, steps, times, closed=self.end is not None)
        pinned = _pinned(self.start)
        return Timeline(
            dossier_code=self.code,
            workflow_id=self.workflow_id,
            run_id=self.run_id,
            parent=self.start.get("parent"),
            procedure_id=pinned[0],
            procedure_version=pinned[1],
            definition_hash=pinned[2],
            channel=self.start.get("channel"),
            status=self.end.status if self.end is not None else self.status,
            started_at=self.events[0].at,
            closed_at=self.end.at if self.end is not None else None,
            personal_data=self.mask.personal_data,
            history_events=len(self.events),
            entries=entries,
        )

    def _on_workflow_execution_started(self, d: Decoded) -> None:
        dossier = self.start.get("dossier") or {}
        self.entries.append(
            ReceivedEntry(
                event_ids=[d.id],
                at=d.at,
                channel=self.start.get("channel"),
                dossier=self.mask.value(dossier),
                dossier_sha256=sha256_json(dossier),
            )
        )

    def _read(self, d: Decoded) -> None:
        handler = getattr(self, f"_on_{d.kind}", None)
        if handler is not None:
            handler(d)
        elif d.kind in CLOSED:
            scheduled = self.activities.pop(d.attrs.scheduled_event_id, None)
            if scheduled is not None:
                self._activity(scheduled, d)
        elif d.kind in CHILD_CLOSED:
            self._child_closed(d, CHILD_CLOSED[d.kind])
        elif d.kind in CASE_CLOSED:
            self._case_closed(d, CASE_CLOSED[d.kind])

    # ------------------------------------------------------------------ activities

    def _on_activity_task_scheduled(self, d: Decoded) -> None:
        self.activities[d.id] = d
        step, run = parse_key(key_of(d) or "", self.code)
        if step is not None:
            self.runs[step] = max(self.runs.get(step, 1), run)

    def _on_activity_task_started(self, d: Decoded) -> None:
        self.started[d.attrs.scheduled_event_id] = d

    def _activity(self, scheduled: Decoded, closed: Decoded | None) -> None:
        if scheduled.attrs.activity_type.name == FETCH_ACTIVITY and closed and closed.values:
            fetched = closed.values[0] if isinstance(closed.values[0], dict) else {}
            self.definition = fetched.get("definition") or self.definition
        started = self.started.pop(scheduled.id, None)
        entry = activity_entry(scheduled, started, closed, dossier_code=self.code, mask=self.mask)
        self.entries.append(entry)
        if closed is not None and entry.outcome in ("failed", "timed_out"):
            self.failures.append(
                StallEntry(
                    event_ids=[closed.id],
                    at=closed.at,
                    step_id=entry.step_id,
                    run=entry.run,
                    activity=entry.activity,
                    error=entry.error,
                    attempts=entry.attempts,
                )
            )

    # ------------------------------------------------------------------ Updates and signals

    def _on_workflow_execution_update_accepted(self, d: Decoded) -> None:
        self.updates[d.attrs.protocol_instance_id] = d
        step = update_input(d).get("step_id")
        if isinstance(step, str) and d.name in TASK_UPDATES:
            self.task_steps.setdefault(d.wft, step)
        if isinstance(step, str) and d.name == "resume":
            self._stall_before(d, step)

    def _on_workflow_execution_update_completed(self, d: Decoded) -> None:
        accepted = self.updates.pop(d.attrs.meta.update_id, None)
        if accepted is not None:
            self.entries.append(update_entry(accepted, d, runs=self.runs, mask=self.mask))

    def _on_workflow_execution_signaled(self, d: Decoded) -> None:
        name, value = d.attrs.signal_name, d.values[0] if d.values else None
        if name == MEMBER_STATUS_SIGNAL and isinstance(value, dict):
            status = str(value.get("status"))
            self.member_stalled = self.member_stalled or status == "stalled"
            step = value.get("step_id")
            self.entries.append(
                MemberStatusEntry(event_ids=[d.id], at=d.at, step_id=step, status=status)
            )
            return
        data = self.mask.value(value)
        if name == EVENT_SIGNAL and isinstance(value, dict):  # what a `wait` step waits for
            name, data = f"{name} {value.get('name')}", self.mask.value(value.get("data"))
        self.entries.append(
            MessageEntry(event_ids=[d.id], at=d.at, channel="signal", name=name, data=data)
        )

    def _on_workflow_execution_cancel_requested(self, d: Decoded) -> None:
        cause = self.mask.text(d.attrs.cause or None)
        self.entries.append(CancelRequestEntry(event_ids=[d.id], at=d.at, cause=cause))

    def _on_workflow_task_failed(self, d: Decoded) -> None:
        cause = WorkflowTaskFailedCause.Name(d.attrs.cause)
        cause = cause.removeprefix("WORKFLOW_TASK_FAILED_CAUSE_")
        error = self.mask.text(d.error)
        self.entries.append(EngineErrorEntry(event_ids=[d.id], at=d.at, cause=cause, error=error))

    # ------------------------------------------------------------------ timers, status

    def _on_timer_started(self, d: Decoded) -> None:
        self.timers[d.attrs.timer_id] = d

    def _on_timer_fired(self, d: Decoded) -> None:
        started = self.timers.pop(d.attrs.timer_id, None)
        if started is not None:
            self._timer(started, d, "fired", None)

    def _on_timer_canceled(self, d: Decoded) -> None:
        started = self.timers.pop(d.attrs.timer_id, None)
        if started is not None:
            # The workflow task is told by position: the time-skipping test server's
            # `workflow_task_completed_event_id` names the task's started event instead.
            self._timer(started, d, "canceled", self.task_steps.get(d.wft))

    def _timer(
        self, started: Decoded, d: Decoded | None, outcome: TimerOutcome, step: str | None
    ) -> None:
        timeout = started.attrs.start_to_fire_timeout.ToTimedelta()
        self.entries.append(
            TimerEntry(
                event_ids=[started.id] + ([d.id] if d is not None else []),
                at=started.at,
                step_id=step,
                run=self.runs.get(step, 1) if step else 1,
                timer_id=started.attrs.timer_id,
                seconds=timeout.total_seconds(),
                fires_at=started.at + timeout,
                outcome=outcome,
            )
        )

    def _on_upsert_workflow_search_attributes(self, d: Decoded) -> None:
        status = d.search.get("CaseStatus")
        if isinstance(status, str) and status != self.status:
            self.status = status
            if status == "stalled" and not self.member_stalled:
                self.stalled_at.append(d)
            self.member_stalled = False
        due = d.search.get("DueAt")
        if isinstance(due, str) and due != self.due:
            self.due = due
            moment = datetime.fromisoformat(due)
            self.entries.append(DeadlineEntry(event_ids=[d.id], at=d.at, due_at=moment))

    # ------------------------------------------------------------------ stalls

    def _stall_before(self, resume: Decoded, step: str) -> None:
        """The stall a resume of `step` ends: its failed call (a call with no key, such as
        the calendar's, when the step has none), else the moment the case turned `stalled`,
        else the resume itself (nothing else in the history shows it)."""
        mine = [f for f in self.failures if f.step_id == step]
        candidates = mine or [f for f in self.failures if f.step_id is None]
        if candidates:
            failure = candidates[-1]
            self.failures.remove(failure)
            self.stalled_at = [s for s in self.stalled_at if s.id < failure.event_ids[0]]
            self.entries.append(failure.model_copy(update={"step_id": step}))
            return
        origin = self.stalled_at.pop() if self.stalled_at else resume
        run = self.runs.get(step, 1)
        self.entries.append(StallEntry(event_ids=[origin.id], at=origin.at, step_id=step, run=run))

    def _stalls_not_resumed(self) -> None:
        for origin in self.stalled_at:
            before = [f for f in self.failures if f.event_ids[0] < origin.id]
            if before:
                self.failures.remove(before[-1])
                self.entries.append(before[-1])
            else:
                self.entries.append(StallEntry(event_ids=[origin.id], at=origin.at))
        self.stalled_at = []

    # ------------------------------------------------------------------ members and the end

    def _on_start_child_workflow_execution_initiated(self, d: Decoded) -> None:
        if d.attrs.workflow_type.name != WORKFLOW_TYPE:
            return
        child = d.values[0] if d.values and isinstance(d.values[0], dict) else {}
        procedure_id, version, definition_hash = _pinned(child)
        member = self.members.get(d.id)
        entry = MemberEntry(
            event_ids=[d.id],
            at=d.at,
            step_id=d.attrs.workflow_id.removeprefix(f"{self.code}."),
            workflow_id=d.attrs.workflow_id,
            procedure_id=procedure_id,
            procedure_version=version,
            definition_hash=definition_hash,
            timeline=member.timeline() if member is not None else None,
        )
        self.children[d.id] = entry
        self.entries.append(entry)

    def _on_child_workflow_execution_started(self, d: Decoded) -> None:
        entry = self.children.get(d.attrs.initiated_event_id)
        if entry is not None:
            entry.event_ids.append(d.id)
            entry.run_id = d.attrs.workflow_execution.run_id

    def _on_child_workflow_execution_completed(self, d: Decoded) -> None:
        entry = self.children.get(d.attrs.initiated_event_id)
        if entry is None:
            return
        result = d.values[0] if d.values and isinstance(d.values[0], dict) else {}
        entry.event_ids.append(d.id)
        entry.status = str(result.get("status") or "completed")
        free = entry.status in FREE_REASONS
        entry.reason = self.mask.reason(result.get("reason"), free)
        entry.output = self.mask.value(result.get("output"))

    def _child_closed(self, d: Decoded, status: str) -> None:
        entry = self.children.get(d.attrs.initiated_event_id)
        if entry is not None:
            entry.event_ids.append(d.id)
            entry.status = status
            entry.reason = self.mask.text(d.error)

    def _on_workflow_execution_completed(self, d: Decoded) -> None:
        result = d.values[0] if d.values and isinstance(d.values[0], dict) else {}
        status = str(result.get("status") or "completed")
        reason = self.mask.reason(result.get("reason"), status in FREE_REASONS)
        output = self.mask.value(result.get("output"))
        self.end = EndEntry(event_ids=[d.id], at=d.at, status=status, reason=reason, output=output)
        self.entries.append(self.end)

    def _case_closed(self, d: Decoded, status: str) -> None:
        reason = self.mask.text(d.error)
        if d.kind == "workflow_execution_canceled":
            reason = CANCELLED_REASON
        elif d.kind == "workflow_execution_terminated":
            reason = self.mask.text(d.attrs.reason or None)
        self.end = EndEntry(
            event_ids=[d.id], at=d.at, status=status, reason=reason, code=d.error_type
        )
        self.entries.append(self.end)


def _pinned(start: dict[str, Any]) -> tuple[str | None, int | None, str | None]:
    """(procedure id, version, definition hash) of a start input: in full or by reference."""
    procedure = start.get("procedure") or {}
    if procedure:
        definition = procedure.get("definition") or {}
        return definition.get("id"), definition.get("version"), procedure.get("hash")
    ref = start.get("procedure_ref") or {}
    return ref.get("id"), ref.get("version"), ref.get("hash")
