"""The process-control sheet (phiếu kiểm soát quá trình giải quyết hồ sơ) of a case.

One row per hand-off, in order: who handed the dossier over (the previous holder, or the
one-stop desk for the first), who received it, when, the due time, when it was closed, the
result, and the timing class. The rows come from `CaseState.tasks` (the engine's task
records: step_id, role, agency, opened_at, due_at, closed_at, action, actor, waiting_for,
escalated). A state without task records (an older engine) is read from its timeline
(`task_opened` / `decided` events) and open tasks; due times are then known only for the
open tasks.

Timing, in working days (`WorkingCalendar.working_days_between(due_at, closed_at)`):
- `early` (trước hạn): closed on a working day before the due date's;
- `on_time` (đúng hạn): closed on the due working day, or on the days off right after it;
- `overdue` (quá hạn): closed one or more working days after the due date;
- `open` (đang xử lý) / `open_overdue` (đang quá hạn) when not closed, compared with `now`;
- `no_deadline` (không quy định thời hạn) when the step has no due time.

Formats: `ControlSheet` (data, JSON-ready via `model_dump(mode="json")`), `render_text`
(fixed-width text), `render_markdown` and `render_pdf` (the documents' A4 layout, unsigned).
An integrated bundle's sheet (motcua.paperwork.bundle_sheet) is a kind of ControlSheet whose
rows add columns (`SheetRow.extra`) and whose header adds lines (`ControlSheet.extra`): the
same renderers print both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from motcua.activities.calendar import WorkingCalendar, get_calendar
from motcua.workflows.contracts import CaseState, TaskRecord

Timing = Literal["early", "on_time", "overdue", "open", "open_overdue", "no_deadline"]

TIMING_VI: dict[str, str] = {
    "early": "Trước hạn",
    "on_time": "Đúng hạn",
    "overdue": "Quá hạn",
    "open": "Đang xử lý",
    "open_overdue": "Đang xử lý, quá hạn",
    "no_deadline": "Không quy định thời hạn",
}

ACTION_VI: dict[str, str] = {
    "approve": "Đồng ý, chuyển bước tiếp theo",
    "reject": "Từ chối giải quyết",
    "request_supplement": "Yêu cầu bổ sung hồ sơ",
    "supplemented": "Công dân đã bổ sung hồ sơ",
    "supplement_expired": "Hết hạn bổ sung hồ sơ",
}

ROLE_VI: dict[str, str] = {
    "civil_status_officer": "Công chức tư pháp - hộ tịch",
    "certification_officer": "Công chức tư pháp - hộ tịch (chứng thực)",
    "commune_chair": "Chủ tịch Ủy ban nhân dân xã",
    "police_officer": "Công an xã",
    "social_insurance_officer": "Cán bộ bảo hiểm xã hội",
    "citizen": "Công dân",
}

RECEPTION = "Bộ phận Một cửa (tiếp nhận hồ sơ)"
CITIZEN = "Công dân (bổ sung hồ sơ)"


class SheetRow(BaseModel):
    no: int
    step_id: str
    handed_from: str
    handed_to: str
    role: str
    agency: str
    handed_at: datetime
    due_at: datetime | None = None
    closed_at: datetime | None = None
    action: str | None = None
    actor: str | None = None
    result: str
    timing: Timing
    working_days_late: int | None = Field(
        None, description="Working days after the due date (negative: early); None if open"
    )
    escalated: bool = False

    def extra(self) -> list[tuple[str, str]]:
        """(label, value) columns a kind of sheet prints before the hand-off; a single
        case's sheet has none."""
        return []


class ControlSheet(BaseModel):
    dossier_code: str
    procedure_id: str
    status: str
    received_at: datetime
    due_at: datetime | None = None
    rows: Sequence[SheetRow] = Field(default_factory=list)
    calendar_version: str = ""

    def extra(self) -> list[tuple[str, str]]:
        """(label, value) lines a kind of sheet adds to the header; a single case has none."""
        return []


# ---------------------------------------------------------------- task records


def task_records(state: CaseState) -> list[TaskRecord]:
    """The case's hand-offs in order: `state.tasks`, or, for cases started before the engine
    recorded them, rebuilt from the timeline."""
    if state.tasks:
        return [t.model_copy() for t in state.tasks]
    return _from_timeline(state)


def _from_timeline(state: CaseState) -> list[TaskRecord]:
    records: list[TaskRecord] = []
    open_by_step: dict[str, TaskRecord] = {}
    decisions = list(state.decisions)
    for event in state.events:
        step = event.step_id or ""
        if event.kind == "task_opened":
            role, _, agency = event.detail.partition("@")
            rec = TaskRecord(step_id=step, role=role, agency=agency, opened_at=event.at)
            records.append(rec)
            open_by_step[step] = rec
        elif event.kind == "escalated" and step in open_by_step:
            open_by_step[step].escalated = True
        elif event.kind == "decided" and step in open_by_step:
            rec = open_by_step.pop(step)
            rec.closed_at = event.at
            rec.action = event.detail
            match = next((d for d in decisions if d.step_id == step and d.at == event.at), None)
            if match is None:
                match = next((d for d in decisions if d.step_id == step), None)
            if match is not None:
                decisions.remove(match)
                rec.actor = match.actor
    for task in state.open_tasks:
        still_open = open_by_step.get(task.step_id)
        if still_open is not None:
            still_open.due_at = task.due_at
            still_open.waiting_for = task.waiting_for
            still_open.escalated = still_open.escalated or task.escalated
    return records


# ---------------------------------------------------------------- building


def _who(role: str, agency: str, waiting_for: str = "officer") -> str:
    if waiting_for == "citizen" or role == "citizen":
        return CITIZEN
    name = ROLE_VI.get(role, role)
    return f"{name} ({agency})" if agency else name


def _as_is(agency: str) -> str:
    return agency


def classify(
    cal: WorkingCalendar,
    due_at: datetime | None,
    closed_at: datetime | None,
    now: datetime | None = None,
) -> tuple[Timing, int | None]:
    """Timing class of one step and its working days late (negative = early)."""
    if due_at is None:
        return "no_deadline", None
    if closed_at is None:
        if now is not None and now > due_at and cal.working_days_between(due_at, now) > 0:
            return "open_overdue", None
        return "open", None
    late = cal.working_days_between(due_at, closed_at)
    if late > 0:
        return "overdue", late
    if late < 0:
        return "early", late
    return "on_time", 0


def build_control_sheet(
    state: CaseState,
    calendar: WorkingCalendar | None = None,
    now: datetime | None = None,
) -> ControlSheet:
    """The control sheet of `state`; `now` classes open steps (default: not overdue)."""
    cal = calendar or get_calendar()
    return ControlSheet(
        dossier_code=state.dossier_code,
        procedure_id=state.procedure_id,
        status=state.status.value,
        received_at=state.started_at,
        due_at=state.due_at,
        rows=sheet_rows(state, cal, now),
        calendar_version=cal.version,
    )


def sheet_rows(
    state: CaseState,
    cal: WorkingCalendar,
    now: datetime | None = None,
    *,
    first_from: str = RECEPTION,
    agency_label: Callable[[str], str] = _as_is,
) -> list[SheetRow]:
    """The rows of one case's hand-offs, numbered from 1: the first is handed over by
    `first_from`, each next by the holder before it; `agency_label` writes an agency code
    as the sheet shows it (the code itself on a single case's sheet)."""
    rows: list[SheetRow] = []
    previous = first_from
    for i, rec in enumerate(task_records(state), start=1):
        to = _who(rec.role, agency_label(rec.agency) if rec.agency else "", rec.waiting_for)
        timing, late = classify(cal, rec.due_at, rec.closed_at, now)
        if rec.action:
            result = ACTION_VI.get(rec.action, rec.action)
        elif rec.closed_at is not None:
            result = "Đã xử lý"
        elif rec.waiting_for == "citizen":
            result = "Chờ công dân bổ sung"
        else:
            result = "Đang xử lý"
        if rec.escalated:
            result += "; đã báo cấp trên do quá hạn"
        rows.append(
            SheetRow(
                no=i,
                step_id=rec.step_id,
                handed_from=previous,
                handed_to=to,
                role=rec.role,
                agency=rec.agency,
                handed_at=rec.opened_at,
                due_at=rec.due_at,
                closed_at=rec.closed_at,
                action=rec.action,
                actor=rec.actor,
                result=result,
                timing=timing,
                working_days_late=late,
                escalated=rec.escalated,
            )
        )
        previous = to
    return rows


# ---------------------------------------------------------------- rendering


def _vn(cal_or_none: WorkingCalendar | None, moment: datetime | None) -> str:
    if moment is None:
        return "-"
    local = cal_or_none.local(moment) if cal_or_none else moment
    return local.strftime("%H:%M %d/%m/%Y")


def _lines(sheet: ControlSheet, cal: WorkingCalendar) -> list[tuple[str, list[tuple[str, str]]]]:
    blocks = []
    for r in sheet.rows:
        fields = r.extra() + [
            ("Bên giao", r.handed_from),
            ("Bên nhận", r.handed_to),
            ("Thời gian giao, nhận", _vn(cal, r.handed_at)),
            ("Hạn xử lý", _vn(cal, r.due_at)),
            ("Thời gian hoàn thành", _vn(cal, r.closed_at)),
            ("Kết quả", r.result + (f" ({r.actor})" if r.actor else "")),
            ("Tình trạng", TIMING_VI[r.timing]),
        ]
        blocks.append((f"Bước {r.no}: {r.step_id}", fields))
    return blocks


TITLE = "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ"


def _header(sheet: ControlSheet, cal: WorkingCalendar) -> list[tuple[str, str]]:
    return [
        ("Mã hồ sơ", sheet.dossier_code),
        ("Thủ tục", sheet.procedure_id),
        ("Tiếp nhận lúc", _vn(cal, sheet.received_at)),
        ("Hẹn trả kết quả", _vn(cal, sheet.due_at)),
        *sheet.extra(),
    ]


HEAD = ("Bên giao", "Bên nhận", "Giao lúc", "Hạn xử lý", "Hoàn thành", "Kết quả", "Tình trạng")


def _table(sheet: ControlSheet, cal: WorkingCalendar) -> list[tuple[str, ...]]:
    """The head and one line of cells per row: TT, the rows' extra columns, the hand-off."""
    extra = [label for label, _ in sheet.rows[0].extra()] if sheet.rows else []
    table: list[tuple[str, ...]] = [("TT", *extra, *HEAD)]
    for r in sheet.rows:
        cells = (
            r.handed_from,
            r.handed_to,
            _vn(cal, r.handed_at),
            _vn(cal, r.due_at),
            _vn(cal, r.closed_at),
            r.result + (f" ({r.actor})" if r.actor else ""),
            TIMING_VI[r.timing],
        )
        table.append((str(r.no), *(value for _, value in r.extra()), *cells))
    return table


def render_text(sheet: ControlSheet, calendar: WorkingCalendar | None = None) -> str:
    """A fixed-width table: one line per hand-off."""
    cal = calendar or get_calendar()
    out = [TITLE, ""]
    out += [f"{k}: {v}" for k, v in _header(sheet, cal)]
    out.append("")
    table = _table(sheet, cal)
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for n, row in enumerate(table):
        out.append(" | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            out.append("-+-".join("-" * w for w in widths))
    if not sheet.rows:
        out.append("(chưa có bước chuyển giao nào)")
    return "\n".join(out) + "\n"


def render_markdown(sheet: ControlSheet, calendar: WorkingCalendar | None = None) -> str:
    cal = calendar or get_calendar()
    out = [f"# {TITLE}", ""]
    out += [f"- **{k}:** {v}" for k, v in _header(sheet, cal)]
    head, *lines = _table(sheet, cal)
    out += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cells in lines:
        out.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(out) + "\n"


def render_body(sheet: ControlSheet, calendar: WorkingCalendar | None = None) -> str:
    """The sheet in the document templates' line format (headings, `- Label: value`)."""
    cal = calendar or get_calendar()
    out = [f"- {k}: {v}" for k, v in _header(sheet, cal)]
    for heading, fields in _lines(sheet, cal):
        out += ["----", f"## {heading}"]
        out += [f"- {k}: {v}" for k, v in fields]
    if not sheet.rows:
        out.append("Chưa có bước chuyển giao nào.")
    return "\n".join(out) + "\n"


def render_pdf(sheet: ControlSheet, calendar: WorkingCalendar | None = None) -> bytes:
    """An unsigned A4 PDF in the issued documents' layout (motto, dossier code, QR)."""
    from motcua.activities.documents import public_url
    from motcua.activities.pdf import Page
    from motcua.activities.pdf import render_pdf as _render

    page = Page(
        dossier_code=sheet.dossier_code,
        title=TITLE,
        body=render_body(sheet, calendar),
        verification_code="",
        verification_url=f"{public_url()}/cases/{sheet.dossier_code}",
        issued=sheet.received_at,
        signed=False,
    )
    return _render(page)
