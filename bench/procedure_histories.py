"""History size of every procedure's happy path: events and bytes per case.

Two sources, named in the results:
- `scenarios`: run the repository's happy-path scenarios (motcua.simulate: a time-skipping
  server, the sandbox registries, real documents and notices) and read their histories;
- `golden`: the recorded histories in tests/histories/ (real runs too, newest generation
  of each), which cover the bundles, their members and the demo procedure only.

A bundle's members are cases of their own, each with its own history: listed one by one.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cases import figures
from temporalio.client import Client, WorkflowHistory

ROOT = Path(__file__).resolve().parent.parent
# One happy path per procedure (an approval, nothing going wrong), under scenarios/
HAPPY_PATHS = {
    "vn.birth_registration": "birth/birth_happy.yaml",
    "vn.permanent_residence": "birth/residence_happy.yaml",
    "vn.child_health_insurance": "birth/insurance_happy.yaml",
    "vn.bundle.birth_residence_insurance": "birth/bundle_happy.yaml",
    "vn.death_registration": "death/death_registration_approved.yaml",
    "vn.permanent_residence_deregistration": "death/deregistration_approved.yaml",
    "vn.funeral_allowance": "death/funeral_allowance_approved.yaml",
    "vn.bundle.death_deregistration_allowance": "death/bundle_four_procedures_approved.yaml",
    "vn.marriage_registration": "marriage/approved.yaml",
    "vn.certified_copy": "certified_copy/approved.yaml",
    "vn.demo.every_step": "demo/approved.yaml",
}
SCENARIOS = ROOT / "scenarios"
GOLDEN = ROOT / "tests/histories"


@dataclass
class CaseSize:
    procedure: str
    case: str  # "case" for the case itself, or "member <step>" for a bundle's member
    source: str
    events: int
    json_bytes: int
    proto_bytes: int
    empty_tasks: int  # workflow tasks with no command, 3 events each (cases.empty_tasks)


def _size(procedure: str, case: str, source: str, history: WorkflowHistory) -> CaseSize:
    f = figures(history)
    return CaseSize(procedure, case, source, f.events, f.json_bytes, f.proto_bytes, f.empty_tasks)


def _members(history: WorkflowHistory) -> list[str]:
    return [
        e.start_child_workflow_execution_initiated_event_attributes.workflow_id
        for e in history.events
        if e.HasField("start_child_workflow_execution_initiated_event_attributes")
    ]


async def from_scenarios() -> list[dict[str, Any]]:
    """Run each happy path on one time-skipping server and measure its histories."""
    from motcua.simulate.runner import SharedRun, start_test_env

    rows: list[CaseSize] = []
    env = await start_test_env()
    try:
        async with SharedRun(env=env) as run:
            for procedure, path in HAPPY_PATHS.items():
                report = await run.run(SCENARIOS / path)
                if not report.passed or report.dossier_code is None:
                    raise RuntimeError(f"{path} failed:\n{report.failure_text()}")
                rows += await _case_sizes(
                    env.client, procedure, f"scenarios/{path}", report.dossier_code
                )
    finally:
        await env.shutdown()
    return [asdict(r) for r in rows]


async def _case_sizes(client: Client, procedure: str, source: str, code: str) -> list[CaseSize]:
    history = await client.get_workflow_handle(code).fetch_history()
    rows = [_size(procedure, "case", source, history)]
    for member in _members(history):
        child = await client.get_workflow_handle(member).fetch_history()
        rows.append(_size(procedure, f"member {member.rsplit('.', 1)[-1]}", source, child))
    return rows


def from_golden() -> list[dict[str, Any]]:
    """The newest generation of each recorded history (name.member.vN.json)."""
    newest: dict[str, tuple[int, Path]] = {}
    for path in GOLDEN.glob("*.json"):
        match = re.fullmatch(r"(.+)\.v(\d+)", path.stem)
        if match is None:
            continue
        name, generation = match[1], int(match[2])
        if name not in newest or newest[name][0] < generation:
            newest[name] = (generation, path)
    rows = []
    for name, (_, path) in sorted(newest.items()):
        history = WorkflowHistory.from_json(name, path.read_text())
        recording, _, member = name.partition(".")
        case = f"member {member}" if member else "case"
        rows.append(_size(recording, case, str(path.relative_to(ROOT)), history))
    return [asdict(r) for r in rows]
