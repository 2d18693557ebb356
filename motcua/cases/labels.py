"""What people read about a case, in Vietnamese: its status, and the events of its timeline
that a citizen follows (the rest of the timeline is the officers' and the auditors')."""

from __future__ import annotations

# What officers read next to the machine status names (`motcua show`).
STATUS_VI = {
    "running": "đang xử lý",
    "waiting_officer": "chờ cán bộ xử lý",
    "waiting_citizen": "chờ công dân bổ sung",
    "stalled": "tạm dừng do lỗi, chờ cán bộ",
    "completed": "đã có kết quả",
    "rejected": "từ chối giải quyết",
    "aborted": "đã hủy",
    "failed": "lỗi, không hoàn thành",
}

# A decision, as the citizen reads it.
ACTION_VI = {
    "approve": "Cán bộ đã duyệt hồ sơ",
    "reject": "Cán bộ từ chối giải quyết hồ sơ",
    "request_supplement": "Cán bộ yêu cầu bổ sung hồ sơ",
}

# Timeline events a citizen sees (by kind); other kinds (look-ups, skipped steps, errors,
# compensations) are the officers' business. `called` events count only for the activities
# in CALLED_VI.
EVENT_VI = {
    "received": "Hồ sơ đã được tiếp nhận",
    "task_opened": "Hồ sơ được chuyển cán bộ xử lý",
    "escalated": "Hồ sơ quá hạn xử lý, đã báo lãnh đạo",
    "supplement_requested": "Yêu cầu công dân bổ sung hồ sơ",
    "supplemented": "Công dân đã bổ sung hồ sơ",
    "supplement_expired": "Hết thời hạn bổ sung hồ sơ",
    "stalled": "Tạm dừng do lỗi kết nối cơ sở dữ liệu, cán bộ đang xử lý",
    "resumed_retry": "Tiếp tục xử lý",
    "resumed_provide": "Tiếp tục xử lý",
    "resumed_skip": "Tiếp tục xử lý",
    "resumed_abort": "Dừng xử lý hồ sơ",
    "apology": "Thư xin lỗi và hẹn lại ngày trả kết quả",
    "member_completed": "Thủ tục thành phần đã có kết quả",
    "member_rejected": "Thủ tục thành phần bị từ chối",
    "member_aborted": "Thủ tục thành phần đã hủy",
    "member_failed": "Thủ tục thành phần không hoàn thành",
    "completed": "Đã có kết quả giải quyết",
    "rejected": "Từ chối giải quyết hồ sơ",
    "aborted": "Hồ sơ đã bị hủy",
    "failed": "Hồ sơ không hoàn thành do lỗi",
}
CALLED_VI = {
    "documents.issue": "Đã ký số và ban hành văn bản",
    "notify.send": "Đã gửi thông báo cho công dân",
}
# Events whose detail is written for the citizen (the reason of an ending).
WITH_REASON = frozenset({"completed", "rejected", "aborted", "failed"})


def event_label(kind: str, detail: str) -> str | None:
    """The citizen's words for a timeline event, or None when it is not theirs to read."""
    if kind == "called":
        return CALLED_VI.get(detail)
    if kind == "decided":
        return ACTION_VI.get(detail, "Cán bộ đã xử lý hồ sơ")
    return EVENT_VI.get(kind)
