"""Every step kind on the time-skipping test server, with real activities and Updates."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from motcua.workflows.contracts import (
    CaseResult,
    CaseStatus,
    CompiledProcedure,
    DecideInput,
    EventInput,
    ResumeInput,
    SupplementInput,
)
from motcua.workflows.procedure import ProcedureWorkflow
from tests import engine_activities, helpers
from tests.helpers import new_worker, skip_past, start_case, state_when

HEADER = """
id: vn.test.{name}
version: 1
title: Thủ tục kiểm thử
agency: commune
sla: {{working_days: 5}}
roles: [officer, chair]
input:
  pid: {{type: pid}}
  note: {{type: string, required: false}}
  scan: {{type: file, required: false}}
  channel: {{type: string, required: false, supplementable: true}}
  signed_scan: {{type: file, required: false, supplementable: false}}
"""


def compiled(name: str, body: str) -> CompiledProcedure:
    return helpers.compiled(name, body, HEADER)


REVIEW = """
steps:
  - id: review
    task:
      role: officer
      agency: "{{ 'UBND-' ~ input.pid[:3] }}"
      actions: [approve, reject, request_supplement]
      sla: {working_days: 1}
      escalate_to: chair
      supplement: {working_days: 7}
  - id: after
    set: {decided: "{{ review.action }}"}
on_reject:
  - id: noted
    set: {why: "{{ reason }}"}
output: {action: "{{ decided }}", note: "{{ input.note }}"}
"""
DOSSIER = {"pid": "001203000123", "note": "lần đầu"}
AGENCY = "UBND-001"
VN = ZoneInfo("Asia/Ho_Chi_Minh")
PROJECTION_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_MARKER_RECORDED,
}


def decide(step: str = "review", action: str = "approve", **kw: Any) -> DecideInput:
    fields = {"role": "officer", "agency": AGENCY, "actor": "cb01", "comment": "", **kw}
    return DecideInput(step_id=step, action=action, **fields)


async def result_of(handle: Any) -> CaseResult:
    return await handle.result()


async def test_task_approve_completes(ts_env: WorkflowEnvironment) -> None:
    async with new_worker(ts_env.client) as worker:
        handle = await start_case(ts_env.client, worker, compiled("approve", REVIEW), DOSSIER)
        state = await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        assert [t.step_id for t in state.open_tasks] == ["review"]
        assert state.open_tasks[0].agency == AGENCY and state.due_at is not None
        decision = await handle.execute_update(ProcedureWorkflow.decide, decide())
        assert decision.action == "approve"
        result = await result_of(handle)
    assert result.status == CaseStatus.completed
    assert result.output == {"action": "approve", "note": "lần đầu"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"step_id": "nope"}, "no open task 'nope'"),
        ({"role": "chair"}, "role 'chair' may not decide"),
        ({"agency": "UBND-079"}, "agency 'UBND-079' is not competent"),
        ({"action": "publish"}, "action 'publish' is not allowed"),
        ({"action": "request_supplement"}, "must list what is missing"),
    ],
)
async def test_decide_validator_refuses_without_trace(
    local_env: WorkflowEnvironment, change: dict[str, str], message: str
) -> None:
    # On the dev server: the time-skipping server keeps the empty workflow task that a
    # refused Update runs in, while a real server drops it.
    async with new_worker(local_env.client) as worker:
        handle = await start_case(local_env.client, worker, compiled("refuse", REVIEW), DOSSIER)
        await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        before = len((await handle.fetch_history()).events)
        bad = decide().model_copy(update=change)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(ProcedureWorkflow.decide, bad)
        assert message in str(refused.value.cause)
        history = await handle.fetch_history()
        # The read model's projection of the waiting state may land meanwhile (a local
        # activity's marker in its own workflow task); nothing else may.
        added = [e.event_type for e in history.events[before:]]
        assert set(added) <= PROJECTION_EVENTS, added
        assert "WORKFLOW_EXECUTION_UPDATE" not in str([e.event_type for e in history.events])
        state = await handle.query(ProcedureWorkflow.state)
        assert state.decisions == [] and state.status == CaseStatus.waiting_officer
        await handle.execute_update(ProcedureWorkflow.decide, decide())
        assert (await result_of(handle)).status == CaseStatus.completed


async def test_supplement_loop_returns_to_same_task(ts_env: WorkflowEnvironment) -> None:
    async with new_worker(ts_env.client) as worker:
        handle = await start_case(ts_env.client, worker, compiled("supp", REVIEW), DOSSIER)
        await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        ask = decide(action="request_supplement", missing=["Bản sao giấy chứng sinh"])
        await handle.execute_update(ProcedureWorkflow.decide, ask)
        state = await state_when(handle, lambda s: s.status == CaseStatus.waiting_citizen)
        assert state.open_tasks[0].missing == ["Bản sao giấy chứng sinh"]
        assert state.open_tasks[0].supplement_due_at is not None
        with pytest.raises(WorkflowUpdateFailedError):  # officers cannot decide meanwhile
            await handle.execute_update(ProcedureWorkflow.decide, decide())
        await handle.execute_update(
            ProcedureWorkflow.supplement,
            SupplementInput(step_id="review", actor="citizen", documents={"scan": "upload:a.pdf"}),
        )
        await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        await handle.execute_update(ProcedureWorkflow.decide, decide())
        result = await result_of(handle)
    assert result.status == CaseStatus.completed


async def test_supplement_changes_only_what_was_asked_for(ts_env: WorkflowEnvironment) -> None:
    # The officer names `note` (by id) among the missing papers; files and fields declared
    # supplementable may come too; the personal id and a file declared not supplementable
    # may not.
    async with new_worker(ts_env.client) as worker:
        handle = await start_case(ts_env.client, worker, compiled("only", REVIEW), DOSSIER)
        await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        ask = decide(action="request_supplement", missing=["Bản sao giấy chứng sinh", "note"])
        await handle.execute_update(ProcedureWorkflow.decide, ask)
        await state_when(handle, lambda s: s.status == CaseStatus.waiting_citizen)

        async def send(documents: dict[str, str]) -> None:
            await handle.execute_update(
                ProcedureWorkflow.supplement,
                SupplementInput(step_id="review", actor="citizen", documents=documents),
            )

        for wrong in ({"pid": "001203000999"}, {"signed_scan": "upload:b.pdf", "note": "x"}):
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await send(wrong)
            message = str(refused.value.cause)
            assert f"may not change {next(iter(wrong))}:" in message
            assert "may be sent: note, scan, channel" in message
            assert "001203000999" not in message  # the value is not quoted back
        with pytest.raises(WorkflowUpdateFailedError) as invalid:
            await send({"note": "x", "scan": 12})  # type: ignore[dict-item]
        assert "scan: must be a file reference" in str(invalid.value.cause)
        await send({"note": "đã bổ sung", "scan": "upload:a.pdf", "channel": "online"})
        await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        await handle.execute_update(ProcedureWorkflow.decide, decide())
        result = await result_of(handle)
    assert result.status == CaseStatus.completed
    assert result.output["note"] == "đã bổ sung"


async def test_supplement_expiry_rejects(ts_env: WorkflowEnvironment) -> None:
    async with new_worker(ts_env.client) as worker:
        handle = await start_case(ts_env.client, worker, compiled("expire", REVIEW), DOSSIER)
        await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        ask = decide(action="request_supplement", missing=["Tờ khai"])
        await handle.execute_update(ProcedureWorkflow.decide, ask)
        asked = await state_when(handle, lambda s: s.status == CaseStatus.waiting_citizen)
        await skip_past(ts_env, asked.open_tasks[0].supplement_due_at)
        result = await result_of(handle)
    assert result.status == CaseStatus.rejected
    assert result.reason == "Hết thời hạn bổ sung hồ sơ"


async def test_overdue_task_escalates_to_chair(ts_env: WorkflowEnvironment) -> None:
    async with new_worker(ts_env.client) as worker:
        handle = await start_case(ts_env.client, worker, compiled("late", REVIEW), DOSSIER)
        opened = await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        await skip_past(ts_env, opened.open_tasks[0].due_at)
        state = await state_when(handle, lambda s: s.open_tasks[0].escalated)
        assert [e.kind for e in state.events].count("escalated") == 1
        await handle.execute_update(ProcedureWorkflow.decide, decide(role="chair"))
        assert (await result_of(handle)).status == CaseStatus.completed


FLAKY = """
steps:
  - id: lookup
    call: test.echo
    with: {value: "{{ input.pid }}"}
    retry: {max_attempts: 2, initial_interval: 1s}
    skippable: true
    result: {value: {type: string}}
output: {got: "{{ lookup.value if lookup else 'none' }}"}
"""


@pytest.mark.parametrize(
    ("action", "extra", "status", "got"),
    [
        ("retry", {}, CaseStatus.completed, DOSSIER["pid"]),
        ("provide", {"result": {"value": "nhập tay"}}, CaseStatus.completed, "nhập tay"),
        ("skip", {}, CaseStatus.completed, "none"),
        ("abort", {}, CaseStatus.aborted, None),
    ],
)
async def test_stall_then_resume(
    ts_env: WorkflowEnvironment, action: str, extra: dict[str, Any], status: CaseStatus, got: Any
) -> None:
    engine_activities.FAILURES["lookup"] = 2  # both attempts fail: the case stalls
    async with new_worker(ts_env.client) as worker:
        handle = await start_case(ts_env.client, worker, compiled(f"stall{action}", FLAKY), DOSSIER)
        state = await state_when(handle, lambda s: s.status == CaseStatus.stalled)
        stall = state.stalls[0]
        assert (stall.step_id, stall.activity, stall.attempts) == ("lookup", "test.echo", 2)
        assert "registry unavailable" in stall.error
        if action == "provide":
            with pytest.raises(WorkflowUpdateFailedError) as bad:
                wrong = ResumeInput(
                    step_id="lookup", action="provide", actor="cb", reason="x", result={"v": 1}
                )
                await handle.execute_update(ProcedureWorkflow.resume, wrong)
            assert "v: unknown field" in str(bad.value.cause)
        resume = ResumeInput(
            step_id="lookup", action=action, actor="cb02", reason="Cơ sở dữ liệu đã hoạt động"
        )
        await handle.execute_update(ProcedureWorkflow.resume, resume.model_copy(update=extra))
        result = await result_of(handle)
        state = await handle.query(ProcedureWorkflow.state)
    assert result.status == status
    assert [(r.action, r.actor) for r in state.resumes] == [(action, "cb02")]
    if got is not None:
        assert result.output == {"got": got}


async def test_a_typed_result_gets_the_defaults_the_officer_left_out(
    ts_env: WorkflowEnvironment,
) -> None:
    engine_activities.FAILURES["lookup"] = 2
    body = FLAKY.replace(
        "result: {value: {type: string}}",
        "result:\n      value: {type: string}\n"
        "      source: {type: string, required: false, default: sổ giấy}",
    ).replace("lookup.value if lookup else 'none'", "lookup.value ~ ' / ' ~ lookup.source")
    async with new_worker(ts_env.client) as worker:
        handle = await start_case(ts_env.client, worker, compiled("provdef", body), DOSSIER)
        await state_when(handle, lambda s: s.status == CaseStatus.stalled)
        typed = ResumeInput(
            step_id="lookup", action="provide", actor="cb", reason="Nhập từ sổ",
            result={"value": "12/2001"},
        )  # fmt: skip
        await handle.execute_update(ProcedureWorkflow.resume, typed)
        result = await result_of(handle)
    assert result.output == {"got": "12/2001 / sổ giấy"}


async def test_skip_refused_when_step_not_skippable(ts_env: WorkflowEnvironment) -> None:
    engine_activities.FAILURES["lookup"] = 2
    body = FLAKY.replace("skippable: true", "skippable: false")
    async with new_worker(ts_env.client) as worker:
        handle = await start_case(ts_env.client, worker, compiled("noskip", body), DOSSIER)
        await state_when(handle, lambda s: s.status == CaseStatus.stalled)
        skip = ResumeInput(step_id="lookup", action="skip", actor="cb", reason="thử")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(ProcedureWorkflow.resume, skip)
        assert "may not be skipped" in str(refused.value.cause)
        retry = skip.model_copy(update={"action": "retry"})
        await handle.execute_update(ProcedureWorkflow.resume, retry)
        assert (await result_of(handle)).status == CaseStatus.completed


FLOW = """
steps:
  - id: both
    parallel:
      left:
        - id: a
          call: test.echo
          with: {value: 1}
      right:
        - id: b
          call: test.echo
          with: {value: 2}
        - id: signal
          wait: {event: paid, timeout: 1h}
  - id: total
    set: {sum: "{{ a.value + b.value }}"}
  - id: pause
    wait: {working_days: 1}
  - id: branch
    switch:
      cases:
        - when: "sum > 10"
          steps:
            - id: big
              reject: {reason: "quá lớn"}
        - when: "signal.amount == 5000"
          steps:
            - id: paid_ok
              set: {route: "paid"}
      default:
        - id: other
          set: {route: "other"}
  - id: skipped
    when: "route == 'other'"
    fail: {message: "không tới đây"}
output: {sum: "{{ sum }}", route: "{{ route }}", amount: "{{ signal.amount }}"}
"""


async def test_parallel_wait_set_switch(ts_env: WorkflowEnvironment) -> None:
    async with new_worker(ts_env.client) as worker:
        handle = await start_case(ts_env.client, worker, compiled("flow", FLOW), DOSSIER)
        await state_when(handle, lambda s: "signal" in s.current_steps)
        await handle.signal(ProcedureWorkflow.event, EventInput(name="paid", data={"amount": 5000}))
        result = await result_of(handle)
    assert result.status == CaseStatus.completed
    assert result.output == {"sum": 3, "route": "paid", "amount": 5000}


async def test_fail_step_fails_the_workflow(ts_env: WorkflowEnvironment) -> None:
    body = FLOW.replace("when: \"route == 'other'\"", "when: \"route == 'paid'\"")
    async with new_worker(ts_env.client) as worker:
        handle = await start_case(ts_env.client, worker, compiled("fail", body), DOSSIER)
        await state_when(handle, lambda s: "signal" in s.current_steps)
        await handle.signal(ProcedureWorkflow.event, EventInput(name="paid", data={"amount": 5000}))
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        assert "không tới đây" in str(failed.value.cause)
        state = await handle.query(ProcedureWorkflow.state)
    assert state.status == CaseStatus.failed


BUNDLE = """
steps:
  - id: first
    procedure: {id: vn.test.member_a, input: {pid: "{{ input.pid }}"}}
  - id: second
    procedure: {id: vn.test.member_b, input: {pid: "{{ input.pid }}"}, on_reject: continue}
output:
  first: "{{ first.status }}"
  second: "{{ second.status }}"
  why: "{{ second.reason }}"
"""


async def test_bundle_member_rejected_keeps_completed_member(ts_env: WorkflowEnvironment) -> None:
    members = {
        "vn.test.member_a": compiled("member_a", REVIEW),
        "vn.test.member_b": compiled("member_b", REVIEW),
    }
    async with new_worker(ts_env.client) as worker:
        code = "B01-261123-0001"
        handle = await start_case(
            ts_env.client, worker, compiled("bundle", BUNDLE), DOSSIER, members=members, code=code
        )
        child_a = ts_env.client.get_workflow_handle(f"{code}.first")
        await state_when(child_a, lambda s: s.status == CaseStatus.waiting_officer)
        await child_a.execute_update(ProcedureWorkflow.decide, decide())
        child_b = ts_env.client.get_workflow_handle(f"{code}.second")
        await state_when(child_b, lambda s: s.status == CaseStatus.waiting_officer)
        await child_b.execute_update(
            ProcedureWorkflow.decide, decide(action="reject", comment="Sai")
        )
        result = await result_of(handle)
    assert result.status == CaseStatus.completed
    assert result.output == {"first": "completed", "second": "rejected", "why": "Sai"}
    assert result.children == {"first": "completed", "second": "rejected"}


PAPERWORK = """
apology:
  before_working_days: 1
  extend_working_days: 3
  steps:
    - id: apologised
      set: {new_date: "{{ case.new_due_at | vn_date }}"}
steps:
  - id: receipt
    set: {appointment: "{{ case.due_at | vn_date }}", received: "{{ case.received_at }}"}
  - id: review
    task:
      role: officer
      agency: UBND-001
      actions: [approve, request_supplement]
      on_supplement:
        - id: asked
          set: {asked_for: "{{ review.missing | join(', ') }}", by: "{{ supplement_due_at }}"}
output:
  appointment: "{{ appointment }}"
  asked_for: "{{ asked_for }}"
  new_date: "{{ new_date }}"
"""


async def test_supplement_steps_apology_and_task_records(ts_env: WorkflowEnvironment) -> None:
    async with new_worker(ts_env.client) as worker:
        handle = await start_case(ts_env.client, worker, compiled("paper", PAPERWORK), DOSSIER)
        first = await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        ask = decide(action="request_supplement", missing=["Tờ khai", "Giấy chứng sinh"])
        await handle.execute_update(
            ProcedureWorkflow.decide, ask.model_copy(update={"agency": "UBND-001"})
        )
        await state_when(handle, lambda s: s.status == CaseStatus.waiting_citizen)
        await handle.execute_update(
            ProcedureWorkflow.supplement,
            SupplementInput(step_id="review", actor="citizen", documents={"scan": "upload:t.pdf"}),
        )
        back = await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        await skip_past(ts_env, back.due_at)  # past the apology point, a working day before
        late = await state_when(handle, lambda s: any(e.kind == "apology" for e in s.events))
        await handle.execute_update(ProcedureWorkflow.decide, decide())
        result = await result_of(handle)
        state = await handle.query(ProcedureWorkflow.state)
    assert result.output["asked_for"] == "Tờ khai, Giấy chứng sinh"
    assert first.due_at is not None and late.due_at is not None and late.due_at > first.due_at
    assert result.output["appointment"] == first.due_at.astimezone(VN).strftime("%d/%m/%Y")
    assert result.output["new_date"] == late.due_at.astimezone(VN).strftime("%d/%m/%Y")
    assert [(t.role, t.action) for t in state.tasks] == [
        ("officer", "request_supplement"),
        ("citizen", "supplemented"),
        ("officer", "approve"),
    ]
    assert all(t.closed_at is not None for t in state.tasks)
