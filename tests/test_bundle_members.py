"""A member case carries its own definition and its own members only, not every sibling's
definition again (they made up most of each member's start input)."""

from __future__ import annotations

from pathlib import Path

from temporalio.api.enums.v1 import EventType

from motcua.simulate.runner import SharedRun, start_test_env
from motcua.temporal import data_converter
from motcua.workflows.contracts import CaseStart
from motcua.workflows.dsl.compile import load_bundle
from motcua.workflows.procedure import members_of
from tests.helpers import ROOT

BUNDLE = ROOT / "scenarios/birth/bundle_happy.yaml"


async def test_member_cases_start_with_their_own_members_only(mail_sink: Path) -> None:
    env = await start_test_env()
    try:
        async with SharedRun(env=env, mail_dir=mail_sink) as run:
            report = await run.run(BUNDLE)
            assert report.passed, report.failure_text()
            starts: dict[str, CaseStart] = {}
            sizes: dict[str, int] = {}
            for member in ("birth", "residence", "insurance"):
                handle = env.client.get_workflow_handle(f"{report.dossier_code}.{member}")
                history = await handle.fetch_history()
                first = history.events[0]
                assert first.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED
                payloads = first.workflow_execution_started_event_attributes.input.payloads
                sizes[member] = sum(p.ByteSize() for p in payloads)
                [starts[member]] = await data_converter().decode(payloads, [CaseStart])
    finally:
        await env.shutdown()
    for member, start in starts.items():
        assert start.members == {}, member  # none of the three starts a procedure itself
        assert start.parent == report.dossier_code
    # Each start input is the member's own definition and dossier: well under the ~50 KB
    # it was when every member definition of the bundle travelled with it.
    assert max(sizes.values()) < 25_000, sizes


def test_members_of_follows_child_procedures_transitively() -> None:
    bundle, members = load_bundle(ROOT / "procedure_defs/bundles/death_bundle.yaml")
    assert members_of(bundle, members) == members
    for member in members.values():
        assert members_of(member, members) == {}


def test_procedure_step_in_an_apology_is_loaded_as_a_member(tmp_path: Path) -> None:
    # Before the one walker, the apology was not searched for child procedures: a member
    # started from it was missing at run time.
    root = tmp_path / "defs"
    root.mkdir()
    (root / "member.yaml").write_text(
        (ROOT / "procedure_defs/examples/demo_confirmation.yaml").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    (root / "parent.yaml").write_text(
        """
id: vn.test.parent
version: 1
title: Thủ tục kiểm thử
agency: commune
sla: {working_days: 3}
roles: [officer]
input:
  commune_code: {type: commune_code}
steps:
  - id: review
    task: {role: officer, agency: UBND-001, actions: [approve, reject]}
apology:
  extend_working_days: 1
  steps:
    - id: confirm_late
      procedure: {id: vn.demo.confirmation, input: {commune_code: "{{ input.commune_code }}"}}
""",
        encoding="utf-8",
    )
    _, members = load_bundle(root / "parent.yaml", root=root)
    assert set(members) == {"vn.demo.confirmation"}
