"""The case's own record inside the workflow: open tasks, stalls, decisions, timeline.

ProcedureWorkflow decides *what* happens; CaseBook keeps track of it, derives the status,
checks Updates before they are accepted, and mirrors status into search attributes
(which carry no personal data: dossier code, procedure, status, agency, due date).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate, TypedSearchAttributes
from temporalio.exceptions import ApplicationError

from motcua.workflows.contracts import (
    AGENCY,
    CASE_STATUS,
    DOSSIER_CODE,
    DUE_AT,
    PROCEDURE_ID,
    AssignInput,
    CaseResult,
    CaseStart,
    CaseState,
    CaseStatus,
    DecideInput,
    Decision,
    Event,
    EventInput,
    OpenTask,
    Projection,
    ResumeInput,
    ResumeRecord,
    Stall,
    SupplementInput,
    TaskRecord,
)
from motcua.workflows.dsl import dossier
from motcua.workflows.dsl.model import Schema


class CaseEnded(Exception):
    """Raised inside the workflow to end the case as rejected, aborted or failed."""

    def __init__(self, status: CaseStatus, reason: str, code: str = "") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.code = code


def refuse(message: str) -> ApplicationError:
    """An Update refusal: the caller sees the message, the history records nothing."""
    return ApplicationError(message, type="Refused", non_retryable=True)


def check_actor(actor: str) -> None:
    """Every action is recorded with who took it: an empty or garbled account is refused
    (it would read "by ," on the record)."""
    problem = dossier.text_problem(actor) if actor.strip() else "must not be empty"
    if problem or actor != actor.strip():
        raise refuse(f"actor {problem or 'must not start or end with spaces'}")


class CaseBook:
    def __init__(self, start: CaseStart) -> None:
        self.start = start
        self.started_at = workflow.now()
        self.due_at: datetime | None = None
        self.final: CaseStatus | None = None
        self.reason: str | None = None
        self.output: dict[str, Any] = {}
        self.active: list[str] = []
        self.open_tasks: dict[str, OpenTask] = {}
        self.task_records: list[TaskRecord] = []
        self.stalls: dict[str, Stall] = {}
        self.decisions: list[Decision] = []
        self.resumes: list[ResumeRecord] = []
        self.pending_decisions: dict[str, Decision] = {}
        self.pending_resumes: dict[str, ResumeInput] = {}
        self.pending_supplements: dict[str, SupplementInput] = {}
        self.events_received: dict[str, EventInput] = {}
        self.children: dict[str, str] = {}
        self.timeline: list[Event] = []
        self.problems: list[Event] = []  # errors that did not stop the case, for an officer
        self.revision = 0  # projections sent to the read model (motcua.readmodel)
        self._projected: tuple[Any, ...] | None = None  # what the last one showed
        self._synced: dict[str, Any] = {}
        self._coalesce = False  # hold upserts for the workflow's flusher (one per task)
        self._unsent: dict[str, SearchAttributeUpdate[Any]] = {}
        # Called with each new CaseStatus of an open case (a member tells its bundle).
        self.on_status: Callable[[CaseStatus], None] | None = None

    # ---------------------------------------------------------------- status

    @property
    def status(self) -> CaseStatus:
        """The case's own state, or its members' where they weigh more: a bundle whose
        member is stalled is stalled (the member is named in `children`)."""
        if self.final is not None:
            return self.final
        members = set(self.children.values())
        if self.stalls or CaseStatus.stalled.value in members:
            return CaseStatus.stalled
        waiting = {t.waiting_for for t in self.open_tasks.values()}
        if "officer" in waiting or CaseStatus.waiting_officer.value in members:
            return CaseStatus.waiting_officer
        if "citizen" in waiting or CaseStatus.waiting_citizen.value in members:
            return CaseStatus.waiting_citizen
        return CaseStatus.running

    def log(self, step_id: str | None, kind: str, detail: str = "") -> None:
        self.timeline.append(Event(at=workflow.now(), step_id=step_id, kind=kind, detail=detail))

    def problem(self, where: str, error: str) -> None:
        """An error that did not stop the case (in the apology, say): on its timeline and
        in its state, so `motcua show` puts it in front of an officer."""
        self.problems.append(Event(at=workflow.now(), step_id=where, kind="error", detail=error))
        self.log(where, "error", error)

    def finish(self, status: CaseStatus) -> CaseResult:
        self.final = status
        self.open_tasks.clear()  # nobody can act on an ended case (its tasks stay on record)
        self.log(None, status.value, self.reason or "")
        self.sync_search_attributes()
        self.flush_search_attributes()  # the workflow ends now: no later task to send it
        return CaseResult(
            dossier_code=self.start.dossier_code,
            status=status,
            reason=self.reason,
            output=self.output,
            children=dict(self.children),
        )

    def _wanted(self) -> dict[str, tuple[SearchAttributeKey[Any], Any]]:
        agency = next(iter(self.open_tasks.values())).agency if self.open_tasks else None
        return {
            "DossierCode": (DOSSIER_CODE, self.start.dossier_code),
            "ProcedureId": (PROCEDURE_ID, self.start.pinned.id),
            "CaseStatus": (CASE_STATUS, self.status.value),
            "Agency": (AGENCY, agency),
            "DueAt": (DUE_AT, self.due_at),
        }

    def sync_search_attributes(self) -> None:
        """Upsert only what changed, so the history gets no redundant events."""
        updates = []
        for name, (key, value) in self._wanted().items():
            if value is not None and self._synced.get(name) != value:
                self._synced[name] = value
                updates.append(key.value_set(value))
        if updates and self._coalesce:
            self._unsent.update({u.key.name: u for u in updates})
        elif updates:
            workflow.upsert_search_attributes(updates)
        status_changed = any(u.key.name == CASE_STATUS.name for u in updates)
        if status_changed and self.final is None and self.on_status is not None:
            self.on_status(self.status)

    def coalesce_search_attributes(self, started_with: TypedSearchAttributes) -> None:
        """From now on hold changes until `flush_search_attributes`; what the case was
        started with is not upserted again."""
        self._coalesce = True
        for name, (key, _) in self._wanted().items():
            value = started_with.get(key)
            if value is not None:
                self._synced.setdefault(name, value)

    @property
    def has_unsent_attributes(self) -> bool:
        return bool(self._unsent)

    def flush_search_attributes(self) -> None:
        """One upsert with every attribute changed since the last."""
        if self._unsent:
            workflow.upsert_search_attributes(list(self._unsent.values()))
            self._unsent.clear()

    # ---------------------------------------------------------------- tasks

    def _record(self, step_id: str) -> TaskRecord | None:
        """The newest still-open hand-off of a step."""
        for record in reversed(self.task_records):
            if record.step_id == step_id and record.closed_at is None:
                return record
        return None

    def _close_record(self, step_id: str, action: str, actor: str | None) -> None:
        record = self._record(step_id)
        if record is not None:
            record.closed_at, record.action, record.actor = workflow.now(), action, actor

    def open_task(self, task: OpenTask) -> None:
        self.open_tasks[task.step_id] = task
        self.task_records.append(
            TaskRecord(
                step_id=task.step_id,
                role=task.role,
                agency=task.agency,
                opened_at=task.opened_at,
                due_at=task.due_at,
            )
        )
        self.log(task.step_id, "task_opened", f"{task.role}@{task.agency}")
        self.sync_search_attributes()

    def escalate(self, task: OpenTask) -> None:
        task.escalated = True
        record = self._record(task.step_id)
        if record is not None:
            record.escalated = True
        self.log(task.step_id, "escalated", task.escalate_to or "")
        self.sync_search_attributes()

    def close_task(self, step_id: str) -> Decision:
        self.open_tasks.pop(step_id, None)
        decision = self.pending_decisions.pop(step_id)
        self._close_record(step_id, decision.action, decision.actor)
        self.log(step_id, "decided", decision.action)
        self.sync_search_attributes()
        return decision

    def check_decision(self, d: DecideInput) -> None:
        check_actor(d.actor)
        task = self.open_tasks.get(d.step_id)
        if task is None:
            open_ids = ", ".join(self.open_tasks) or "none"
            raise refuse(f"no open task '{d.step_id}' (open tasks: {open_ids})")
        if task.waiting_for != "officer" or d.step_id in self.pending_decisions:
            raise refuse(f"task '{d.step_id}' is not waiting for a decision")
        if d.action not in task.actions:
            raise refuse(f"action '{d.action}' is not allowed; allowed: {', '.join(task.actions)}")
        roles = {task.role} | ({task.escalate_to} if task.escalated and task.escalate_to else set())
        if d.role not in roles:
            raise refuse(f"role '{d.role}' may not decide '{d.step_id}'; it needs {task.role}")
        if d.agency != task.agency:
            raise refuse(f"agency '{d.agency}' is not competent; the task is for {task.agency}")
        if task.assignee and d.actor != task.assignee:
            raise refuse(f"task '{d.step_id}' is assigned to {task.assignee}")
        if d.action == "request_supplement" and not d.missing:
            raise refuse("request_supplement must list what is missing")

    def record_decision(self, d: DecideInput) -> Decision:
        decision = Decision(**d.model_dump(exclude={"token"}), at=workflow.now())
        self.pending_decisions[d.step_id] = decision
        self.decisions.append(decision)
        return decision

    def check_assignment(self, a: AssignInput) -> OpenTask:
        check_actor(a.actor)
        check_actor(a.officer)
        task = self.open_tasks.get(a.step_id)
        if task is None:
            open_ids = ", ".join(self.open_tasks) or "none"
            raise refuse(f"no open task '{a.step_id}' (open tasks: {open_ids})")
        if task.waiting_for != "officer" or a.step_id in self.pending_decisions:
            raise refuse(f"task '{a.step_id}' is not waiting for a decision")
        return task

    def assign(self, a: AssignInput) -> OpenTask:
        task = self.open_tasks[a.step_id]
        task.assignee = a.officer
        record = self._record(a.step_id)
        if record is not None:
            record.assignee = a.officer
        self.log(a.step_id, "assigned", f"{a.officer} by {a.actor}: {a.reason}".rstrip(": "))
        return task

    # ---------------------------------------------------------------- supplements

    def wait_for_citizen(self, step_id: str, decision: Decision, due: datetime | None) -> None:
        task = self.open_tasks.get(step_id) or OpenTask(
            step_id=step_id,
            role=decision.role,
            agency=decision.agency,
            actions=[],
            opened_at=workflow.now(),
        )
        task.waiting_for = "citizen"
        task.supplement_due_at = due
        task.missing = list(decision.missing)
        self.open_tasks[step_id] = task
        self.task_records.append(
            TaskRecord(
                step_id=step_id,
                role="citizen",
                agency=task.agency,
                waiting_for="citizen",
                opened_at=workflow.now(),
                due_at=due,
            )
        )
        self.log(step_id, "supplement_requested", f"{len(task.missing)} items")
        self.sync_search_attributes()

    def close_supplement(self, step_id: str, *, expired: bool) -> SupplementInput | None:
        self.open_tasks.pop(step_id, None)
        supplement = self.pending_supplements.get(step_id)
        actor = supplement.actor if supplement is not None else None
        self._close_record(step_id, "expired" if expired else "supplemented", actor)
        self.log(step_id, "supplement_expired" if expired else "supplemented")
        self.sync_search_attributes()
        return self.pending_supplements.pop(step_id, None)

    def check_supplement(self, s: SupplementInput, schema: Schema) -> None:
        """A supplement changes only what was asked for: the fields the officer named as
        missing (by field id or by its title) and the fields the definition lets a
        supplement send (papers, by default). Anything else, such as the mother's personal
        id, is refused with the list of what may be sent."""
        check_actor(s.actor)
        task = self.open_tasks.get(s.step_id)
        if task is None or task.waiting_for != "citizen" or s.step_id in self.pending_supplements:
            raise refuse(f"step '{s.step_id}' is not waiting for a supplement")
        unknown = [name for name in s.documents if name not in schema]
        if unknown:
            raise refuse(f"unknown dossier fields: {', '.join(unknown)}")
        asked = set(task.missing)
        allowed = [
            name
            for name, spec in schema.items()
            if spec.may_supplement or name in asked or spec.title in asked
        ]
        refused = [name for name in s.documents if name not in allowed]
        if refused:
            raise refuse(
                f"a supplement may not change {', '.join(refused)}: it was not asked for "
                f"and is not supplementable (may be sent: {', '.join(allowed) or 'nothing'})"
            )
        partial = {k: v for k, v in schema.items() if k in s.documents}
        problems = dossier.check(partial, s.documents)
        if problems:
            raise refuse("; ".join(problems))

    def record_supplement(self, s: SupplementInput) -> None:
        self.pending_supplements[s.step_id] = s

    # ---------------------------------------------------------------- stalls

    def stall(self, step_id: str, activity: str, error: str, attempts: int, skip: bool) -> None:
        self.stalls[step_id] = Stall(
            step_id=step_id,
            activity=activity,
            error=error,
            attempts=attempts,
            since=workflow.now(),
            skippable=skip,
        )
        self.log(step_id, "stalled", activity)
        self.sync_search_attributes()

    def unstall(self, step_id: str) -> ResumeInput:
        self.stalls.pop(step_id, None)
        resume = self.pending_resumes.pop(step_id)
        self.log(step_id, f"resumed_{resume.action}", resume.actor)
        self.sync_search_attributes()
        return resume

    def check_resume(self, r: ResumeInput, result_schema: Schema | None) -> None:
        check_actor(r.actor)
        stall = self.stalls.get(r.step_id)
        if stall is None or r.step_id in self.pending_resumes:
            stalled = ", ".join(self.stalls) or "none"
            raise refuse(f"step '{r.step_id}' is not stalled (stalled steps: {stalled})")
        if not r.reason.strip():
            raise refuse("a resume needs a reason")
        if r.action == "skip" and not stall.skippable:
            raise refuse(f"step '{r.step_id}' may not be skipped")
        if r.action == "provide":
            if r.result is None:
                raise refuse("provide needs a result")
            if result_schema is None:
                raise refuse(f"step '{r.step_id}' declares no result schema to provide against")
            problems = dossier.check(result_schema, r.result)
            if problems:
                raise refuse("; ".join(problems))

    def record_resume(self, r: ResumeInput) -> None:
        self.pending_resumes[r.step_id] = r
        self.resumes.append(
            ResumeRecord(
                step_id=r.step_id,
                action=r.action,
                actor=r.actor,
                reason=r.reason,
                at=workflow.now(),
            )
        )

    # ---------------------------------------------------------------- read model

    def _shown(self) -> tuple[Any, ...]:
        """What the read model shows of the case: its status, tasks, decisions, resumes,
        stalls, members and deadline; not its timeline (a registry call changes nothing
        there, so it costs no projection)."""
        tasks = tuple(
            (t.step_id, t.waiting_for, t.escalated, t.assignee) for t in self.open_tasks.values()
        )
        counts = (len(self.task_records), len(self.decisions), len(self.resumes))
        members = tuple(sorted(self.children.items()))
        return (self.status, tasks, counts, tuple(sorted(self.stalls)), members, self.due_at)

    @property
    def has_unprojected_changes(self) -> bool:
        return self._shown() != self._projected

    def next_projection(self) -> Projection:
        """The state to project now, as the case's next revision."""
        self._projected = self._shown()
        self.revision += 1
        return Projection(revision=self.revision, state=self.state())

    # ---------------------------------------------------------------- query

    def state(self) -> CaseState:
        pinned = self.start.pinned
        return CaseState(
            dossier_code=self.start.dossier_code,
            procedure_id=pinned.id,
            procedure_version=pinned.version,
            definition_hash=pinned.hash,
            status=self.status,
            current_steps=list(self.active),
            started_at=self.started_at,
            due_at=self.due_at,
            open_tasks=list(self.open_tasks.values()),
            tasks=list(self.task_records),
            stalls=list(self.stalls.values()),
            decisions=list(self.decisions),
            resumes=list(self.resumes),
            children=dict(self.children),
            events=list(self.timeline),
            problems=list(self.problems),
            reason=self.reason,
            output=self.output,
            channel=self.start.channel,
            parent=self.start.parent,
            revision=self.revision,
        )
