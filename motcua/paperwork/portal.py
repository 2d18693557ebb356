"""The national public-service portal's dossier status codes (1-10) for a case.

Mapping from `CaseState` (first rule that holds):

- `completed`, and a notice was sent after the last document was issued: 10 result
  returned (đã trả kết quả);
- `completed` otherwise: 9 processed (đã xử lý xong);
- `rejected` with no officer hand-off (a rule refused it at reception), or refused by the
  first task opened: 3 not received (không tiếp nhận);
- `rejected` later (a later task, a supplement deadline, a `reject` step after a task):
  8 processing stopped (dừng xử lý);
- `aborted` (an officer ended a stalled case) or `failed`: 8 processing stopped;
- `waiting_citizen` (a supplement was requested): 5 supplement requested (yêu cầu bổ sung);
- `waiting_officer`, `stalled`, or `running` once any task was opened: 4 processing;
- `running` before any task was opened: 2 received (đã tiếp nhận).

"Result notification sent": the case's timeline has a `called` event for `notify.send`
later than its last `called` event for `documents.issue` (the result document), i.e. the
procedure told the citizen after issuing the result. A completed case that issues no
document but sent a notice also counts as returned.

Not produced yet: 1 newly registered (a dossier the portal holds before a case starts),
6 financial obligation requested (no payment step), 7 withdrawn by the citizen (no
withdrawal Update). "Overdue" is not a status: see the control sheet's per-step timing.
"""

from __future__ import annotations

from typing import Any

from motcua.workflows.contracts import CaseState, CaseStatus

NEWLY_REGISTERED = 1
RECEIVED = 2
NOT_RECEIVED = 3
PROCESSING = 4
SUPPLEMENT_REQUESTED = 5
FINANCIAL_OBLIGATION = 6
WITHDRAWN = 7
STOPPED = 8
PROCESSED = 9
RESULT_RETURNED = 10

PORTAL_STATUS_VI: dict[int, str] = {
    NEWLY_REGISTERED: "Mới đăng ký",
    RECEIVED: "Đã tiếp nhận",
    NOT_RECEIVED: "Không tiếp nhận",
    PROCESSING: "Đang xử lý",
    SUPPLEMENT_REQUESTED: "Yêu cầu bổ sung",
    FINANCIAL_OBLIGATION: "Yêu cầu thực hiện nghĩa vụ tài chính",
    WITHDRAWN: "Công dân yêu cầu rút hồ sơ",
    STOPPED: "Dừng xử lý",
    PROCESSED: "Đã xử lý xong",
    RESULT_RETURNED: "Đã trả kết quả",
}

_NOTIFY = "notify.send"
_DOCUMENT = "documents.issue"


def _task_steps_opened(state: CaseState) -> list[str]:
    """Step ids of officer tasks in the order they were opened (hand-offs)."""
    records: list[Any] = list(getattr(state, "tasks", None) or [])
    if records:
        return [r["step_id"] if isinstance(r, dict) else r.step_id for r in records]
    opened = [e.step_id or "" for e in state.events if e.kind == "task_opened"]
    if opened:
        return opened
    return [d.step_id for d in state.decisions] + [t.step_id for t in state.open_tasks]


def result_notified(state: CaseState) -> bool:
    """True when a notice went out after the last issued document (the result)."""
    last_doc = last_notice = None
    for i, event in enumerate(state.events):
        if event.kind != "called":
            continue
        if event.detail == _DOCUMENT:
            last_doc = i
        elif event.detail == _NOTIFY:
            last_notice = i
    if last_notice is None:
        return False
    return last_doc is None or last_notice > last_doc


def refused_at_reception(state: CaseState) -> bool:
    """A rejection before any officer hand-off, or by the first task opened."""
    opened = _task_steps_opened(state)
    if not opened:
        return True
    rejecting = [d for d in state.decisions if d.action == "reject"]
    if rejecting:
        return rejecting[-1].step_id == opened[0]
    return False


def portal_status(state: CaseState) -> int:
    """The national portal's status code (1-10) for `state`; see the module docstring."""
    status = state.status
    if status == CaseStatus.completed:
        return RESULT_RETURNED if result_notified(state) else PROCESSED
    if status == CaseStatus.rejected:
        return NOT_RECEIVED if refused_at_reception(state) else STOPPED
    if status in (CaseStatus.aborted, CaseStatus.failed):
        return STOPPED
    if status == CaseStatus.waiting_citizen:
        return SUPPLEMENT_REQUESTED
    if status in (CaseStatus.waiting_officer, CaseStatus.stalled):
        return PROCESSING
    return PROCESSING if _task_steps_opened(state) else RECEIVED
