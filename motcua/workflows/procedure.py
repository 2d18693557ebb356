"""ProcedureWorkflow: one generic workflow that interprets any valid procedure definition.

The definition is pinned in the start input, so a case never changes definition. The
workflow only evaluates expressions and waits; everything that looks at the world
(registries, the working-day calendar, documents) is an activity.

Officers and citizens act through Updates whose validators refuse a wrong step, role,
agency or action before anything is written to the history.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from motcua.activities.profiles import profile_for
    from motcua.workflows import tokens
    from motcua.workflows.archiving import ARCHIVE_START_ACTIVITY, ArchiveInput
    from motcua.workflows.case_book import CaseBook, CaseEnded, refuse
    from motcua.workflows.contracts import (
        AssignInput,
        CaseResult,
        CaseStart,
        CaseState,
        CaseStatus,
        CompiledProcedure,
        DecideInput,
        Decision,
        EventInput,
        MemberStatus,
        OpenTask,
        ResumeInput,
        SupplementInput,
        initial_search_attributes,
        shared,
    )
    from motcua.workflows.dsl import dossier as dossier_check
    from motcua.workflows.dsl import model as m
    from motcua.workflows.dsl.expressions import ExpressionError, condition, evaluate
    from motcua.workflows.dsl.walk import child_procedures, walk_definition
    from motcua.workflows.working_days import add_working_days

CALENDAR_ACTIVITY = "calendar.add_working_days"
FETCH_ACTIVITY = "definitions.fetch"  # a member case's definition, by reference (ADR 0012)
FETCH_STEP = "definition"  # where a case stalls when its definition cannot be fetched
SUPPLEMENT_EXPIRED = "Hết thời hạn bổ sung hồ sơ"  # the citizen reads this reason
ISSUED_AT_PATCH = "document-issued-at"  # documents carry the workflow's time of issue
APOLOGY_PATCH = "apology-before-deadline"  # the apology timer of definitions that declare one
SUPPLEMENT_DUE = "supplement_due_at"  # name in scope while on_supplement steps run
OPEN_STATUSES = {
    s.value
    for s in (
        CaseStatus.running,
        CaseStatus.stalled,
        CaseStatus.waiting_officer,
        CaseStatus.waiting_citizen,
    )
}
LEAN_CHILD_PATCH = "child-gets-own-members"  # a member's start input: its own members only
RUN_KEY_PATCH = "idempotency-key-per-run"  # a step run again (supplement round) gets its own key
HANDLER_GUARD_PATCH = "handler-ends-case"  # a stall aborted inside on_reject/on_abort ends the case
APOLOGY_ERRORS_PATCH = "apology-errors-reach-case"  # an abort or error in the apology is not lost
CALENDAR_STALL_PATCH = "calendar-failure-stalls"  # a failed calendar call stalls, not fails
CANCEL_PATCH = "cancel-aborts-case"  # a cancelled case ends aborted, after on_abort
CANCELLED_REASON = "Hồ sơ đã bị hủy"  # the citizen reads this reason
RETRY_WINDOW_PATCH = "retry-window"  # retried for a window, with heartbeats (profiles.py)
MEMBER_STATUS_PATCH = "member-reports-status"  # a member tells its bundle when it stalls/waits
MEMBER_STATUS_SIGNAL = "member_status"
CALENDAR_IN_CASE_PATCH = "calendar-in-case"  # working days counted from the pinned snapshot
INPUT_CHECK_PATCH = "input-checked-in-case"  # a dossier that fails the input schema fails
# Every change above applies to a case that carries this one marker (ADR 0010). Patches
# added after it get their own markers again, until the next generation.
ENGINE_GENERATION = "engine-generation-2026-12"
RESULT_DEFAULTS_PATCH = "provided-result-defaults"  # a typed result gets its fields' defaults
READ_MODEL_PATCH = "projected-to-read-model"  # the case writes its state to the read model
ARCHIVE_PATCH = "archived-when-closed"  # the closing case starts its archiving (ADR 0021)
PROJECT_ACTIVITY = "readmodel.project"  # a local activity (motcua.readmodel.projection)


def members_of(
    procedure: CompiledProcedure, known: dict[str, CompiledProcedure]
) -> dict[str, CompiledProcedure]:
    """The child procedures `procedure` starts, transitively: all a member case needs of
    its bundle's definitions (not its siblings')."""
    found: dict[str, CompiledProcedure] = {}
    pending = [procedure]
    while pending:
        for child_id, _ in child_procedures(pending.pop().definition):
            if child_id in known and child_id not in found:
                found[child_id] = known[child_id]
                pending.append(known[child_id])
    return found


@workflow.defn(name="ProcedureWorkflow")
class ProcedureWorkflow:
    @workflow.init
    def __init__(self, start: CaseStart) -> None:
        self.start = start
        # One copy per worker of each definition (and member), not one per cached case.
        start.members = {name: shared(member) for name, member in start.members.items()}
        self.book = CaseBook(start)
        self.scope: dict[str, Any] = {
            "input": dict(start.dossier),
            "params": {},
            # `member`: a member of a bundle keeps quiet what the bundle tells the citizen.
            "case": {
                "dossier_code": start.dossier_code,
                "channel": start.channel,
                "member": start.parent is not None,
            },
        }
        self.definition: m.ProcedureDefinition  # set by _pin, before any step runs
        self.completed_writes: list[m.CallStep] = []  # calls with `undo`, for compensate
        self.runs: dict[str, int] = {}  # step id -> times it has started (supplement rounds)
        self.body: asyncio.Task[Any] | None = None  # the task running the steps
        self.apology: asyncio.Task[None] | None = None
        self.ended_by: CaseEnded | None = None  # set when the apology ends the case
        self.reported = CaseStatus.running  # what this member last told its bundle
        self.reports: list[asyncio.Task[None]] = []  # its signals to the bundle
        self.generation: bool | None = None  # ENGINE_GENERATION's answer, asked once
        self.flusher: asyncio.Task[None] | None = None
        self.projector: asyncio.Task[None] | None = None  # feeds the read model
        self.projecting = False  # a projection is being written
        if start.parent is not None:
            self.book.on_status = self._tell_bundle
        if start.procedure is not None:
            self._pin(start.procedure)

    def _pin(self, procedure: CompiledProcedure) -> None:
        """Take the definition this case runs: from its start input, or fetched."""
        self.start.procedure = shared(procedure)
        self.definition = self.start.procedure.definition
        declared = {name: spec.default for name, spec in self.definition.input.items()}
        self.scope["input"] = declared | self.start.dossier  # every declared field, maybe None
        self.scope["params"] = dict(self.definition.parameters)

    def _has_definition(self) -> bool:
        return self.start.procedure is not None

    # ------------------------------------------------------------------ the process

    @workflow.run
    async def run(self, start: CaseStart) -> CaseResult:
        pinned = self.start.pinned
        if self._current():
            # One search-attribute upsert per workflow task, with what changed in it.
            self.book.coalesce_search_attributes(workflow.info().typed_search_attributes)
            self.flusher = asyncio.create_task(self._flush_search_attributes())
        if workflow.patched(READ_MODEL_PATCH):
            self.projector = asyncio.create_task(self._project_changes())
        self.book.log(None, "received", f"{pinned.id} v{pinned.version}")
        self.book.sync_search_attributes()
        cancelled = False
        try:
            try:
                end = await self._run_body()
            except asyncio.CancelledError:
                # Temporal cancelled the case (an operator, or its bundle being cancelled):
                # it is aborted like any other, so its status is final and on_abort runs.
                if not self._patched(CANCEL_PATCH):
                    raise
                end, cancelled = CaseEnded(CaseStatus.aborted, CANCELLED_REASON), True
            self.body = None  # the steps are over; the apology can no longer stop them
            if end is None:
                result = self.book.finish(CaseStatus.completed)
                await self._reports_sent()
                await self._read_model_caught_up()
                await self._archived()
                return result
            result = await self._end(end)
        finally:
            # Only now: the apology keeps running while a handler does (recorded histories
            # cancel its timer after the handler's calls).
            if self.apology is not None and not self.apology.done():
                self.apology.cancel()
        await self._reports_sent()
        await self._read_model_caught_up()
        await self._archived()
        if cancelled:
            raise asyncio.CancelledError(CANCELLED_REASON)
        return result

    def _current(self) -> bool:
        """Whether this case was started by this generation of the engine (asked once)."""
        if self.generation is None:
            self.generation = workflow.patched(ENGINE_GENERATION)
        return self.generation

    def _patched(self, change: str) -> bool:
        """Whether behaviour change `change` applies to this case. A case started by this
        code carries one marker for every change up to ENGINE_GENERATION: one marker each
        would cost it a marker and an upsert of TemporalChangeVersion per change it meets.
        A case started before asks each patch, exactly as it did (ADR 0010)."""
        return self._current() or workflow.patched(change)

    async def _flush_search_attributes(self) -> None:
        """Upsert what changed once the workflow task's work is done: the condition is
        checked only when every other coroutine of the task waits."""
        while True:
            await workflow.wait_condition(lambda: self.book.has_unsent_attributes)
            self.book.flush_search_attributes()

    async def _project_changes(self) -> None:
        """Write the case's state to the read model whenever what it shows changed
        (motcua.readmodel): one local activity, one marker, per change. A projection that
        fails is given up: the next one carries the whole state, and
        `motcua rebuild-read-model` repairs what the last one missed."""
        while True:
            await workflow.wait_condition(lambda: self.book.has_unprojected_changes)
            self.projecting = True
            try:
                await workflow.execute_local_activity(
                    PROJECT_ACTIVITY,
                    self.book.next_projection(),
                    start_to_close_timeout=timedelta(seconds=10),
                    schedule_to_close_timeout=timedelta(seconds=30),
                    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=5)),
                )
            except ActivityError as e:
                workflow.logger.warning("read model not updated: %s", e.cause or e)
            finally:
                self.projecting = False

    async def _read_model_caught_up(self) -> None:
        """Before the case ends: the read model has its final state (or gave up on it)."""
        if self.projector is not None:
            await workflow.wait_condition(
                lambda: not self.projecting and not self.book.has_unprojected_changes
            )

    async def _archived(self) -> None:
        """As its last act, the case starts its archiving: a workflow of its own that writes
        the case's full history once the case has closed (motcua.workflows.archiving). If
        that cannot be started, the case closes anyway; `motcua archive` archives it later."""
        if not workflow.patched(ARCHIVE_PATCH):
            return
        case = ArchiveInput(dossier_code=self.start.dossier_code, run_id=workflow.info().run_id)
        try:
            await workflow.execute_local_activity(
                ARCHIVE_START_ACTIVITY,
                case,
                start_to_close_timeout=timedelta(seconds=10),
                schedule_to_close_timeout=timedelta(minutes=1),
            )
        except ActivityError as e:
            workflow.logger.warning("archiving not started: %s", e.cause or e)

    async def _run_body(self) -> CaseEnded | None:
        """The procedure itself: its deadline, the apology beside it, prefill and steps.
        Returns how the case ended early, or None when every step ran."""
        self.body = asyncio.current_task()
        try:
            if not self._has_definition():
                await self._fetch_definition()
            d = self.definition
            self._check_dossier()
            self.book.due_at = await self._deadline(d.sla, self.book.started_at, "sla")
            self.book.sync_search_attributes()
            self.scope["case"] |= {"received_at": self.book.started_at, "due_at": self.book.due_at}
            if d.apology is not None and self._patched(APOLOGY_PATCH):
                self.apology = asyncio.create_task(self._apology_guarded(d.apology))
            await self._run_steps(d.prefill)
            await self._run_steps(d.steps)
            self.book.output = await self._evaluate("output", d.output)
            return None
        except CaseEnded as end:
            return end
        except asyncio.CancelledError:
            if self.ended_by is None:
                raise
            # The apology ended the case and stopped the steps: that cancellation is ours,
            # not Temporal's, so it is taken back.
            if self.body is not None:
                self.body.uncancel()
            return self.ended_by

    async def _fetch_definition(self) -> None:
        """A member of a bundle fetches its definition from the store, by the hash its bundle
        gave it, so the definition is recorded once in the tree: here (ADR 0012). If the
        store cannot give it, the case stalls for an officer to retry or abort."""
        ref = self.start.procedure_ref
        assert ref is not None
        args = {"hash": ref.hash, "idempotency_key": self._key(FETCH_STEP)}
        args["dossier_code"] = self.start.dossier_code
        while True:
            try:
                fetched = await self._activity(
                    FETCH_ACTIVITY, args, None, m.RetrySpec(), result_type=CompiledProcedure
                )
            except ActivityError as e:
                await self._stall(FETCH_STEP, FETCH_ACTIVITY, str(e.cause or e), 0, False)
                continue
            if fetched.hash != ref.hash:
                raise CaseEnded(
                    CaseStatus.failed,
                    f"the definition store answered {fetched.hash[:12]} for {ref.hash[:12]}",
                    code="DEFINITION_MISMATCH",
                )
            self._pin(fetched)
            return

    def _check_dossier(self) -> None:
        """The callers check the dossier before a case starts; the case checks it again, so
        that a start sent to Temporal directly cannot run on input the schema refuses. The
        problems name fields and rules, never values (no personal data in the record)."""
        problems = dossier_check.check(self.definition.input, self.start.dossier)
        if problems and self._patched(INPUT_CHECK_PATCH):
            shown = "; ".join(problems[:10]) + ("; …" if len(problems) > 10 else "")
            raise CaseEnded(
                CaseStatus.failed,
                f"the dossier does not match the input of {self.definition.id}: {shown}",
                code="INPUT_INVALID",
            )

    async def _end(self, end: CaseEnded) -> CaseResult:
        """End the case as `end` says, after its handler (on_reject or on_abort). A handler
        that ends the case itself (an officer aborts a stall inside it, a `fail` step) ends
        it there with that status: no handler runs twice and nothing loops (ADR 0003)."""
        self.book.reason = end.reason
        self.scope["reason"] = end.reason
        handler: list[Any] = []  # none for a member that ended before it had its definition
        if self._has_definition():
            d = self.definition
            handler = {CaseStatus.rejected: d.on_reject, CaseStatus.aborted: d.on_abort}.get(
                end.status, []
            )
        try:
            await self._run_steps(handler)
        except CaseEnded as inner:
            if not self._patched(HANDLER_GUARD_PATCH):
                raise  # before the guard: the workflow task failed, again and again
            self.book.log(None, "handler_ended", f"{end.status.value} -> {inner.status.value}")
            end = inner
            self.book.reason = end.reason
        if end.status is CaseStatus.failed:
            self.book.finish(CaseStatus.failed)
            await self._reports_sent()
            await self._read_model_caught_up()
            await self._archived()
            raise ApplicationError(end.reason, type=end.code, non_retryable=True) from None
        return self.book.finish(end.status)

    async def _apology_guarded(self, spec: m.ApologySpec) -> None:
        """The apology runs beside the steps, so what ends it must reach the case: an abort
        or a `fail` inside it ends the case; any other error is recorded on the case (shown
        by `motcua show`) instead of vanishing with the task."""
        try:
            await self._apology(spec)
        except CaseEnded as end:
            if not self._patched(APOLOGY_ERRORS_PATCH):
                raise
            if self.body is None:  # the case is ending already, in its handler
                self.book.problem("apology", f"{end.status.value}: {end.reason}")
                return
            self.ended_by = end
            self.body.cancel()
        except Exception as e:  # noqa: BLE001 - recorded for an officer, the case goes on
            if not self._patched(APOLOGY_ERRORS_PATCH):
                raise
            self.book.problem("apology", f"{type(e).__name__}: {e}")

    async def _apology(self, spec: m.ApologySpec) -> None:
        """While the case is still open `before_working_days` before its deadline, move the
        deadline and run the apology steps (the written apology with the new date)."""
        sla = self.definition.sla
        days = sla.working_days - spec.before_working_days
        if days < 0 or self.book.due_at is None:
            return  # the validator refuses this now (E024); cases pinned before stay as they ran

        moment = await self._deadline(
            m.SLA(working_days=days, cutoff=sla.cutoff), self.book.started_at, "apology"
        )
        assert moment is not None
        if spec.at is not None:  # that day at the stated local time, not at closing
            hour, minute = map(int, spec.at.split(":"))
            moment = moment.replace(hour=hour, minute=minute, second=0, microsecond=0)
        await workflow.sleep(max((moment - workflow.now()).total_seconds(), 0))
        extended = m.SLA(
            working_days=sla.working_days + spec.extend_working_days, cutoff=sla.cutoff
        )
        new_due = await self._deadline(extended, self.book.started_at, "apology")
        self.scope["case"] = {**self.scope["case"], "new_due_at": new_due}
        self.book.log(None, "apology", f"+{spec.extend_working_days} working days")
        await self._run_steps(spec.steps)
        self.book.due_at = new_due
        self.scope["case"] = {**self.scope["case"], "due_at": new_due}
        self.book.sync_search_attributes()

    async def _run_steps(self, steps: list[Any]) -> None:
        for step in steps:
            await self._run_step(step)

    async def _run_step(self, step: Any) -> None:
        """Run one step; an expression that fails at run time stalls the case on it."""
        started = False  # a retry after an expression stall is the same run, same keys
        while True:
            try:
                if step.when is not None and not condition(step.when, self._view()):
                    self.book.log(step.id, "skipped", "when is false")
                    return
                self.book.active.append(step.id)
                if not started:
                    self.runs[step.id] = self.runs.get(step.id, 0) + 1
                    started = True
                try:
                    result = await self._dispatch(step)
                finally:
                    self.book.active.remove(step.id)
            except ExpressionError as e:
                resume = await self._stall(step.id, "expression", e.message, 1, skippable=True)
                if resume.action == "retry":
                    continue
                result = resume.result if resume.action == "provide" else None
            if not isinstance(step, m.SetStep | m.ParallelStep | m.SwitchStep):
                self.scope[step.id] = result
            return

    async def _evaluate(self, where: str, value: Any) -> Any:
        """Evaluate outside a step (the output); a failing expression stalls the case."""
        while True:
            try:
                return evaluate(value, self._view())
            except ExpressionError as e:
                resume = await self._stall(where, "expression", e.message, 1, skippable=True)
                if resume.action != "retry":
                    return resume.result if resume.action == "provide" else {}

    async def _dispatch(self, step: Any) -> Any:
        match step:
            case m.CallStep():
                return await self._call(step)
            case m.DocumentStep() | m.NotifyStep():
                return await self._call(self._sugar(step))
            case m.TaskStep():
                return await self._task(step)
            case m.ParallelStep():
                return await self._parallel(step)
            case m.SwitchStep():
                return await self._switch(step)
            case m.WaitStep():
                return await self._wait(step)
            case m.SetStep():
                for name, value in step.set.items():
                    self.scope[name] = evaluate(value, self._view())
                return None
            case m.FailStep():
                message = str(evaluate(step.fail.message, self._view()))
                raise CaseEnded(CaseStatus.failed, message, code=step.fail.code)
            case m.RejectStep():
                raise CaseEnded(
                    CaseStatus.rejected, str(evaluate(step.reject.reason, self._view()))
                )
            case m.ProcedureStep():
                return await self._procedure(step)
            case m.CompensateStep():
                return await self._compensate(step)
        raise ApplicationError(f"unknown step kind {type(step).__name__}", non_retryable=True)

    def _sugar(self, step: m.DocumentStep | m.NotifyStep) -> m.CallStep:
        """`document`/`notify` name a declared document or notification; the activity
        gets that declaration's template file (and, for documents, its title)."""
        call = step.as_call()
        d = self.definition
        decl = (d.documents if isinstance(step, m.DocumentStep) else d.notifications).get(
            call.with_["template"]
        )
        if decl is not None:
            call.with_ = {**call.with_, "template": decl.template}
            if isinstance(step, m.DocumentStep) and not call.with_.get("title"):
                call.with_["title"] = decl.title
        if isinstance(step, m.DocumentStep) and self._patched(ISSUED_AT_PATCH):
            # The workflow clock dates (and signs) the document, so a retried activity
            # produces the same bytes.
            data = {"issued_at": workflow.now().isoformat(), **call.with_["data"]}
            call.with_ = {**call.with_, "data": data}
        return call

    def _view(self) -> dict[str, Any]:
        return {**self.scope, "now": workflow.now()}

    # ------------------------------------------------------------------ call and stall

    async def _call(self, step: m.CallStep) -> Any:
        args = evaluate(step.with_, self._view())
        args |= {"idempotency_key": self._key(step.id), "dossier_code": self.start.dossier_code}
        while True:
            try:
                result = await self._activity(step.call, args, step.timeout, step.retry)
            except ActivityError as e:
                error = str(e.cause or e)
                attempts = step.retry.max_attempts or 0  # 0: retried for its window
                if step.on_exhausted == "fail":
                    raise CaseEnded(CaseStatus.failed, error, code="ACTIVITY_FAILED") from None
                if step.on_exhausted == "continue":
                    self.book.log(step.id, "call_failed", error)
                    return None
                resume = await self._stall(step.id, step.call, error, attempts, step.skippable)
                if resume.action == "retry":
                    continue
                return resume.result if resume.action == "provide" else None
            if step.undo is not None:
                self.completed_writes.append(step)
            self.book.log(step.id, "called", step.call)
            return result

    async def _activity(
        self,
        name: str,
        args: Any,
        timeout: float | None,
        retry: m.RetrySpec,
        result_type: type | None = None,
    ) -> Any:
        """Schedule activity `name`: with its profile's timeout, heartbeat and retry window
        unless the step says otherwise (motcua/activities/profiles.py)."""
        policy = RetryPolicy(
            initial_interval=timedelta(seconds=retry.initial_interval),
            backoff_coefficient=retry.backoff,
            maximum_interval=timedelta(seconds=retry.max_interval),
        )
        if not self._patched(RETRY_WINDOW_PATCH):
            policy.maximum_attempts = retry.max_attempts or 3
            return await workflow.execute_activity(
                name, args, start_to_close_timeout=timedelta(seconds=timeout or 30.0),
                retry_policy=policy, result_type=result_type,
            )  # fmt: skip
        profile = profile_for(name)
        policy.maximum_attempts = retry.max_attempts or 0  # 0: no limit inside the window
        return await workflow.execute_activity(
            name,
            args,
            start_to_close_timeout=timedelta(seconds=timeout or profile.timeout),
            heartbeat_timeout=timedelta(seconds=profile.heartbeat),
            schedule_to_close_timeout=timedelta(seconds=retry.window or profile.window),
            retry_policy=policy,
            result_type=result_type,
        )

    async def _stall(
        self, step_id: str, activity: str, error: str, attempts: int, skippable: bool
    ) -> ResumeInput:
        """Wait for an officer's `resume`; abort ends the case here."""
        self.book.stall(step_id, activity, error, attempts, skippable)
        await workflow.wait_condition(lambda: step_id in self.book.pending_resumes)
        resume = self.book.unstall(step_id)
        if resume.action == "abort":
            raise CaseEnded(CaseStatus.aborted, resume.reason)
        typed = resume.action == "provide" and resume.result is not None
        schema = self._result_schema(step_id) if typed and self._has_definition() else None
        if resume.result is not None and schema:
            # Asked only when a result is typed, so no other case carries the marker.
            if workflow.patched(RESULT_DEFAULTS_PATCH):
                filled = dossier_check.with_defaults(schema, resume.result)
                resume = resume.model_copy(update={"result": filled})
        return resume

    def _key(self, step_id: str) -> str:
        """The idempotency key of a step's writes: the same on every retry of one run, and
        a new one each time the step runs again (each supplement round issues its own form
        02 and notice, not round 1's handed back)."""
        key = f"{self.start.dossier_code}:{step_id}"
        run = self.runs.get(step_id, 1)
        if run > 1 and self._patched(RUN_KEY_PATCH):
            key += f"#{run}"
        return key

    # ------------------------------------------------------------------ officer tasks

    async def _task(self, step: m.TaskStep) -> dict[str, Any]:
        spec = step.task
        agency = str(evaluate(spec.agency, self._view()))
        while True:
            opened = workflow.now()
            due = await self._deadline(spec.sla, opened, step.id) if spec.sla else None
            task = OpenTask(
                step_id=step.id,
                role=spec.role,
                agency=agency,
                actions=list(spec.actions),
                opened_at=opened,
                due_at=due,
                escalate_to=spec.escalate_to,
            )
            decision = await self._await_decision(task)
            if decision.action != "request_supplement":
                break
            await self._await_supplement(step, decision)
        result = decision.model_dump(mode="json")
        if decision.action == "reject":
            self.scope[step.id] = result
            raise CaseEnded(CaseStatus.rejected, decision.comment or "Hồ sơ bị từ chối")
        return result

    async def _await_decision(self, task: OpenTask) -> Decision:
        self.book.open_task(task)
        while True:
            timeout = None
            if task.due_at is not None and not task.escalated:
                timeout = max((task.due_at - workflow.now()).total_seconds(), 0.001)
            try:
                await workflow.wait_condition(
                    lambda: task.step_id in self.book.pending_decisions, timeout=timeout
                )
            except TimeoutError:
                self.book.escalate(task)
                continue
            return self.book.close_task(task.step_id)

    async def _await_supplement(self, step: m.TaskStep, decision: Decision) -> None:
        spec = step.task.supplement
        due = await self._deadline(m.SLA(working_days=spec.working_days), workflow.now(), step.id)
        assert due is not None
        self.book.wait_for_citizen(step.id, decision, due)
        if step.task.on_supplement:
            self.scope[step.id] = decision.model_dump(mode="json")
            self.scope[SUPPLEMENT_DUE] = due
            await self._run_steps(step.task.on_supplement)
        try:
            await workflow.wait_condition(
                lambda: step.id in self.book.pending_supplements,
                timeout=max((due - workflow.now()).total_seconds(), 0.001),
            )
        except TimeoutError:
            self.book.close_supplement(step.id, expired=True)
            if spec.on_timeout == "reject":
                raise CaseEnded(CaseStatus.rejected, SUPPLEMENT_EXPIRED) from None
            return
        supplement = self.book.close_supplement(step.id, expired=False)
        if supplement is not None:
            self.scope["input"] = {**self.scope["input"], **supplement.documents}

    async def _deadline(self, sla: m.SLA | None, start: datetime, where: str) -> datetime | None:
        """The due moment of `sla` counted from `start`: from the calendar snapshot the case
        started with (no trip through the server, ADR 0009), else by the calendar activity.
        If the calendar cannot answer, the case stalls on `where` (the step that needs the
        date) like any other call, for an officer to retry or abort."""
        if sla is None:
            return None
        snap = self.start.calendar
        if snap is not None and self._patched(CALENDAR_IN_CASE_PATCH):
            due = add_working_days(snap, start, sla.working_days, sla.cutoff)
            if due is not None:
                return due
        request = {"start": start, "working_days": sla.working_days, "cutoff": sla.cutoff}
        retry = m.RetrySpec()
        while True:
            try:
                answer = await self._activity(CALENDAR_ACTIVITY, request, 10.0, retry)
                return datetime.fromisoformat(answer["due"])
            except ActivityError as e:
                if not self._patched(CALENDAR_STALL_PATCH):
                    raise
                error = str(e.cause or e)
                await self._stall(where, CALENDAR_ACTIVITY, error, retry.max_attempts or 0, False)

    # ------------------------------------------------------------------ control flow

    async def _parallel(self, step: m.ParallelStep) -> None:
        branches = [asyncio.create_task(self._run_steps(b)) for b in step.parallel.values()]
        try:
            await asyncio.gather(*branches)
        except BaseException:
            for branch in branches:
                branch.cancel()
            raise

    async def _switch(self, step: m.SwitchStep) -> None:
        for case in step.switch.cases:
            if condition(case.when, self._view()):
                await self._run_steps(case.steps)
                return
        await self._run_steps(step.switch.default)

    async def _wait(self, step: m.WaitStep) -> Any:
        spec = step.wait
        if spec.event is not None:
            name = spec.event
            try:
                await workflow.wait_condition(
                    lambda: name in self.book.events_received, timeout=spec.timeout
                )
            except TimeoutError:
                self.book.log(step.id, "wait_timed_out", name)
                return None
            return self.book.events_received.pop(name).data
        if spec.working_days is not None:
            until = await self._deadline(
                m.SLA(working_days=spec.working_days), workflow.now(), step.id
            )
            assert until is not None
            await workflow.sleep(max((until - workflow.now()).total_seconds(), 0))
        else:
            await workflow.sleep(spec.duration or 0)
        return None

    # ------------------------------------------------------------------ bundles

    async def _procedure(self, step: m.ProcedureStep) -> dict[str, Any]:
        spec = step.procedure
        code = f"{self.start.dossier_code}.{step.id}"
        if self.start.member_refs:
            pinned: dict[str, Any] = {
                "procedure_ref": self.start.member_refs.get(spec.id),
                "member_refs": self.start.member_refs,  # a few hashes: all, for nested bundles
            }
        else:  # a bundle started before ADR 0012 carries its members in full
            pinned = {"procedure": self.start.members[spec.id]}
            pinned["members"] = self._members_for(spec.id)  # (its patch is asked before input)
        child = CaseStart(
            dossier_code=code,
            dossier=evaluate(spec.input, self._view()),
            channel=self.start.channel,
            parent=self.start.dossier_code,
            calendar=self.start.calendar,  # the bundle's, so its members count alike
            trust=self.start.trust,  # its officers' tokens are checked alike
            **pinned,
        )
        self.book.children[step.id] = CaseStatus.running.value
        try:
            result = await workflow.execute_child_workflow(
                ProcedureWorkflow.run,
                child,
                id=code,
                search_attributes=initial_search_attributes(code, child.pinned.id),
            )
            status, reason, output = result.status, result.reason, result.output
        except ChildWorkflowError as e:
            status, reason, output = CaseStatus.failed, str(e.cause or e), {}
        self.book.children[step.id] = status.value
        self.book.log(step.id, f"member_{status.value}", spec.id)
        policy = {CaseStatus.rejected: spec.on_reject, CaseStatus.failed: spec.on_fail}.get(
            status, spec.on_fail if status is CaseStatus.aborted else "continue"
        )
        if policy == "reject":
            raise CaseEnded(CaseStatus.rejected, reason or f"{spec.id} {status.value}")
        if policy == "fail":
            raise CaseEnded(CaseStatus.failed, reason or f"{spec.id} {status.value}")
        return {"status": status.value, "output": output, "reason": reason}

    def _members_for(self, member_id: str) -> dict[str, CompiledProcedure]:
        member, members = self.start.members[member_id], self.start.members
        return members_of(member, members) if self._patched(LEAN_CHILD_PATCH) else members

    async def _compensate(self, step: m.CompensateStep) -> dict[str, Any]:
        wanted = step.compensate.steps
        undone: list[str] = []
        for write in reversed(self.completed_writes):
            if write.undo is None or (wanted is not None and write.id not in wanted):
                continue
            args = evaluate(write.undo.with_, self._view())
            args |= {"idempotency_key": self._key(f"{write.id}:undo")}
            args |= {"dossier_code": self.start.dossier_code}
            retry = m.RetrySpec(max_attempts=write.retry.max_attempts)
            while True:
                try:
                    await self._activity(write.undo.call, args, write.timeout, retry)
                    break
                except ActivityError as e:
                    resume = await self._stall(
                        step.id, write.undo.call, str(e.cause or e), 1, False
                    )
                    if resume.action != "retry":
                        break
            undone.append(write.id)
            self.book.log(step.id, "compensated", write.id)
        self.completed_writes = [w for w in self.completed_writes if w.id not in undone]
        return {"undone": undone}

    def _tell_bundle(self, status: CaseStatus) -> None:
        """A member case tells its bundle each time it starts or stops being stalled or
        waiting, so the bundle's status shows it (ADR 0007)."""
        if status == self.reported or not self._patched(MEMBER_STATUS_PATCH):
            return
        self.reported = status
        assert self.start.parent is not None
        step_id = self.start.dossier_code.rsplit(".", 1)[-1]
        bundle = workflow.get_external_workflow_handle(self.start.parent)
        report = MemberStatus(step_id=step_id, status=status)

        async def send() -> None:
            try:
                await bundle.signal(MEMBER_STATUS_SIGNAL, report)
            except Exception:  # noqa: BLE001 - the bundle has ended; nobody to tell
                workflow.logger.info("bundle of a member case has ended; status not sent")

        self.reports.append(asyncio.create_task(send()))

    async def _reports_sent(self) -> None:
        """A member ends only after its reports reached the bundle, so no signal is left in
        flight from a closed case."""
        if self.reports:
            await asyncio.gather(*self.reports)

    # ------------------------------------------------------------------ Updates, signal, query

    @workflow.signal(name=MEMBER_STATUS_SIGNAL)
    def member_status(self, report: MemberStatus) -> None:
        # A report that arrives after the member's result is stale: the result says more.
        if self.book.children.get(report.step_id) not in OPEN_STATUSES:
            return
        self.book.children[report.step_id] = report.status.value
        self.book.sync_search_attributes()

    @workflow.update
    def decide(self, decision: DecideInput) -> Decision:
        return self.book.record_decision(decision)

    @decide.validator
    def validate_decide(self, decision: DecideInput) -> None:
        self.book.check_decision(decision)
        if self.start.trust is not None:  # the signed token, not what the client typed
            task = self.book.open_tasks[decision.step_id]
            try:
                tokens.check_decision(
                    decision.token, self.start.trust, workflow.now(), actor=decision.actor,
                    role=decision.role, agency=decision.agency, task_agency=task.agency,
                )  # fmt: skip
            except tokens.TokenRefused as e:
                raise refuse(str(e)) from None

    # A new Update, so no recorded history holds one: it needs no patch. It changes only who
    # may decide the task (the decide validator; validators do not run on replay).
    @workflow.update
    def assign(self, assignment: AssignInput) -> OpenTask:
        return self.book.assign(assignment)

    @assign.validator
    def validate_assign(self, assignment: AssignInput) -> None:
        task = self.book.check_assignment(assignment)
        if self.start.trust is not None:
            try:
                tokens.check_assignment(
                    assignment.token, self.start.trust, workflow.now(),
                    actor=assignment.actor, task_agency=task.agency,
                )  # fmt: skip
            except tokens.TokenRefused as e:
                raise refuse(str(e)) from None

    @workflow.update
    def resume(self, resume: ResumeInput) -> None:
        self.book.record_resume(resume)

    @resume.validator
    def validate_resume(self, resume: ResumeInput) -> None:
        schema = self._result_schema(resume.step_id) if self._has_definition() else None
        self.book.check_resume(resume, schema)
        if self.start.trust is not None:
            try:
                tokens.check_resume(
                    resume.token, self.start.trust, workflow.now(),
                    actor=resume.actor, dossier_code=self.start.dossier_code,
                )  # fmt: skip
            except tokens.TokenRefused as e:
                raise refuse(str(e)) from None

    @workflow.update
    def supplement(self, supplement: SupplementInput) -> None:
        self.book.record_supplement(supplement)

    @supplement.validator
    def validate_supplement(self, supplement: SupplementInput) -> None:
        self.book.check_supplement(
            supplement, self.definition.input if self._has_definition() else {}
        )

    @workflow.signal
    def event(self, event: EventInput) -> None:
        self.book.events_received[event.name] = event

    @workflow.query
    def state(self) -> CaseState:
        return self.book.state()

    def _result_schema(self, step_id: str) -> m.Schema | None:
        for step, _ in walk_definition(self.definition):
            if step.id == step_id and isinstance(step, m.CallStep):
                return step.result
        return None
