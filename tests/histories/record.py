"""Record the golden histories replayed by tests/test_replay.py.

Run `make histories` after a deliberate behaviour change (behind `workflow.patched`), and
commit the new files next to the old ones: old histories must keep replaying.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from motcua.settings import ROOT
from motcua.simulate.runner import SharedRun, start_test_env
from motcua.smtp_sink import running_sink
from motcua.temporal import data_converter, ensure_search_attributes
from motcua.workflows.contracts import AssignInput, CaseStatus
from motcua.workflows.procedure import ProcedureWorkflow
from tests.conftest import BIN
from tests.demo_case import run_every_step
from tests.helpers import new_worker

HERE = Path(__file__).resolve().parent
# Bump when a patched behaviour change needs new histories; keep the older files, since
# cases started before the change must keep replaying.
# v3: a step run again gets its own idempotency key; v4: a member case starts with its own
# members only, and the ways a case ends (handlers, apology, cancellation); v5: a member
# reports its status to its bundle, and calls retry for a window with heartbeats; v6: one
# engine-generation marker for every change, working days counted in the case, search
# attributes upserted once per workflow task, payloads compressed; v7: a bundle names its
# members by hash and each member fetches its own definition (ADR 0012); v8: the catalogue
# in language v2 (one-stop paperwork written in by the compiler; members keep quiet by
# `case.member`), and a typed result gets the defaults its fields declare; v9: each case
# projects its state to the read model (a local activity per change), and a supervisor
# assigns a task; v10: a closing case starts its archiving (archive.start).
GENERATION = "v10"


async def save(client: Client, handle: WorkflowHandle, name: str) -> WorkflowHistory:
    history = await handle.fetch_history()
    path = HERE / f"{name}.{GENERATION}.json"
    path.write_text(json.dumps(json.loads(history.to_json()), indent=1) + "\n")
    print(f"wrote tests/histories/{path.name} ({len(history.events)} events)")  # noqa: T201
    return history


# Integrated bundles and other scenarios, recorded through the scenario runner (the same
# runs the suite makes).
BUNDLE_SCENARIOS = {
    "birth_bundle_approved": ROOT / "scenarios/birth/bundle_happy.yaml",
    "birth_bundle_residence_rejected": ROOT / "scenarios/birth/bundle_rejected.yaml",
    "death_bundle_four_approved": ROOT / "scenarios/death/bundle_four_procedures_approved.yaml",
    "death_bundle_partial": ROOT / "scenarios/death/bundle_member_rejected_partial.yaml",
    "birth_supplement_three_rounds": ROOT / "scenarios/birth/birth_supplement_three_rounds.yaml",
}


async def record_bundles(only: set[str] | None = None) -> None:
    # One server for all of them, kept open after each run so its histories can be fetched.
    env = await start_test_env()
    try:
        async with SharedRun(env=env) as run:
            for name, path in BUNDLE_SCENARIOS.items():
                if only is not None and name not in only:
                    continue
                report = await run.run(path)
                if not report.passed or report.dossier_code is None:
                    raise SystemExit(f"{path}: scenario failed:\n{report.failure_text()}")
                client = env.client
                handle = client.get_workflow_handle(report.dossier_code)
                history = await save(client, handle, name)
                for event in history.events:
                    if event.HasField("start_child_workflow_execution_initiated_event_attributes"):
                        child = event.start_child_workflow_execution_initiated_event_attributes
                        step_id = child.workflow_id.rsplit(".", 1)[-1]
                        member = client.get_workflow_handle(child.workflow_id)
                        await save(client, member, f"{name}.{step_id}")
    finally:
        await env.shutdown()


async def record_edges() -> None:
    """Cases that end on the way out (tests/test_case_endings.py): a stall inside on_reject
    that an officer aborts, an aborted stall in the apology, a cancelled case, a calendar
    that fails once. Their histories hold the markers of those patches."""
    from tests import engine_activities
    from tests.helpers import skip_past, start_case, state_when
    from tests.test_case_endings import APOLOGY, DOSSIER, REVIEW, compiled, decision, resume, tell

    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(),
        test_server_existing_path=str(BIN / "temporal-test-server"),
    )
    await ensure_search_attributes(env.client)
    client = env.client
    try:
        async with new_worker(client) as worker:
            engine_activities.FAILURES["tell_citizen"] = 1
            body = f"steps:{REVIEW}on_reject:{tell('tell_citizen')}"
            handle = await start_case(client, worker, compiled("edge_reject", body), DOSSIER)
            await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
            await handle.execute_update(ProcedureWorkflow.decide, decision("reject"))
            await state_when(handle, lambda s: s.status == CaseStatus.stalled)
            await handle.execute_update(ProcedureWorkflow.resume, resume("tell_citizen", "abort"))
            await handle.result()
            await save(client, handle, "on_reject_stall_aborted")

            engine_activities.FAILURES["apologise"] = 1
            body = f"steps:{REVIEW}on_abort:{tell('tell_aborted')}{APOLOGY}{tell('apologise')}"
            handle = await start_case(client, worker, compiled("edge_sorry", body), DOSSIER)
            opened = await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
            await skip_past(env, opened.due_at)
            await state_when(handle, lambda s: s.status == CaseStatus.stalled)
            await handle.execute_update(ProcedureWorkflow.resume, resume("apologise", "abort"))
            await handle.result()
            await save(client, handle, "apology_stall_aborted")

            body = f"steps:{REVIEW}on_abort:{tell('tell_cancelled')}"
            handle = await start_case(client, worker, compiled("edge_cancel", body), DOSSIER)
            await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
            await handle.cancel()
            with contextlib.suppress(WorkflowFailureError):
                await handle.result()
            await save(client, handle, "cancelled_after_on_abort")

            engine_activities.FAILURES["lookup"] = 1
            typed = tell("lookup").replace(
                "retry:",
                "result: {value: {type: string}, source: {type: string, default: sổ}}\n    retry:",
            )
            body = f"steps:{typed}"
            handle = await start_case(client, worker, compiled("edge_typed", body), DOSSIER)
            await state_when(handle, lambda s: s.status == CaseStatus.stalled)
            provided = resume("lookup", "provide").model_copy(
                update={"result": {"value": "12/2001"}}
            )
            await handle.execute_update(ProcedureWorkflow.resume, provided)
            await handle.result()
            await save(client, handle, "provided_result_defaults")

            # v9: a supervisor assigns the task; the assignee decides it.
            handle = await start_case(
                client, worker, compiled("edge_assign", f"steps:{REVIEW}"), DOSSIER
            )
            await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
            given = AssignInput(step_id="review", officer="cb01", actor="ld01", reason="Phân công")
            await handle.execute_update(ProcedureWorkflow.assign, given)
            await handle.execute_update(ProcedureWorkflow.decide, decision("approve"))
            await handle.result()
            await save(client, handle, "task_assigned")
    finally:
        await env.shutdown()


async def main(which: set[str]) -> None:
    # Notices are really delivered while recording, as in the suite.
    with tempfile.TemporaryDirectory() as mail, running_sink(Path(mail)) as (host, port):
        os.environ["MOTCUA_SMTP_HOST"], os.environ["MOTCUA_SMTP_PORT"] = host, str(port)
        if "examples" in which:
            await record_examples()
        if "bundles" in which:
            await record_bundles()
        if "edges" in which:
            await record_edges()
        named = {w for w in which if w in BUNDLE_SCENARIOS}
        if named:
            await record_bundles(named)


async def record_examples() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(),
        test_server_existing_path=str(BIN / "temporal-test-server"),
    )
    await ensure_search_attributes(env.client)
    try:
        async with new_worker(env.client) as worker:
            for name, review, police in [
                ("every_step_approved", "approve", "approve"),
                ("every_step_rejected_by_member", "approve", "reject"),
                ("every_step_rejected_at_review", "reject", "approve"),
            ]:
                code = f"DEMO-00001-261123-{name}"
                _, handle = await run_every_step(
                    env.client, worker, code, review=review, police=police
                )
                await save(env.client, handle, name)
                if review == "approve":
                    member = env.client.get_workflow_handle(f"{code}.confirmation")
                    await save(env.client, member, f"{name}.member")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    # `python -m tests.histories.record [examples] [bundles] [edges] [scenario name...]`
    # (default: all three groups)
    asyncio.run(main(set(sys.argv[1:]) or {"examples", "bundles", "edges"}))
