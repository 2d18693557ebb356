"""How a case ends when something goes wrong on the way out (ADR 0003): a stall inside a
handler or the apology that an officer aborts, a calendar that cannot answer, an error in
the apology, a cancellation. Each must leave a final status, in the search attribute too,
and never a workflow task failing in a loop."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from motcua.activities import calendar
from motcua.activities.profiles import profile_for
from motcua.cli.cases import render
from motcua.workflows.contracts import (
    CASE_STATUS,
    CaseResult,
    CaseStatus,
    DecideInput,
    ResumeInput,
)
from motcua.workflows.procedure import CANCELLED_REASON, ProcedureWorkflow
from tests import engine_activities
from tests.helpers import compiled, new_worker, skip_past, start_case, state_when

DOSSIER = {"pid": "001203000123"}
REVIEW = """
  - id: review
    task: {role: officer, agency: UBND-001, actions: [approve, reject]}
"""


def tell(step_id: str, value: str = "{{ reason }}") -> str:
    """A call the tests can make fail: test.echo, one attempt, then it stalls."""
    return f"""
  - id: {step_id}
    call: test.echo
    with: {{value: "{value}"}}
    retry: {{max_attempts: 1}}
"""


def decision(action: str) -> DecideInput:
    return DecideInput(
        step_id="review", action=action, role="officer", agency="UBND-001", actor="cb01"
    )


def resume(step_id: str, action: str) -> ResumeInput:
    return ResumeInput(step_id=step_id, action=action, actor="cb02", reason="Đã xem xét")


async def ended(handle: WorkflowHandle[Any, Any]) -> CaseResult:
    """The case's result, within seconds: a case looping on a failed workflow task never
    gives one."""
    result: CaseResult = await asyncio.wait_for(handle.result(), timeout=30)
    return result


async def case_status_attribute(handle: WorkflowHandle[Any, Any]) -> str | None:
    return (await handle.describe()).typed_search_attributes.get(CASE_STATUS)


async def calls_of(code: str) -> list[str]:
    return [k.split(":", 1)[1] for k in engine_activities.CALLS if k.startswith(f"{code}:")]


# ------------------------------------------------------------------ handlers


async def test_task_reject_runs_on_reject(local_env: WorkflowEnvironment) -> None:
    body = f"steps:{REVIEW}on_reject:{tell('tell_rejected')}"
    async with new_worker(local_env.client) as worker:
        handle = await start_case(local_env.client, worker, compiled("reject", body), DOSSIER)
        await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        reject = decision("reject").model_copy(update={"comment": "Không đủ điều kiện"})
        await handle.execute_update(ProcedureWorkflow.decide, reject)
        result = await ended(handle)
        state = await handle.query(ProcedureWorkflow.state)
    assert (result.status, result.reason) == (CaseStatus.rejected, "Không đủ điều kiện")
    # on_reject really ran, with the reason in scope, before the case ended
    assert await calls_of(handle.id) == ["tell_rejected"]
    kinds = [(e.step_id, e.kind) for e in state.events]
    assert kinds[-2:] == [("tell_rejected", "called"), (None, "rejected")]


@pytest.mark.parametrize("handler", ["on_reject", "on_abort"])
async def test_abort_of_a_stall_inside_a_handler_ends_the_case(
    local_env: WorkflowEnvironment, handler: str
) -> None:
    # on_reject: the officer rejects, the refusal notice stalls, the officer aborts it.
    # on_abort: a lookup stalls and is aborted, then on_abort's notice stalls and is too.
    steps = REVIEW if handler == "on_reject" else tell("lookup", "{{ input.pid }}")
    body = f"steps:{steps}{handler}:{tell('tell_citizen')}"
    engine_activities.FAILURES.update({"lookup": 1, "tell_citizen": 1})
    async with new_worker(local_env.client) as worker:
        handle = await start_case(local_env.client, worker, compiled(handler, body), DOSSIER)
        if handler == "on_reject":
            await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
            await handle.execute_update(ProcedureWorkflow.decide, decision("reject"))
        else:
            await state_when(handle, lambda s: s.status == CaseStatus.stalled)
            await handle.execute_update(ProcedureWorkflow.resume, resume("lookup", "abort"))
        state = await state_when(handle, lambda s: "tell_citizen" in [x.step_id for x in s.stalls])
        assert state.status == CaseStatus.stalled
        await handle.execute_update(ProcedureWorkflow.resume, resume("tell_citizen", "abort"))
        result = await ended(handle)
        state = await handle.query(ProcedureWorkflow.state)
        attribute = await case_status_attribute(handle)
        described = await handle.describe()
    assert result.status == CaseStatus.aborted
    assert result.reason == "Đã xem xét"
    assert attribute == "aborted"
    assert described.status == WorkflowExecutionStatus.COMPLETED
    first = "rejected" if handler == "on_reject" else "aborted"
    assert (None, "handler_ended", f"{first} -> aborted") in [
        (e.step_id, e.kind, e.detail) for e in state.events
    ]


async def test_fail_step_inside_on_reject_fails_the_case(local_env: WorkflowEnvironment) -> None:
    body = f"""steps:{REVIEW}on_reject:
  - id: broken
    fail: {{message: "Không gửi được thông báo", code: NOTICE_FAILED}}
"""
    async with new_worker(local_env.client) as worker:
        handle = await start_case(local_env.client, worker, compiled("rejfail", body), DOSSIER)
        await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        await handle.execute_update(ProcedureWorkflow.decide, decision("reject"))
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), timeout=30)
        assert "Không gửi được thông báo" in str(failed.value.cause)
        assert await case_status_attribute(handle) == "failed"


# ------------------------------------------------------------------ cancellation


async def test_cancelled_case_is_aborted_after_on_abort(local_env: WorkflowEnvironment) -> None:
    body = f"steps:{REVIEW}on_abort:{tell('tell_cancelled')}"
    async with new_worker(local_env.client) as worker:
        handle = await start_case(local_env.client, worker, compiled("cancel", body), DOSSIER)
        await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), timeout=30)
        described = await handle.describe()
        state = await handle.query(ProcedureWorkflow.state)
    assert described.status == WorkflowExecutionStatus.CANCELED
    assert described.typed_search_attributes.get(CASE_STATUS) == "aborted"
    assert (state.status, state.reason) == (CaseStatus.aborted, CANCELLED_REASON)
    assert state.open_tasks == []
    assert await calls_of(handle.id) == ["tell_cancelled"]


# ------------------------------------------------------------------ the calendar


async def test_calendar_failure_stalls_the_case(
    ts_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The calendar file cannot be read: the real activity fails for its whole retry window
    # (minutes, skipped on the time-skipping server).
    monkeypatch.setattr(calendar, "calendar_path", lambda: tmp_path / "missing.yaml")
    client = ts_env.client
    async with new_worker(client) as worker:
        handle = await start_case(client, worker, compiled("cal", "steps:" + REVIEW), DOSSIER)
        await ts_env.sleep(timedelta(seconds=profile_for("calendar.").window + 60))
        state = await state_when(handle, lambda s: s.status == CaseStatus.stalled)
        [stall] = state.stalls
        assert (stall.step_id, stall.activity) == ("sla", "calendar.add_working_days")
        assert "cannot read calendar file" in stall.error
        assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        monkeypatch.undo()  # the file is back
        await handle.execute_update(ProcedureWorkflow.resume, resume("sla", "retry"))
        state = await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        assert state.due_at is not None
        await handle.execute_update(ProcedureWorkflow.decide, decision("approve"))
        assert (await ended(handle)).status == CaseStatus.completed


# ------------------------------------------------------------------ the apology

APOLOGY = """
apology:
  before_working_days: 1
  extend_working_days: 2
  steps:
"""


async def test_abort_of_a_stall_in_the_apology_ends_the_case(ts_env: WorkflowEnvironment) -> None:
    body = f"steps:{REVIEW}on_abort:{tell('tell_aborted')}{APOLOGY}{tell('apologise')}"
    engine_activities.FAILURES["apologise"] = 1
    async with new_worker(ts_env.client) as worker:
        handle = await start_case(ts_env.client, worker, compiled("sorry", body), DOSSIER)
        opened = await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        await skip_past(ts_env, opened.due_at)
        await state_when(handle, lambda s: [x.step_id for x in s.stalls] == ["apologise"])
        await handle.execute_update(ProcedureWorkflow.resume, resume("apologise", "abort"))
        result = await ended(handle)
        state = await handle.query(ProcedureWorkflow.state)
    assert result.status == CaseStatus.aborted
    assert state.open_tasks == []  # the officer's task went with the case
    assert await calls_of(handle.id) == ["tell_aborted"]


async def test_error_in_the_apology_is_recorded_and_shown(ts_env: WorkflowEnvironment) -> None:
    body = f"steps:{REVIEW}{APOLOGY}{tell('apologise', '{{ case.new_due_at }}')}"
    async with new_worker(ts_env.client, [engine_activities.switchable_calendar]) as worker:
        handle = await start_case(ts_env.client, worker, compiled("sorryerr", body), DOSSIER)
        opened = await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        # The calendar answers the apology's new date with nonsense: a bug somewhere, not
        # a failed call, so nothing stalls; the case goes on and the error is on record.
        engine_activities.CALENDAR_ANSWERS_NONSENSE = True
        try:
            await skip_past(ts_env, opened.due_at)
            state = await state_when(handle, lambda s: bool(s.problems))
        finally:
            engine_activities.CALENDAR_ANSWERS_NONSENSE = False
        [problem] = state.problems
        assert problem.step_id == "apology" and "ValueError" in problem.detail
        assert state.status == CaseStatus.waiting_officer
        summary = {"workflow_status": "running", "events": 0, "first": None, "last": None}
        shown = "\n".join(render(state, {**summary, "kinds": {}}))
        assert "Problems" in shown and "ValueError" in shown
        await handle.execute_update(ProcedureWorkflow.decide, decision("approve"))
        assert (await ended(handle)).status == CaseStatus.completed
