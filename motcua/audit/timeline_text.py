"""A timeline as text for the state inspectors who audit cases: Vietnamese, one line an entry.

Columns: the history events (`#9-18`: first and last), the time in Vietnam, the step (with
`#2` for its second run), then what happened. A member case's own lines follow its line,
indented. Digests are shortened to their first 16 hexadecimal digits (the JSON timeline has
them whole); values are shown as the timeline holds them, masked or not.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from motcua.audit.timeline_model import (
    AssignmentEntry,
    CallEntry,
    CancelRequestEntry,
    DeadlineEntry,
    DecisionEntry,
    DocumentEntry,
    EndEntry,
    EngineErrorEntry,
    Entry,
    MemberEntry,
    MemberStatusEntry,
    MessageEntry,
    NotificationEntry,
    ReceivedEntry,
    ResumeEntry,
    StallEntry,
    StepEntry,
    SupplementEntry,
    Timeline,
    TimerEntry,
)
from motcua.cases.labels import STATUS_VI
from motcua.workflows.dsl.filters import VN

INDENT = "    "
STATUS = STATUS_VI | {
    "terminated": "bị chấm dứt",
    "timed_out": "quá thời hạn chạy",
    "continued_as_new": "chuyển sang lần chạy mới",
}
STEP_KIND = {
    "call": "gọi dịch vụ",
    "task": "cán bộ xử lý",
    "document": "ban hành văn bản",
    "notify": "gửi thông báo",
    "procedure": "thủ tục thành phần",
    "wait": "chờ",
    "parallel": "song song",
    "switch": "rẽ nhánh",
    "compensate": "hoàn tác",
    "set": "tính toán",
    "fail": "báo lỗi",
    "reject": "từ chối",
}
SYSTEM = {
    "population": "CSDL quốc gia về dân cư",
    "civil_status": "CSDL hộ tịch điện tử",
    "residence": "CSDL về cư trú",
    "social_insurance": "CSDL bảo hiểm xã hội",
    "health": "Hệ thống thông tin y tế",
    "register": "Sổ đăng ký của cơ quan",
    "calendar": "Lịch ngày làm việc",
    "definitions": "Kho định nghĩa thủ tục",
}
OUTCOME = {
    "completed": "thành công",
    "failed": "thất bại",
    "timed_out": "quá thời gian",
    "canceled": "đã hủy",
    "pending": "đang chờ",
}
DELIVERY = {
    "queued": "chờ gửi",
    "no_address": "không có địa chỉ",
    "sending": "đang gửi",
    "sent": "đã gửi",
    "failed": "gửi lỗi",
}
ACTION = {"approve": "duyệt", "reject": "từ chối", "request_supplement": "yêu cầu bổ sung"}
RESUME = {
    "retry": "thử lại",
    "provide": "nhập kết quả thay",
    "skip": "bỏ qua bước",
    "abort": "dừng xử lý hồ sơ",
}
TIMER = {"fired": "đã đến giờ", "canceled": "đã hủy", "pending": "đang chờ"}


def render_text(timeline: Timeline) -> str:
    """The timeline as fixed-width text, members indented under their line."""
    return "\n".join(_lines(timeline, "")) + "\n"


def _lines(t: Timeline, indent: str) -> list[str]:
    procedure = f"{t.procedure_id or '?'}, phiên bản {t.procedure_version or '?'}"
    closed = _time(t.closed_at) if t.closed_at else "chưa kết thúc"
    shown = "hiển thị đầy đủ" if t.personal_data else "đã che (•••)"
    lines = [
        f"Hồ sơ {t.dossier_code}" + (f" (thành phần của {t.parent})" if t.parent else ""),
        f"Thủ tục: {procedure}",
        f"Mã băm định nghĩa (SHA-256): {t.definition_hash or '?'}",
        f"Trạng thái: {_status(t.status)}",
        f"Tiếp nhận: {_time(t.started_at)}; kết thúc: {closed}; kênh: {t.channel or '?'}",
        f"Dữ liệu cá nhân: {shown}; số sự kiện lịch sử: {t.history_events}",
        f"{'Sự kiện':<11}{'Thời điểm (UTC+7)':<21}{'Bước':<20}Nội dung",
    ]
    for entry in t.entries:
        lines.append(_line(entry))
        if isinstance(entry, MemberEntry) and entry.timeline is not None:
            lines.extend(_lines(entry.timeline, INDENT))
    return [indent + line for line in lines]


def _line(e: Entry) -> str:
    ids = f"#{e.event_ids[0]}" + (f"-{max(e.event_ids)}" if len(e.event_ids) > 1 else "")
    step = (e.step_id or "—") + (f"#{e.run}" if e.run > 1 else "")
    return f"{ids:<11}{_time(e.at):<21}{step:<20}{_WORDS[type(e)](e)}"


def _time(at: datetime) -> str:
    return at.astimezone(VN).strftime("%d/%m/%Y %H:%M:%S")


def _status(status: str) -> str:
    return f"{status} ({STATUS[status]})" if status in STATUS else status


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


def _digest(value: str | None) -> str:
    return f"{value[:16]}…" if value else "—"


def _duration(seconds: float) -> str:
    s = round(seconds)
    parts = [(s // 86400, "ngày"), (s % 86400 // 3600, "giờ"), (s % 3600 // 60, "phút")]
    words = [f"{n} {unit}" for n, unit in parts if n]
    return " ".join(words) or f"{s} giây"


def _activity(e: CallEntry | DocumentEntry | NotificationEntry) -> str:
    words = [
        f"khóa {e.idempotency_key or '—'}",
        f"yêu cầu sha256 {_digest(e.request_sha256)}",
        f"trả lời sha256 {_digest(e.answer_sha256)}",
        f"{e.attempts} lần thử, {OUTCOME.get(e.outcome, e.outcome)}",
    ]
    if e.error:
        before = " ở lần thử trước" if e.outcome == "completed" else ""
        words.append(f"lỗi{before}: {e.error}")
    return "; ".join(words)


def _step(e: StepEntry) -> str:
    verb = "Bắt đầu bước" if e.phase == "started" else "Kết thúc bước"
    kind = STEP_KIND.get(e.step_kind or "", e.step_kind or "")
    return verb + (f" ({kind})" if kind else "") + (f": {e.title}" if e.title else "")


def _call(e: CallEntry) -> str:
    system = SYSTEM.get(e.system, e.system)
    answer = f"; trả lời: {_json(e.answer)}" if e.answer is not None else ""
    return f"Gọi {system} ({e.activity}): {_activity(e)}{answer}"


def _document(e: DocumentEntry) -> str:
    signed = {True: "đã ký số", False: "chưa ký số", None: "không rõ"}[e.signed]
    return (
        f"Ban hành văn bản «{e.title or e.template or '?'}» (mẫu {e.template or '?'}, "
        f"ký với tư cách {e.sign_as or '?'}): sha256 tệp {_digest(e.document_sha256)}; "
        f"mã tra cứu {e.verification_code or '—'}; chữ ký: {signed}; {_activity(e)}"
    )


def _notification(e: NotificationEntry) -> str:
    sent = ", ".join(
        f"{d.channel} {DELIVERY.get(d.status, d.status)}" + (f" ({d.error})" if d.error else "")
        for d in e.deliveries
    )
    return (
        f"Gửi thông báo mẫu {e.template or '?'} tới {_json(e.recipient)} "
        f"qua {', '.join(e.channels) or '?'}: {sent or 'chưa có kết quả gửi'}; {_activity(e)}"
    )


def _decision(e: DecisionEntry) -> str:
    words = [f"Quyết định của {e.actor} ({e.role}, {e.agency}): {ACTION.get(e.action, e.action)}"]
    if e.comment:
        words.append(f"ý kiến: {e.comment}")
    if e.missing:
        words.append(f"cần bổ sung: {'; '.join(e.missing)}")
    if e.form:
        words.append(f"phiếu: {_json(e.form)}")
    if e.error:
        words.append(f"lỗi: {e.error}")
    return "; ".join(words)


def _assignment(e: AssignmentEntry) -> str:
    reason = f"; lý do: {e.reason}" if e.reason else ""
    return f"{e.actor} phân công cho cán bộ {e.officer}{reason}"


def _supplement(e: SupplementEntry) -> str:
    note = f"; ghi chú: {e.note}" if e.note else ""
    sent = _json(e.documents) if e.documents else "không có trường nào"
    return f"Công dân ({e.actor or '?'}) bổ sung hồ sơ: {sent}{note}"


def _stall(e: StallEntry) -> str:
    if e.activity is None:
        return "Tạm dừng, chờ cán bộ (không do lời gọi dịch vụ: lỗi biểu thức hoặc dữ liệu)"
    tries = f" sau {e.attempts} lần thử" if e.attempts else ""
    return f"Tạm dừng, chờ cán bộ: {e.activity} lỗi{tries}: {e.error or '?'}"


def _resume(e: ResumeEntry) -> str:
    words = [f"{e.actor} cho tiếp tục: {RESUME.get(e.action, e.action)}"]
    if e.reason:
        words.append(f"lý do: {e.reason}")
    if e.result is not None:
        words.append(f"kết quả thay thế: {_json(e.result)}")
    return "; ".join(words)


def _timer(e: TimerEntry) -> str:
    return f"Hẹn giờ {_duration(e.seconds)} (đến {_time(e.fires_at)}): {TIMER[e.outcome]}"


def _member(e: MemberEntry) -> str:
    reason = f"; lý do: {e.reason}" if e.reason else ""
    missing = "" if e.timeline is not None else " (không có lịch sử của hồ sơ thành phần)"
    return (
        f"Hồ sơ thành phần {e.workflow_id}, thủ tục {e.procedure_id or '?'} "
        f"phiên bản {e.procedure_version or '?'}: {_status(e.status)}{reason}{missing}"
    )


def _end(e: EndEntry) -> str:
    words = [f"Kết thúc hồ sơ: {_status(e.status)}"]
    if e.reason:
        words.append(f"lý do: {e.reason}")
    if e.code:
        words.append(f"mã lỗi: {e.code}")
    return "; ".join(words)


_WORDS: dict[type, Callable[[Any], str]] = {
    ReceivedEntry: lambda e: (
        f"Tiếp nhận hồ sơ (kênh {e.channel or '?'}; sha256 {_digest(e.dossier_sha256)}): "
        f"{_json(e.dossier)}"
    ),
    StepEntry: _step,
    CallEntry: _call,
    DocumentEntry: _document,
    NotificationEntry: _notification,
    DecisionEntry: _decision,
    AssignmentEntry: _assignment,
    SupplementEntry: _supplement,
    StallEntry: _stall,
    ResumeEntry: _resume,
    TimerEntry: _timer,
    DeadlineEntry: lambda e: f"Hạn giải quyết hồ sơ: {_time(e.due_at)}",
    MemberStatusEntry: lambda e: f"Hồ sơ thành phần báo trạng thái: {_status(e.status)}",
    MessageEntry: lambda e: (
        f"Nhận {'tín hiệu' if e.channel == 'signal' else 'yêu cầu'} {e.name}: {_json(e.data)}"
    ),
    CancelRequestEntry: lambda e: "Yêu cầu hủy hồ sơ" + (f": {e.cause}" if e.cause else ""),
    EngineErrorEntry: lambda e: f"Lỗi khi chạy quy trình ({e.cause}): {e.error or '?'}",
    MemberEntry: _member,
    EndEntry: _end,
}
