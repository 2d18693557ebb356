"""A bundle shows its members' state: while a member is stalled or waiting, so is the
bundle, in its state and its CaseStatus search attribute, and `motcua show` lists the
member's open tasks and stalls (ADR 0007)."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from motcua.cli.cases import _show, render
from motcua.workflows.contracts import CASE_STATUS, CaseResult, CaseStatus, ResumeInput
from motcua.workflows.procedure import ProcedureWorkflow
from tests import engine_activities
from tests.helpers import eventually, new_worker, start_case, state_when
from tests.test_case_endings import DOSSIER, compiled, decision

MEMBER = """
steps:
  - id: lookup
    call: test.echo
    with: {value: "{{ input.pid }}"}
    retry: {max_attempts: 1}
  - id: review
    task: {role: officer, agency: UBND-001, actions: [approve, reject]}
"""
BUNDLE = """
steps:
  - id: part
    procedure: {id: vn.test.member_stalls, input: {pid: "{{ input.pid }}"}}
"""


@pytest.mark.timeout(120)
async def test_bundle_is_stalled_while_its_member_is(local_env: WorkflowEnvironment) -> None:
    client = local_env.client
    members = {"vn.test.member_stalls": compiled("member_stalls", MEMBER)}
    engine_activities.FAILURES["lookup"] = 1
    async with new_worker(client) as worker:
        bundle = await start_case(
            client, worker, compiled("bundle_shows", BUNDLE), DOSSIER, members=members
        )
        member = client.get_workflow_handle(f"{bundle.id}.part")

        async def attribute() -> str | None:
            return (await bundle.describe()).typed_search_attributes.get(CASE_STATUS)

        state = await state_when(bundle, lambda s: s.status == CaseStatus.stalled)
        assert state.children == {"part": "stalled"}
        assert await eventually(attribute, lambda v: v == "stalled") == "stalled"
        address = client.service_client.config.target_host
        shown_state, summary = await _show(bundle.id, address, "default")
        shown = "\n".join(render(shown_state, summary))
        assert f"{bundle.id}.part: stalled" in shown
        assert "lookup: STALLED, test.echo failed after 1 attempt(s)" in shown

        retry = ResumeInput(step_id="lookup", action="retry", actor="cb02", reason="Đã sửa")
        await member.execute_update(ProcedureWorkflow.resume, retry)
        state = await state_when(bundle, lambda s: s.status == CaseStatus.waiting_officer)
        assert state.children == {"part": "waiting_officer"}
        assert await eventually(attribute, lambda v: v == "waiting_officer")
        shown_state, summary = await _show(bundle.id, address, "default")
        assert "review: role officer at UBND-001, waiting for officer" in "\n".join(
            render(shown_state, summary)
        )

        await member.execute_update(ProcedureWorkflow.decide, decision("approve"))
        result: CaseResult = await bundle.result()
    assert result.status == CaseStatus.completed
    assert result.children == {"part": "completed"}
