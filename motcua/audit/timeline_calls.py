"""Timeline entries of the activities a case scheduled: registry calls, documents, notices.

An activity's step is in its idempotency key, which the workflow adds to every call's
input (`{dossier_code}:{step_id}[#run]`, ProcedureWorkflow._key). Its request and answer
are hashed unmasked (motcua.audit.masking.sha256_json) and shown masked. The definition a
member case fetched (definitions.fetch) is shown by its id, version and hash, not in full.
"""

from __future__ import annotations

from typing import Any

from motcua.audit.decoded import Decoded
from motcua.audit.masking import Masker, sha256_json
from motcua.audit.timeline_model import (
    CallEntry,
    Delivery,
    DocumentEntry,
    NotificationEntry,
)
from motcua.workflows.procedure import FETCH_ACTIVITY

DOCUMENT_ACTIVITY = "documents.issue"
NOTIFY_ACTIVITY = "notify.send"
CLOSED = {
    "activity_task_completed": "completed",
    "activity_task_failed": "failed",
    "activity_task_timed_out": "timed_out",
    "activity_task_canceled": "canceled",
}

ActivityEntry = CallEntry | DocumentEntry | NotificationEntry


def parse_key(key: str, dossier_code: str) -> tuple[str | None, int]:
    """(step id, run) of an idempotency key `{dossier_code}:{step_id}[#run]`. A
    compensation's key names the step it undoes: `{step_id}:undo`."""
    if not key:
        return None, 1
    if key.startswith(f"{dossier_code}:"):
        rest = key.removeprefix(f"{dossier_code}:")
    else:  # another case's key (never written by this engine): its part after the code
        rest = key.split(":", 1)[-1]
    step, _, run = rest.partition("#")
    return step or None, int(run) if run.isdigit() else 1


def request_of(scheduled: Decoded) -> Any:
    """An activity's input: its one argument (every activity here takes one)."""
    return scheduled.values[0] if len(scheduled.values) == 1 else scheduled.values


def key_of(scheduled: Decoded) -> str | None:
    request = request_of(scheduled)
    key = request.get("idempotency_key") if isinstance(request, dict) else None
    return key if isinstance(key, str) else None


def activity_entry(
    scheduled: Decoded,
    started: Decoded | None,
    closed: Decoded | None,
    *,
    dossier_code: str,
    mask: Masker,
) -> ActivityEntry:
    """The entry of one scheduled activity; `closed` None: still running."""
    name = scheduled.attrs.activity_type.name
    request, key = request_of(scheduled), key_of(scheduled)
    step, run = parse_key(key or "", dossier_code)
    outcome = CLOSED[closed.kind] if closed is not None else "pending"
    answer = closed.values[0] if closed is not None and closed.values else None
    error = (closed.error if closed is not None else None) or (started and started.error)
    facts: dict[str, Any] = {
        "event_ids": [scheduled.id] + [e.id for e in (started, closed) if e is not None],
        "at": scheduled.at,
        "step_id": step,
        "run": run,
        "activity": name,
        "idempotency_key": key,
        "request_sha256": sha256_json(request),
        "answer_sha256": sha256_json(answer) if outcome == "completed" else None,
        "attempts": started.attrs.attempt if started is not None else 0,
        "outcome": outcome,
        "error": mask.text(error or None),
    }
    if name == DOCUMENT_ACTIVITY:
        return _document(facts, answer)
    if name == NOTIFY_ACTIVITY:
        return _notification(facts, request, answer, mask)
    if name == FETCH_ACTIVITY and isinstance(answer, dict):
        definition = answer.get("definition") or {}
        answer = {
            "id": definition.get("id"),
            "version": definition.get("version"),
            "hash": answer.get("hash"),
        }
    system = name.split(".", 1)[0]
    return CallEntry(**facts, system=system, request=mask.value(request), answer=mask.value(answer))


def _document(facts: dict[str, Any], answer: Any) -> DocumentEntry:
    a = answer if isinstance(answer, dict) else {}
    return DocumentEntry(
        **facts,
        title=a.get("title"),
        template=a.get("template"),
        sign_as=a.get("sign_as"),
        document_sha256=a.get("sha256"),
        document_ref=a.get("document_ref"),
        size=a.get("size"),
        verification_code=a.get("verification_code"),
        signed=a.get("signed"),
        replayed=a.get("replayed"),
    )


def _notification(
    facts: dict[str, Any], request: Any, answer: Any, mask: Masker
) -> NotificationEntry:
    r = request if isinstance(request, dict) else {}
    a = answer if isinstance(answer, dict) else {}
    deliveries = [
        Delivery(
            channel=str(x.get("channel")),
            status=str(x.get("status")),
            address=mask.value(x.get("address"), "address"),
            attempts=int(x.get("attempts") or 0),
            error=mask.text(x.get("error")),
        )
        for x in a.get("deliveries") or []
        if isinstance(x, dict)
    ]
    return NotificationEntry(
        **facts,
        template=r.get("template") or a.get("template"),
        channels=list(r.get("channels") or []),
        recipient=mask.value(r.get("to")),
        subject=mask.text(a.get("subject")),
        deliveries=deliveries,
    )
