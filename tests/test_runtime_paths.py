"""The interpreter's paths off the happy one, each on a real (time-skipping) server: a
supplement that never comes with `on_timeout: continue`, `on_exhausted`, a member case that
fails, a wait for an event that times out, a compensation that stalls, an expression that
cannot be evaluated at run time."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.testing import WorkflowEnvironment

from motcua.workflows.contracts import (
    CaseResult,
    CaseStatus,
    DecideInput,
    ResumeInput,
)
from motcua.workflows.procedure import ProcedureWorkflow
from tests import engine_activities
from tests.helpers import compiled, new_worker, skip_past, start_case, state_when

DOSSIER = {"pid": "001203000123"}


def decide(action: str, **kw: Any) -> DecideInput:
    return DecideInput(
        step_id="review", action=action, role="officer", agency="UBND-001", actor="cb01", **kw
    )


def events(state: Any) -> list[tuple[str | None, str]]:
    return [(e.step_id, e.kind) for e in state.events]


async def test_supplement_timeout_continue_reopens_the_task(ts_env: WorkflowEnvironment) -> None:
    body = """
steps:
  - id: review
    task:
      role: officer
      agency: UBND-001
      actions: [approve, request_supplement]
      supplement: {working_days: 2, on_timeout: continue}
output: {scan: "{{ input.scan }}"}
"""
    async with new_worker(ts_env.client) as worker:
        handle = await start_case(ts_env.client, worker, compiled("goon", body), DOSSIER)
        await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        ask = decide("request_supplement", missing=["Bản chụp giấy tờ"])
        await handle.execute_update(ProcedureWorkflow.decide, ask)
        asked = await state_when(handle, lambda s: s.status == CaseStatus.waiting_citizen)
        await skip_past(ts_env, asked.open_tasks[0].supplement_due_at)
        reopened = await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        assert ("review", "supplement_expired") in events(reopened)
        assert reopened.open_tasks[0].waiting_for == "officer"
        await handle.execute_update(ProcedureWorkflow.decide, decide("approve"))
        result: CaseResult = await handle.result()
    assert result.status == CaseStatus.completed
    assert result.output == {"scan": None}  # nothing came; the task was decided without it


@pytest.mark.parametrize("policy", ["continue", "fail"])
async def test_on_exhausted(ts_env: WorkflowEnvironment, policy: str) -> None:
    body = f"""
steps:
  - id: lookup
    call: test.echo
    with: {{value: "{{{{ input.pid }}}}"}}
    retry: {{max_attempts: 2, initial_interval: 1s}}
    on_exhausted: {policy}
output: {{found: "{{{{ lookup is not none }}}}"}}
"""
    engine_activities.FAILURES["lookup"] = 2
    async with new_worker(ts_env.client) as worker:
        handle = await start_case(ts_env.client, worker, compiled(f"ex{policy}", body), DOSSIER)
        if policy == "continue":
            result: CaseResult = await handle.result()
            state = await handle.query(ProcedureWorkflow.state)
            assert result.status == CaseStatus.completed
            assert result.output == {"found": False}
            assert ("lookup", "call_failed") in events(state)
            assert state.stalls == [] and state.resumes == []
        else:
            with pytest.raises(WorkflowFailureError) as failed:
                await handle.result()
            assert "registry unavailable" in str(failed.value.cause)
            state = await handle.query(ProcedureWorkflow.state)
            assert state.status == CaseStatus.failed


MEMBER_FAILS = """
steps:
  - id: broken
    fail: {message: "Hệ thống cấp mã lỗi", code: CODE_SERVICE_DOWN}
"""


@pytest.mark.parametrize("on_fail", ["continue", "fail", "reject"])
async def test_failing_member_case(ts_env: WorkflowEnvironment, on_fail: str) -> None:
    member = compiled("member_broken", MEMBER_FAILS)
    bundle = compiled(
        f"bundle_{on_fail}",
        f"""
steps:
  - id: part
    procedure:
      id: vn.test.member_broken
      input: {{pid: "{{{{ input.pid }}}}"}}
      on_fail: {on_fail}
output: {{part: "{{{{ part.status }}}}", why: "{{{{ part.reason }}}}"}}
""",
    )
    members = {"vn.test.member_broken": member}
    async with new_worker(ts_env.client) as worker:
        handle = await start_case(ts_env.client, worker, bundle, DOSSIER, members=members)
        if on_fail == "fail":
            with pytest.raises(WorkflowFailureError) as failed:
                await handle.result()
            assert "Hệ thống cấp mã lỗi" in str(failed.value.cause)
            state = await handle.query(ProcedureWorkflow.state)
            assert state.status == CaseStatus.failed
        else:
            result: CaseResult = await handle.result()
            assert result.children == {"part": "failed"}
            if on_fail == "continue":
                assert result.status == CaseStatus.completed
                assert result.output["part"] == "failed"
                assert "Hệ thống cấp mã lỗi" in result.output["why"]
            else:
                assert result.status == CaseStatus.rejected
                assert "Hệ thống cấp mã lỗi" in (result.reason or "")


async def test_wait_for_event_times_out_and_goes_on(ts_env: WorkflowEnvironment) -> None:
    body = """
steps:
  - id: payment
    wait: {event: paid, timeout: 2d}
  - id: after
    set: {paid: "{{ payment is not none }}"}
output: {paid: "{{ paid }}"}
"""
    async with new_worker(ts_env.client) as worker:
        handle = await start_case(ts_env.client, worker, compiled("nopay", body), DOSSIER)
        await state_when(handle, lambda s: "payment" in s.current_steps)
        result: CaseResult = await handle.result()  # the server skips the two days
        state = await handle.query(ProcedureWorkflow.state)
    assert result.status == CaseStatus.completed
    assert result.output == {"paid": False}
    assert ("payment", "wait_timed_out") in events(state)


async def test_stalled_compensation_resumes(ts_env: WorkflowEnvironment) -> None:
    body = """
steps:
  - id: record
    call: test.echo
    with: {value: "{{ input.pid }}"}
    retry: {max_attempts: 1}
    undo: {call: test.echo, with: {value: "undo"}}
  - id: review
    task: {role: officer, agency: UBND-001, actions: [approve, reject]}
on_reject:
  - id: roll_back
    compensate: {}
"""
    engine_activities.FAILURES["undo"] = 1  # the registry refuses the undo once
    async with new_worker(ts_env.client) as worker:
        handle = await start_case(ts_env.client, worker, compiled("undo", body), DOSSIER)
        await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        await handle.execute_update(ProcedureWorkflow.decide, decide("reject", comment="Sai"))
        state = await state_when(handle, lambda s: s.status == CaseStatus.stalled)
        [stall] = state.stalls
        assert (stall.step_id, stall.activity) == ("roll_back", "test.echo")
        again = ResumeInput(step_id="roll_back", action="retry", actor="cb02", reason="Thử lại")
        await handle.execute_update(ProcedureWorkflow.resume, again)
        result: CaseResult = await handle.result()
        state = await handle.query(ProcedureWorkflow.state)
    assert result.status == CaseStatus.rejected
    assert ("roll_back", "compensated") in events(state)
    undo_calls = [k for k in engine_activities.CALLS if k == f"{handle.id}:record:undo"]
    assert len(undo_calls) == 2  # refused once, then done


async def test_expression_failing_at_run_time_stalls_then_skip(
    ts_env: WorkflowEnvironment,
) -> None:
    # The registry answers without the field the next step needs: the case stalls on the
    # expression, and an officer supplies the value.
    body = """
steps:
  - id: lookup
    call: test.echo
    with: {value: {name: "x"}}
  - id: address
    set: {commune: "{{ lookup.value.commune_code }}"}
output: {commune: "{{ commune if commune is defined else 'chưa rõ' }}"}
"""
    async with new_worker(ts_env.client) as worker:
        handle = await start_case(ts_env.client, worker, compiled("expr", body), DOSSIER)
        state = await state_when(handle, lambda s: s.status == CaseStatus.stalled)
        [stall] = state.stalls
        assert (stall.step_id, stall.activity) == ("address", "expression")
        assert "commune_code" in stall.error
        skip = ResumeInput(step_id="address", action="skip", actor="cb02", reason="Bỏ qua")
        await handle.execute_update(ProcedureWorkflow.resume, skip)
        result: CaseResult = await handle.result()
        state = await handle.query(ProcedureWorkflow.state)
    assert result.status == CaseStatus.completed
    assert result.output == {"commune": "chưa rõ"}
    assert ("address", "resumed_skip") in events(state)
