"""Drive the example procedure (procedure_defs/examples/every_step.yaml) like an officer.

Shared by the end-to-end test and the golden-history recorder, so the recorded histories
are exactly what the suite runs.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from motcua.settings import ROOT
from motcua.workflows.contracts import CaseResult, CaseStatus, DecideInput
from motcua.workflows.dsl.compile import load_bundle
from motcua.workflows.procedure import ProcedureWorkflow
from tests.helpers import start_case, state_when

EXAMPLE = ROOT / "procedure_defs" / "examples" / "every_step.yaml"
DOSSIER = {
    "applicant_pid": "001203000123",
    "full_name": "Nguyễn Thị Hoa",
    "commune_code": "00001",
    "email": "hoa@example.vn",
}


async def run_every_step(
    client: Client, worker: Worker, code: str, *, review: str = "approve", police: str = "approve"
) -> tuple[CaseResult, Any]:
    """Start the example, decide `review` and the member's `confirm`, return the result."""
    procedure, members = load_bundle(EXAMPLE)
    handle = await start_case(client, worker, procedure, DOSSIER, members=members, code=code)
    await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
    await handle.execute_update(
        ProcedureWorkflow.decide,
        DecideInput(
            step_id="review",
            action=review,
            role="civil_status_officer",
            agency="UBND-00001",
            actor="cb-tuphap-01",
            comment="Hồ sơ hợp lệ" if review == "approve" else "Thông tin không khớp",
        ),
    )
    if review == "approve":
        member = client.get_workflow_handle(f"{code}.confirmation")
        await state_when(member, lambda s: s.status == CaseStatus.waiting_officer)
        await member.execute_update(
            ProcedureWorkflow.decide,
            DecideInput(
                step_id="confirm",
                action=police,
                role="police_officer",
                agency="CA-00001",
                actor="ca-01",
                comment="Đã xác minh" if police == "approve" else "Không có tên trong sổ",
            ),
        )
    return await handle.result(), handle
