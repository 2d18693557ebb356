"""The process-control sheet of an integrated bundle: its members' hand-offs in time order
after the one-stop desk's reception, each naming its member procedure and its agency in
words. From hand-made states (Friday 27/11/2026 in Hà Nội), then from a real birth bundle
on Temporal's dev server with the sandbox registries, through `motcua control-sheet`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from click.testing import CliRunner
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from motcua.activities.calendar import WorkingCalendar
from motcua.cli.paperwork import control_sheet
from motcua.paperwork.agencies import agency_name
from motcua.paperwork.bundle_sheet import BundleControlSheet, build_bundle_control_sheet
from motcua.paperwork.control_sheet import CITIZEN, render_body, render_markdown, render_text
from motcua.paperwork.titles import definition_titles
from motcua.places import place_name
from motcua.workflows.contracts import CaseState, CaseStatus
from motcua.workflows.procedure import ProcedureWorkflow
from tests.birth_bundle import run_birth_bundle
from tests.helpers import ROOT, new_worker
from tests.sandbox_server import sandbox_fixture
from tests.test_api_end_to_end import OFFICERS
from tests.test_paperwork import at, task

sandbox = sandbox_fixture(seed=42, citizens=2_000)

CODE = "UBND-00070-261127-0001"
BUNDLE_ID = "vn.bundle.birth_residence_insurance"
HOAN_KIEM = "phường Hoàn Kiếm, thành phố Hà Nội"
DESK = f"Bộ phận Một cửa (Ủy ban nhân dân {HOAN_KIEM})"
CIVIL = f"Công chức tư pháp - hộ tịch (Ủy ban nhân dân {HOAN_KIEM})"
POLICE = f"Công an xã (Công an {HOAN_KIEM})"
INSURANCE = "Cán bộ bảo hiểm xã hội (Bảo hiểm xã hội thành phố Hà Nội)"
TITLES = {
    BUNDLE_ID: "Liên thông khai sinh, thường trú, bảo hiểm y tế",
    "vn.birth_registration": "Đăng ký khai sinh",
    "vn.permanent_residence": "Đăng ký thường trú",
    "vn.child_health_insurance": "Cấp thẻ bảo hiểm y tế cho trẻ em dưới 6 tuổi",
}


@pytest.fixture(scope="module")
def cal() -> WorkingCalendar:
    return WorkingCalendar.load(ROOT / "procedure_defs" / "calendars" / "vn.yaml")


def case(code: str, procedure_id: str, tasks: list[dict[str, Any]], **kw: Any) -> CaseState:
    base: dict[str, Any] = {
        "dossier_code": code,
        "procedure_id": procedure_id,
        "procedure_version": 1,
        "definition_hash": "0" * 64,
        "status": CaseStatus.completed,
        "started_at": at(27, 9),
        "tasks": tasks,
    }
    return CaseState(**(base | kw))


def at_agency(agency: str, **fields: Any) -> dict[str, Any]:
    return task(**fields) | {"agency": agency}


def birth_bundle() -> tuple[CaseState, dict[str, CaseState]]:
    """Birth approved at 10:00; residence and the card opened in parallel at 10:01; the
    police ask the mother for a paper (11:00), she sends it (14:00), they approve (15:00)."""
    bundle = case(
        CODE,
        BUNDLE_ID,
        [],
        children={"birth": "completed", "residence": "completed", "insurance": "completed"},
    )
    member = {"parent": CODE}
    birth = case(
        f"{CODE}.birth",
        "vn.birth_registration",
        [
            at_agency(
                "UBND-00070",
                step="review",
                role="civil_status_officer",
                opened=at(27, 9, 1),
                due=at(27, 17),
                closed=at(27, 10),
                action="approve",
                actor="cb01",
            )
        ],
        **member,
    )
    residence = case(
        f"{CODE}.residence",
        "vn.permanent_residence",
        [
            at_agency(
                "CA-00070",
                step="review",
                role="police_officer",
                opened=at(27, 10, 1),
                due=at(30, 17),
                closed=at(27, 11),
                action="request_supplement",
                actor="ca01",
            ),
            at_agency(
                "CA-00070",
                step="review",
                role="citizen",
                opened=at(27, 11),
                due=at(30, 17),
                closed=at(27, 14),
                action="supplemented",
                actor="citizen",
                waiting_for="citizen",
            ),
            at_agency(
                "CA-00070",
                step="review",
                role="police_officer",
                opened=at(27, 14),
                due=at(30, 17),
                closed=at(27, 15),
                action="approve",
                actor="ca01",
            ),
        ],
        started_at=at(27, 10, 1),
        **member,
    )
    insurance = case(
        f"{CODE}.insurance",
        "vn.child_health_insurance",
        [
            at_agency(
                "BHXH-01",
                step="review",
                role="social_insurance_officer",
                opened=at(27, 10, 2),
                due=at(30, 17),
                closed=at(27, 16),
                action="approve",
                actor="bhxh01",
            )
        ],
        started_at=at(27, 10, 1),
        **member,
    )
    return bundle, {"birth": birth, "residence": residence, "insurance": insurance}


# ---------------------------------------------------------------- from constructed states


def test_bundle_sheet_rows_exact(cal: WorkingCalendar) -> None:
    bundle, members = birth_bundle()
    sheet = build_bundle_control_sheet(bundle, members, cal, titles=TITLES)
    rows = [
        (r.no, r.member, r.handed_from, r.handed_to, r.agency, r.actor, r.timing)
        for r in sheet.rows
    ]
    assert rows == [
        (1, "", "Công dân (nộp hồ sơ trực tuyến)", DESK, "UBND-00070", None, "no_deadline"),
        (2, "birth", DESK, CIVIL, "UBND-00070", "cb01", "on_time"),
        (3, "residence", DESK, POLICE, "CA-00070", "ca01", "early"),
        (4, "insurance", DESK, INSURANCE, "BHXH-01", "bhxh01", "early"),
        (5, "residence", POLICE, CITIZEN, "CA-00070", "citizen", "early"),
        (6, "residence", CITIZEN, POLICE, "CA-00070", "ca01", "early"),
    ]
    assert [(r.procedure_title, r.agency_name) for r in sheet.rows[:4]] == [
        (TITLES[BUNDLE_ID], f"Ủy ban nhân dân {HOAN_KIEM}"),
        ("Đăng ký khai sinh", f"Ủy ban nhân dân {HOAN_KIEM}"),
        ("Đăng ký thường trú", f"Công an {HOAN_KIEM}"),
        ("Cấp thẻ bảo hiểm y tế cho trẻ em dưới 6 tuổi", "Bảo hiểm xã hội thành phố Hà Nội"),
    ]
    assert [r.member_code for r in sheet.rows[1:4]] == [f"{CODE}.{m}" for m in members]
    assert sheet.rows[0].result == "Tiếp nhận hồ sơ liên thông"
    assert sheet.rows[2].result == "Yêu cầu bổ sung hồ sơ"
    assert sheet.missing == []
    # JSON carries every column, and reads back the same.
    assert BundleControlSheet.model_validate_json(sheet.model_dump_json()) == sheet
    assert sheet.model_dump(mode="json")["rows"][3]["agency_name"] == (
        "Bảo hiểm xã hội thành phố Hà Nội"
    )


def test_bundle_sheet_renders_the_procedure_column(cal: WorkingCalendar) -> None:
    bundle, members = birth_bundle()
    sheet = build_bundle_control_sheet(bundle, members, cal, titles=TITLES)
    text = render_text(sheet, cal)
    head = next(line for line in text.splitlines() if line.startswith("TT"))
    assert [c.strip() for c in head.split(" | ")][:4] == ["TT", "Thủ tục", "Bên giao", "Bên nhận"]
    assert len([ln for ln in text.splitlines() if ln[:1].isdigit()]) == 6
    assert f"Hồ sơ thành phần: {CODE}.birth (đã có kết quả); {CODE}.residence" in text
    assert "| Đăng ký thường trú" in text and POLICE in text
    md = render_markdown(sheet, cal)
    assert "| TT | Thủ tục | Bên giao | Bên nhận |" in md and md.count("\n| ") == 7
    body = render_body(sheet, cal)
    assert "## Bước 4: review" in body
    assert "- Thủ tục: Cấp thẻ bảo hiểm y tế cho trẻ em dưới 6 tuổi" in body
    assert "- Hồ sơ thành phần: " in body


def test_bundle_sheet_pdf(cal: WorkingCalendar) -> None:
    pytest.importorskip("fpdf")
    from motcua.activities.pdf import font_paths
    from motcua.paperwork.control_sheet import render_pdf

    try:
        font_paths()
    except Exception:  # noqa: BLE001
        pytest.skip("DejaVu fonts not installed")
    bundle, members = birth_bundle()
    assert render_pdf(build_bundle_control_sheet(bundle, members, cal), cal).startswith(b"%PDF-")


def test_bundle_sheet_names_a_member_it_could_not_read(cal: WorkingCalendar) -> None:
    bundle, members = birth_bundle()
    del members["insurance"]
    sheet = build_bundle_control_sheet(bundle, members, cal)
    assert sheet.missing == ["insurance"]
    assert "insurance" not in {r.member for r in sheet.rows}
    assert sheet.rows[1].procedure_title == "vn.birth_registration"  # no title given
    assert f"{CODE}.insurance (đã có kết quả) - chưa đọc được trạng thái" in render_text(sheet, cal)


def test_bundle_sheet_refuses_a_state_of_another_case(cal: WorkingCalendar) -> None:
    bundle, members = birth_bundle()
    members["birth"] = members["birth"].model_copy(update={"dossier_code": "UBND-00070-X.birth"})
    with pytest.raises(ValueError) as refused:
        build_bundle_control_sheet(bundle, members, cal)
    assert str(refused.value) == (
        f"member 'birth' (UBND-00070-X.birth) is not a member of bundle {CODE} "
        "(its members: birth, residence, insurance); pass each member case's state under "
        "the bundle's step id that started it"
    )


def test_agency_names() -> None:
    assert agency_name("UBND-00070") == f"Ủy ban nhân dân {HOAN_KIEM}"
    assert agency_name("CA-00070") == f"Công an {HOAN_KIEM}"
    assert agency_name("BHXH-79") == "Bảo hiểm xã hội thành phố Hồ Chí Minh"
    for shown_as_is in ("UBND-001", "UBND-99999", "T00.1", "BTP", ""):
        assert agency_name(shown_as_is) == shown_as_is


# ---------------------------------------------------------------- a real birth bundle


@pytest_asyncio.fixture
async def worker(
    local_env: WorkflowEnvironment, sandbox: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Worker]:
    """A worker whose registry adapters call this module's sandbox."""
    monkeypatch.setenv("MOTCUA_SANDBOX_URL", sandbox)
    for name in ("POPULATION", "CIVIL_STATUS", "RESIDENCE", "SOCIAL_INSURANCE", "HEALTH"):
        monkeypatch.delenv(f"MOTCUA_{name}_URL", raising=False)
    async with new_worker(local_env.client) as running:
        yield running


def review_open(s: CaseState) -> bool:
    return any(t.step_id == "review" and t.waiting_for == "officer" for t in s.open_tasks)


@pytest.mark.timeout(180)
async def test_control_sheet_of_a_real_birth_bundle(
    local_env: WorkflowEnvironment, worker: Worker, sandbox: str
) -> None:
    client = local_env.client
    bundle_run = await run_birth_bundle(client, worker, sandbox)
    code, mother, agencies = bundle_run.code, bundle_run.mother, bundle_run.agencies
    member_defs = bundle_run.members
    handle = client.get_workflow_handle(code)

    # The caller reads the states (the worker is still up to answer for closed cases).
    bundle = await handle.query(ProcedureWorkflow.state)
    members = {
        step: await client.get_workflow_handle(f"{code}.{step}").query(ProcedureWorkflow.state)
        for step in bundle.children
    }
    assert bundle.tasks == []  # the bundle's own sheet was empty: its tasks are the members'
    titles = definition_titles([bundle, *members.values()])
    sheet = build_bundle_control_sheet(bundle, members, titles=titles)

    reception, *handoffs = sheet.rows
    assert (reception.no, reception.step_id) == (1, "reception")
    assert reception.agency == f"UBND-{mother['commune_code']}"
    words = place_name(mother["commune_code"])
    assert reception.handed_to == f"Bộ phận Một cửa (Ủy ban nhân dân {words})"
    assert (
        reception.procedure_title == bundle_run.definition.definition.title
    )  # from its file, by hash
    assert [r.member for r in handoffs[:1]] == ["birth"]  # the others wait for its child id
    assert sorted(r.member for r in handoffs) == ["birth", "insurance", "residence"]
    assert [r.no for r in sheet.rows] == [1, 2, 3, 4]
    assert [r.handed_at for r in sheet.rows] == sorted(r.handed_at for r in sheet.rows)
    expected_names = {
        "birth": f"Ủy ban nhân dân {words}",
        "residence": f"Công an {place_name(agencies['residence'].removeprefix('CA-'))}",
        "insurance": f"Bảo hiểm xã hội {place_name(agencies['insurance'].removeprefix('BHXH-'))}",
    }
    for row in handoffs:
        procedure, actor, role = OFFICERS[row.member]
        assert (row.procedure_id, row.role, row.agency, row.actor, row.action) == (
            procedure, role, agencies[row.member], actor, "approve",
        )  # fmt: skip
        assert row.agency_name == expected_names[row.member]
        assert row.handed_to.endswith(f"({expected_names[row.member]})")
        assert row.handed_from == reception.handed_to
        assert row.member_code == f"{code}.{row.member}"
        assert row.procedure_title == member_defs[procedure].definition.title
        assert row.timing in ("early", "on_time")

    # `motcua control-sheet CODE` prints the same sheet (all closed: `now` changes nothing).
    address = client.service_client.config.target_host
    run = CliRunner().invoke
    args = [code, "--address", address, "--namespace", "default"]
    printed = await asyncio.to_thread(run, control_sheet, [*args, "--json"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.output) == sheet.model_dump(mode="json")
    text = await asyncio.to_thread(run, control_sheet, args)
    assert text.exit_code == 0, text.output
    assert text.output.startswith("PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ\n")
    assert f"Hồ sơ thành phần: {code}.birth (đã có kết quả)" in text.output
    assert expected_names["insurance"] in text.output
