"""Timeline entries of the Updates people sent a case: decisions, assignments, resumes and
supplements (motcua.workflows.contracts). An Update's input names its step. The token an
officer signed with is never shown; what people wrote (a comment, a reason, a note) is
masked whole unless the timeline shows personal data.
"""

from __future__ import annotations

from typing import Any

from motcua.audit.decoded import Decoded
from motcua.audit.masking import Masker
from motcua.audit.timeline_model import (
    AssignmentEntry,
    DecisionEntry,
    Entry,
    MessageEntry,
    ResumeEntry,
    SupplementEntry,
)

# The Updates whose step is the task they act on (a task's deadline timer is theirs).
TASK_UPDATES = ("decide", "supplement")
# What people write in Updates: masked whole, and wherever it is repeated.
WRITTEN = ("comment", "reason", "note")


def update_input(accepted: Decoded) -> dict[str, Any]:
    value = accepted.values[0] if accepted.values else None
    return value if isinstance(value, dict) else {}


def update_entry(
    accepted: Decoded, completed: Decoded, *, runs: dict[str, int], mask: Masker
) -> Entry:
    """The entry of one Update: `accepted` holds its input, `completed` its outcome."""
    v = update_input(accepted)
    step = v.get("step_id") if isinstance(v.get("step_id"), str) else None
    base: dict[str, Any] = {
        "event_ids": [accepted.id, completed.id],
        "at": accepted.at,
        "step_id": step,
        "run": runs.get(step, 1) if step else 1,
    }
    facts = base | {
        "update_id": completed.attrs.meta.update_id,
        "error": mask.text(completed.error),
    }
    result = completed.values[0] if completed.values else None
    answer: dict[str, Any] = result if isinstance(result, dict) else {}
    match accepted.name:
        case "decide":
            return DecisionEntry(
                **facts,
                actor=str(v.get("actor")),
                role=str(v.get("role")),
                agency=str(v.get("agency")),
                action=str(v.get("action")),
                comment=mask.free_text(v.get("comment")),
                missing=[str(x) for x in v.get("missing") or []],
                form=mask.value(v.get("form") or {}),
                decided_at=answer.get("at"),
            )
        case "assign":
            return AssignmentEntry(
                **facts,
                actor=str(v.get("actor")),
                officer=str(v.get("officer")),
                reason=mask.free_text(v.get("reason")),
            )
        case "resume":
            return ResumeEntry(
                **facts,
                actor=str(v.get("actor")),
                action=str(v.get("action")),
                reason=mask.free_text(v.get("reason")),
                result=mask.value(v.get("result")),
            )
        case "supplement":
            documents = v.get("documents") or {}
            return SupplementEntry(
                **facts,
                actor=mask.text(v.get("actor")),
                fields=sorted(documents),
                documents=mask.value(documents),
                note=mask.free_text(v.get("note")),
            )
    data = {k: x for k, x in v.items() if k != "token"}
    return MessageEntry(**base, channel="update", name=accepted.name, data=mask.value(data))
