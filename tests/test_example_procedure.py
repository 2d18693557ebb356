"""The example procedure end to end: real activities, a bundle member, compensation,
search attributes on the dev server, and a deadline that spans lunar Tết."""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import yaml
from temporalio.testing import WorkflowEnvironment

from motcua.activities import notifications, register
from motcua.activities.calendar import get_calendar
from motcua.activities.store import get_store
from motcua.simulate.moments import parse_moment
from motcua.smtp_sink import messages
from motcua.temporal import data_converter, ensure_search_attributes
from motcua.workflows.contracts import CaseStatus, CompiledProcedure
from motcua.workflows.dsl.compile import load_bundle
from motcua.workflows.dsl.model import ProcedureDefinition
from tests.conftest import BIN, MAIL_DIR
from tests.demo_case import DOSSIER, EXAMPLE, run_every_step
from tests.helpers import eventually, new_worker, start_case, state_when

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def code() -> str:
    return f"UBND-00001-261123-{uuid.uuid4().hex[:6]}"


async def test_example_approved_issues_document_and_notifies(ts_env: WorkflowEnvironment) -> None:
    dossier_code = code()
    async with new_worker(ts_env.client) as worker:
        result, handle = await run_every_step(ts_env.client, worker, dossier_code)
        history = await handle.fetch_history()
    assert result.status == CaseStatus.completed
    assert result.children == {"confirmation": "completed"}
    entry = [e for e in register.ledger("demo") if e.dossier_code == dossier_code]
    assert len(entry) == 1 and not entry[0].voided
    assert result.output["entry_no"] == entry[0].entry_no
    assert get_store().exists(f"{result.output['certificate_sha256']}.pdf")
    sent = [(r.template, r.channel, r.status) for r in notifications.outbox(dossier_code)]
    assert sent == [("received", "email", "sent"), ("result_ready", "email", "sent")]
    mails = [m for m in messages(MAIL_DIR) if dossier_code in m.body]
    assert sorted(m.subject for m in mails) == sorted(
        [f"Tiếp nhận hồ sơ {dossier_code}", f"Có kết quả giải quyết hồ sơ {dossier_code}"]
    )
    assert 50 < len(history.events) < 120  # the happy path's size (its workflow tasks vary)


async def test_example_rejected_compensates_register(ts_env: WorkflowEnvironment) -> None:
    dossier_code = code()
    async with new_worker(ts_env.client) as worker:
        result, _ = await run_every_step(ts_env.client, worker, dossier_code, police="reject")
    assert result.status == CaseStatus.rejected
    assert result.reason == "Cơ quan phối hợp không xác nhận thông tin cư trú"
    [entry] = [e for e in register.ledger("demo") if e.dossier_code == dossier_code]
    assert entry.voided and entry.void_reason == "Hủy do hồ sơ bị từ chối"
    templates = [r.template for r in notifications.outbox(dossier_code)]
    assert templates == ["received", "rejected"]


async def test_search_attributes_findable_without_personal_data(
    local_env: WorkflowEnvironment,
) -> None:
    procedure, members = load_bundle(EXAMPLE)
    dossier_code = code()
    async with new_worker(local_env.client) as worker:
        handle = await start_case(
            local_env.client, worker, procedure, DOSSIER, members=members, code=dossier_code
        )
        await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        query = f"DossierCode='{dossier_code}' AND CaseStatus='waiting_officer'"

        async def listed() -> list[object]:
            return [w async for w in local_env.client.list_workflows(query)]

        [found] = await eventually(listed, lambda ws: len(ws) == 1)
        description = await handle.describe()
        await handle.terminate("test finished")
    attributes = {k.name: v for k, v in description.typed_search_attributes}
    assert attributes["ProcedureId"] == "vn.demo.every_step"
    assert attributes["Agency"] == "UBND-00001"
    assert isinstance(attributes["DueAt"], datetime)
    flat = repr(attributes) + repr(found)
    for field in ("applicant_pid", "full_name", "email"):  # the commune code is the agency's
        assert DOSSIER[field] not in flat


TET = """
id: vn.test.tet
version: 1
title: Hạn giải quyết qua Tết
agency: commune
sla: {working_days: 3, cutoff: "15:00"}
roles: [officer]
steps:
  - id: review
    task: {role: officer, agency: UBND-00001, actions: [approve], sla: {working_days: 1}}
"""


async def test_deadline_spans_lunar_tet() -> None:
    # A fresh time-skipping server, moved to 09:00 in Hà Nội on the last working day before
    # the next Tết break (computed from the calendar, so the test means the same every year).
    calendar = get_calendar()
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(),
        test_server_existing_path=str(BIN / "temporal-test-server"),
    )
    try:
        await ensure_search_attributes(env.client)
        now = await env.get_current_time()
        target = parse_moment("1 working day before next Tết 09:00").resolve(now, calendar)
        await env.sleep(target - now)
        procedure = CompiledProcedure.of(ProcedureDefinition.model_validate(yaml.safe_load(TET)))
        async with new_worker(env.client) as worker:
            handle = await start_case(env.client, worker, procedure, {})
            state = await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
            await handle.terminate("test finished")
    finally:
        await env.shutdown()
    # Day 0 is the eve of the break; the break (at least 5 days off) counts for nothing, so
    # working day 1 is the first day back, and working days 2 and 3 follow it.
    assert state.due_at is not None and state.open_tasks[0].due_at is not None
    day_zero, tet = target.date(), calendar.tet_starts(target.year)
    first_day_back = calendar.next_working_day(day_zero)
    days_off = [tet + timedelta(days=n) for n in range((first_day_back - tet).days)]
    assert len(days_off) >= 5 and not any(calendar.is_working_day(d) for d in days_off)
    assert state.open_tasks[0].due_at.astimezone(VN) == datetime.combine(
        first_day_back, time(17), tzinfo=VN
    )
    third = calendar.next_working_day(calendar.next_working_day(first_day_back))
    assert state.due_at.astimezone(VN) == datetime.combine(third, time(17), tzinfo=VN)
