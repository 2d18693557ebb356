"""motcua.paperwork: the portal status code and the process-control sheet, from hand-made
CaseState objects (Friday 27/11/2026 -> Monday 30/11/2026 spans a weekend)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from click.testing import CliRunner

from motcua.activities.calendar import WorkingCalendar
from motcua.paperwork.control_sheet import (
    CITIZEN,
    RECEPTION,
    build_control_sheet,
    classify,
    render_body,
    render_markdown,
    render_text,
)
from motcua.paperwork.portal import portal_status
from motcua.workflows.contracts import CaseState, CaseStatus, Decision, Event, OpenTask
from tests.helpers import ROOT

VN = timezone(timedelta(hours=7))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=VN)


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar.load(ROOT / "procedure_defs" / "calendars" / "vn.yaml")


def state(status: CaseStatus = CaseStatus.running, **kw: Any) -> CaseState:
    base: dict[str, Any] = {
        "dossier_code": "UBND-00001-261127-0001",
        "procedure_id": "vn.marriage_registration",
        "procedure_version": 1,
        "definition_hash": "0" * 64,
        "status": status,
        "started_at": at(27, 9),
        "due_at": at(27, 17),
    }
    base.update(kw)
    return CaseState(**base)


def task(
    step: str,
    role: str,
    opened: datetime,
    due: datetime | None,
    closed: datetime | None,
    action: str | None,
    actor: str | None = None,
    **kw: Any,
) -> dict[str, Any]:
    return {
        "step_id": step,
        "role": role,
        "agency": "UBND-00001",
        "opened_at": opened,
        "due_at": due,
        "closed_at": closed,
        "action": action,
        "actor": actor,
        "waiting_for": kw.get("waiting_for", "officer"),
        "escalated": kw.get("escalated", False),
    }


def decision(step: str, action: str, when: datetime, actor: str = "cb01") -> Decision:
    return Decision(
        step_id=step,
        action=action,
        role="civil_status_officer",
        agency="UBND-00001",
        actor=actor,
        at=when,
    )


def called(activity: str, when: datetime, step: str = "x") -> Event:
    return Event(at=when, step_id=step, kind="called", detail=activity)


# ---------------------------------------------------------------- timing


def test_classify_across_a_weekend(cal: WorkingCalendar) -> None:
    fri_due = at(27, 17)
    assert classify(cal, fri_due, at(27, 16)) == ("on_time", 0)
    assert classify(cal, fri_due, at(27, 18)) == ("on_time", 0)  # same working day
    assert classify(cal, fri_due, at(28, 10)) == ("on_time", 0)  # Saturday: no working day lost
    assert classify(cal, fri_due, at(30, 9)) == ("overdue", 1)  # Monday
    assert classify(cal, at(30, 17), at(27, 16)) == ("early", -1)  # done Friday, due Monday
    assert classify(cal, at(30, 17), at(28, 9)) == ("early", -1)  # done Saturday, due Monday
    assert classify(cal, None, at(27, 16)) == ("no_deadline", None)
    assert classify(cal, fri_due, None, now=at(27, 12)) == ("open", None)
    assert classify(cal, fri_due, None, now=at(30, 9)) == ("open_overdue", None)


def test_control_sheet_rows_exact(cal: WorkingCalendar) -> None:
    s = state(
        CaseStatus.completed,
        tasks=[
            task(
                "review",
                "civil_status_officer",
                at(27, 9, 5),
                at(27, 17),
                at(27, 10),
                "request_supplement",
                "cb01",
            ),
            task(
                "review",
                "citizen",
                at(27, 10),
                at(30, 17),
                at(27, 14),
                "supplemented",
                "citizen",
                waiting_for="citizen",
            ),
            task(
                "review",
                "civil_status_officer",
                at(27, 14),
                at(27, 17),
                at(30, 9),
                "approve",
                "cb01",
                escalated=True,
            ),
            task("sign", "commune_chair", at(30, 9), at(30, 17), at(30, 10), "approve", "ct01"),
        ],
    )
    sheet = build_control_sheet(s, cal)
    rows = [
        (r.no, r.step_id, r.handed_from, r.handed_to, r.result, r.timing, r.working_days_late)
        for r in sheet.rows
    ]
    officer = "Công chức tư pháp - hộ tịch (UBND-00001)"
    chair = "Chủ tịch Ủy ban nhân dân xã (UBND-00001)"
    assert rows == [
        (1, "review", RECEPTION, officer, "Yêu cầu bổ sung hồ sơ", "on_time", 0),
        (2, "review", officer, CITIZEN, "Công dân đã bổ sung hồ sơ", "early", -1),
        (
            3,
            "review",
            CITIZEN,
            officer,
            "Đồng ý, chuyển bước tiếp theo; đã báo cấp trên do quá hạn",
            "overdue",
            1,
        ),
        (4, "sign", officer, chair, "Đồng ý, chuyển bước tiếp theo", "on_time", 0),
    ]
    assert sheet.rows[3].actor == "ct01"
    text = render_text(sheet, cal)
    assert text.startswith("PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ\n")
    assert "Mã hồ sơ: UBND-00001-261127-0001" in text
    assert "09:05 27/11/2026" in text and "Quá hạn" in text and "Trước hạn" in text
    assert len([ln for ln in text.splitlines() if ln[:1].isdigit()]) == 4
    md = render_markdown(sheet, cal)
    assert md.count("\n| ") == 5  # header + 4 rows
    body = render_body(sheet, cal)
    assert "## Bước 4: sign" in body and "- Tình trạng: Đúng hạn" in body
    data = sheet.model_dump(mode="json")
    assert data["rows"][2]["timing"] == "overdue"


def test_control_sheet_from_timeline_without_task_records(cal: WorkingCalendar) -> None:
    s = state(
        CaseStatus.waiting_officer,
        events=[
            Event(
                at=at(27, 9),
                step_id="review",
                kind="task_opened",
                detail="civil_status_officer@UBND-00001",
            ),
            Event(at=at(27, 11), step_id="review", kind="decided", detail="approve"),
            Event(
                at=at(27, 11), step_id="sign", kind="task_opened", detail="commune_chair@UBND-00001"
            ),
        ],
        decisions=[decision("review", "approve", at(27, 11))],
        open_tasks=[
            OpenTask(
                step_id="sign",
                role="commune_chair",
                agency="UBND-00001",
                actions=["approve", "reject"],
                opened_at=at(27, 11),
                due_at=at(27, 17),
            )
        ],
    )
    sheet = build_control_sheet(s, cal, now=at(30, 9))
    assert [(r.step_id, r.actor, r.timing) for r in sheet.rows] == [
        ("review", "cb01", "no_deadline"),
        ("sign", None, "open_overdue"),
    ]


def test_control_sheet_pdf(cal: WorkingCalendar) -> None:
    pytest.importorskip("fpdf")
    from motcua.activities.pdf import font_paths
    from motcua.paperwork.control_sheet import render_pdf

    try:
        font_paths()
    except Exception:  # noqa: BLE001
        pytest.skip("DejaVu fonts not installed")
    s = state(tasks=[task("review", "civil_status_officer", at(27, 9), at(27, 17), None, None)])
    pdf = render_pdf(build_control_sheet(s, cal), cal)
    assert pdf.startswith(b"%PDF-")


# ---------------------------------------------------------------- portal status


OPENED = Event(
    at=at(27, 9), step_id="review", kind="task_opened", detail="civil_status_officer@UBND-00001"
)


@pytest.mark.parametrize(
    ("status", "extra", "code"),
    [
        (CaseStatus.running, {}, 2),
        (CaseStatus.running, {"events": [OPENED]}, 4),
        (CaseStatus.waiting_officer, {"events": [OPENED]}, 4),
        (CaseStatus.stalled, {}, 4),
        (CaseStatus.waiting_citizen, {"events": [OPENED]}, 5),
        (CaseStatus.completed, {"events": [called("documents.issue", at(27, 10))]}, 9),
        (
            CaseStatus.completed,
            {
                "events": [
                    called("documents.issue", at(27, 10)),
                    called("notify.send", at(27, 10, 1)),
                ]
            },
            10,
        ),
        (
            CaseStatus.completed,
            {"events": [called("notify.send", at(27, 9)), called("documents.issue", at(27, 10))]},
            9,
        ),
        (CaseStatus.rejected, {}, 3),  # refused by a rule before any officer
        (
            CaseStatus.rejected,
            {"events": [OPENED], "decisions": [decision("review", "reject", at(27, 10))]},
            3,
        ),
        (
            CaseStatus.rejected,
            {
                "events": [
                    OPENED,
                    Event(at=at(27, 11), step_id="sign", kind="task_opened", detail="c@x"),
                ],
                "decisions": [
                    decision("review", "approve", at(27, 10)),
                    decision("sign", "reject", at(27, 12)),
                ],
            },
            8,
        ),
        (CaseStatus.rejected, {"events": [OPENED]}, 8),  # supplement deadline passed
        (CaseStatus.aborted, {"events": [OPENED]}, 8),
        (CaseStatus.failed, {}, 8),
    ],
)
def test_portal_status(status: CaseStatus, extra: dict[str, Any], code: int) -> None:
    assert portal_status(state(status, **extra)) == code


def test_portal_status_from_task_records() -> None:
    s = state(
        CaseStatus.rejected,
        tasks=[
            task("review", "civil_status_officer", at(27, 9), at(27, 17), at(27, 10), "approve"),
            task("sign", "commune_chair", at(27, 10), at(27, 17), at(27, 11), "reject"),
        ],
        decisions=[
            decision("review", "approve", at(27, 10)),
            decision("sign", "reject", at(27, 11)),
        ],
    )
    assert portal_status(s) == 8


def test_cli_commands_are_exported() -> None:
    from motcua.cli.paperwork import COMMANDS

    names = sorted(str(c.name) for c in COMMANDS)
    assert names == ["control-sheet", "portal-status"]
    result = CliRunner().invoke(COMMANDS[0], ["--help"])
    assert result.exit_code == 0 and "hand-off" in result.output


# ---------------------------------------------------------------- a real case


TWO_TASKS = """
id: test.paperwork.two_tasks
version: 1
title: Hai bước xử lý (kiểm thử phiếu kiểm soát)
agency: commune
sla: {working_days: 1}
roles: [civil_status_officer, commune_chair]
steps:
  - id: review
    task: {role: civil_status_officer, agency: UBND-00001, actions: [approve, request_supplement],
           sla: {working_days: 1}}
  - id: sign
    task: {role: commune_chair, agency: UBND-00001, actions: [approve], sla: {working_days: 1}}
"""


async def test_control_sheet_of_a_real_case(ts_env: Any, cal: WorkingCalendar) -> None:
    import uuid

    import yaml

    from motcua.workflows.contracts import CompiledProcedure, DecideInput
    from motcua.workflows.dsl.model import ProcedureDefinition
    from motcua.workflows.procedure import ProcedureWorkflow
    from tests.helpers import new_worker, start_case, state_when

    procedure = CompiledProcedure.of(ProcedureDefinition.model_validate(yaml.safe_load(TWO_TASKS)))
    code = f"UBND-00001-261127-{uuid.uuid4().hex[:6]}"
    async with new_worker(ts_env.client) as worker:
        handle = await start_case(ts_env.client, worker, procedure, {}, code=code)

        def is_open(step: str) -> Any:
            return lambda s: any(t.step_id == step for t in s.open_tasks)

        await state_when(handle, is_open("review"))
        first = await handle.query(ProcedureWorkflow.state)
        assert portal_status(first) == 4
        for step, role, actor in (
            ("review", "civil_status_officer", "cb01"),
            ("sign", "commune_chair", "ct01"),
        ):
            await state_when(handle, is_open(step))
            await handle.execute_update(
                ProcedureWorkflow.decide,
                DecideInput(
                    step_id=step, action="approve", role=role, agency="UBND-00001", actor=actor
                ),
            )
        await handle.result()
        final = await handle.query(ProcedureWorkflow.state)
    assert [t.step_id for t in final.tasks] == ["review", "sign"]
    sheet = build_control_sheet(final, cal)
    officer = "Công chức tư pháp - hộ tịch (UBND-00001)"
    assert [(r.handed_from, r.handed_to, r.actor, r.action) for r in sheet.rows] == [
        (RECEPTION, officer, "cb01", "approve"),
        (officer, "Chủ tịch Ủy ban nhân dân xã (UBND-00001)", "ct01", "approve"),
    ]
    assert all(r.timing in ("early", "on_time") for r in sheet.rows)
    assert portal_status(final) == 9  # completed, no result notice sent
