"""The definition store (ADR 0012): a bundle's members are kept once, by hash, and a member
case fetches its own definition; one the store cannot give stalls the member until an
officer retries it."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from motcua.activities import definitions
from motcua.activities.store import LocalResultStore, StoreError, get_store
from motcua.workflows.contracts import CaseStatus, CompiledProcedure
from motcua.workflows.procedure import FETCH_STEP, ProcedureWorkflow
from tests.helpers import new_worker, start_case, state_when
from tests.test_case_endings import DOSSIER, compiled, decision, resume

MEMBER = """
steps:
  - id: review
    task: {role: officer, agency: UBND-001, actions: [approve, reject]}
"""
BUNDLE = """
steps:
  - id: part
    procedure: {id: vn.test.fetched_member, input: {pid: "{{ input.pid }}"}}
"""


def stored_path(procedure: CompiledProcedure) -> Path:
    store = get_store()
    assert isinstance(store, LocalResultStore)  # the default, which these tests alter
    return store.path(procedure.hash + definitions.SUFFIX)


def test_a_definition_comes_back_as_it_was_put() -> None:
    member = compiled("stored_member", MEMBER)
    ref = definitions.put(member)
    assert (ref.id, ref.version, ref.hash) == ("vn.test.stored_member", 1, member.hash)
    assert definitions.put(member) == ref  # a second put writes nothing new
    assert definitions.get(ref.hash) == member


def test_a_definition_put_under_a_wrong_hash_is_refused() -> None:
    member = compiled("wrong_hash", MEMBER)
    with pytest.raises(ValueError, match="hash does not match"):
        definitions.put(member.model_copy(update={"hash": "0" * 64}))


def test_an_altered_definition_is_not_served() -> None:
    member = compiled("altered_member", MEMBER)
    definitions.put(member)
    path = stored_path(member)
    path.write_bytes(path.read_bytes().replace(b"UBND-001", b"UBND-002"))
    with pytest.raises(StoreError, match="corrupted"):
        definitions.get(member.hash)


async def test_the_fetch_activity_says_missing_or_altered() -> None:
    env = ActivityEnvironment()
    missing = definitions.FetchDefinition(hash="a" * 64)
    with pytest.raises(ApplicationError) as missed:
        await env.run(definitions.fetch, missing)
    assert missed.value.type == "NOT_FOUND" and not missed.value.non_retryable

    member = compiled("fetched_altered", MEMBER)
    definitions.put(member)
    stored_path(member).write_bytes(b"{}")
    with pytest.raises(ApplicationError) as altered:
        await env.run(definitions.fetch, definitions.FetchDefinition(hash=member.hash))
    assert altered.value.type == "DEFINITION_CORRUPT" and altered.value.non_retryable


@pytest.mark.timeout(120)
async def test_a_member_without_its_definition_stalls_until_retried(
    local_env: WorkflowEnvironment,
) -> None:
    client = local_env.client
    member = compiled("fetched_member", MEMBER)
    async with new_worker(client) as worker:
        bundle = await start_case(
            client, worker, compiled("fetching_bundle", BUNDLE), DOSSIER,
            members={"vn.test.fetched_member": member},
        )  # fmt: skip
        stored_path(member).write_bytes(b"not a definition")  # damaged after the start
        child = client.get_workflow_handle_for(ProcedureWorkflow.run, f"{bundle.id}.part")
        stalled = await state_when(child, lambda s: s.status == CaseStatus.stalled)
        assert [s.step_id for s in stalled.stalls] == [FETCH_STEP]
        assert "does not load" in stalled.stalls[0].error
        assert stalled.procedure_id == "vn.test.fetched_member"  # known before it is fetched

        stored_path(member).unlink()
        definitions.put(member)  # repaired
        await child.execute_update(
            ProcedureWorkflow.resume,
            resume(FETCH_STEP, "retry"),
        )
        await state_when(child, lambda s: s.status == CaseStatus.waiting_officer)
        await child.execute_update(ProcedureWorkflow.decide, decision("approve"))
        result = await bundle.result()
    assert result.status == CaseStatus.completed
    assert result.children == {"part": CaseStatus.completed.value}
