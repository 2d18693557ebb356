"""A real birth bundle (birth registration + permanent residence + child health insurance),
run to completion against the sandbox registries: each member's review approved by an
officer of the agency the registries route it to. Used by the tests of the bundle's
paperwork and of the auditors' tools, and by bench/audit_sizes.py."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from motcua.workflows.contracts import CaseStatus, CompiledProcedure, DecideInput
from motcua.workflows.dsl.compile import load_bundle
from motcua.workflows.procedure import ProcedureWorkflow
from tests.helpers import ROOT, start_case, state_when
from tests.test_api_end_to_end import OFFICERS, mother_and_agencies

MEMBERS = ("birth", "residence", "insurance")


@dataclass(frozen=True)
class BirthBundle:
    code: str
    mother: dict[str, Any]  # the sandbox sample: mother_pid, certificate_no, commune_code
    agencies: dict[str, str]  # member step -> the agency that decided it
    definition: CompiledProcedure
    members: dict[str, CompiledProcedure]  # by procedure id


async def run_birth_bundle(
    client: Client, worker: Worker, sandbox: str, *, comment: str = "", wait: float = 60.0
) -> BirthBundle:
    """Submit a birth bundle, approve its three members, wait for it to complete."""
    mother, agencies = await mother_and_agencies(sandbox)
    bundle_def, member_defs = load_bundle(ROOT / "procedure_defs/bundles/birth_bundle.yaml")
    day = datetime.now(UTC) + timedelta(hours=7)
    code = f"UBND-{mother['commune_code']}-{day:%y%m%d}-{uuid.uuid4().int % 10**8:08d}"
    dossier = {
        "mother_pid": mother["mother_pid"],
        "birth_certificate_no": mother["certificate_no"],
        "commune_code": mother["commune_code"],
        "child_name": "Vũ Minh Khang",
        "primary_care_facility": "Trạm Y tế xã",
        "head_consent": True,
    }
    handle = await start_case(client, worker, bundle_def, dossier, members=member_defs, code=code)
    for step in MEMBERS:
        _, actor, role = OFFICERS[step]
        member = client.get_workflow_handle(f"{code}.{step}")
        await state_when(
            member,
            lambda s: any(
                t.step_id == "review" and t.waiting_for == "officer" for t in s.open_tasks
            ),
            timedelta(seconds=wait),
        )
        decision = DecideInput(
            step_id="review", action="approve", role=role, agency=agencies[step], actor=actor,
            comment=comment,
        )  # fmt: skip
        await member.execute_update(ProcedureWorkflow.decide, decision)
    result = await handle.result()
    assert result.status == CaseStatus.completed, result.reason
    return BirthBundle(code, mother, agencies, bundle_def, member_defs)
