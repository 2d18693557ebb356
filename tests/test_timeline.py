"""The timeline of a case, read from the golden histories (no server needed).

Members are fetched from the sibling files (`<scenario>.<step>.v9.json`). Personal values
are collected from the decoded history by this test's own rules, not the masker's, so a
masking rule that goes missing shows here.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from motcua.audit.masking import Masker, sha256_json
from motcua.audit.timeline import Timeline, build_timeline, render_text, step_at
from motcua.audit.timeline_model import (
    AssignmentEntry,
    CallEntry,
    DecisionEntry,
    DocumentEntry,
    EndEntry,
    MemberEntry,
    NotificationEntry,
    ResumeEntry,
    StallEntry,
    StepEntry,
    SupplementEntry,
    TimerEntry,
)
from motcua.temporal import data_converter

HISTORIES = Path(__file__).parent / "histories"
EVERY = sorted(HISTORIES.glob("*.json"))
# The v9 cases that are not members of another (members are read through their bundle).
ROOTS = sorted(p for p in HISTORIES.glob("*.v9.json") if p.name.count(".") == 2)


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


def siblings(root: Path) -> Any:
    """fetch_member for a golden bundle: `<scenario>.<step>.v9.json`, or `.member.`."""
    scenario, generation = root.name.split(".")[0], root.name.split(".")[1]

    async def fetch(workflow_id: str) -> WorkflowHistory | None:
        step = workflow_id.rsplit(".", 1)[-1]
        for name in (step, "member"):
            path = HISTORIES / f"{scenario}.{name}.{generation}.json"
            if path.exists():
                return WorkflowHistory.from_json(workflow_id, path.read_text())
        return None

    return fetch


async def timeline_of(name: str, *, personal_data: bool = False, members: bool = True) -> Timeline:
    path = HISTORIES / name
    fetch = siblings(path) if members else None
    return await build_timeline(load(path), personal_data=personal_data, fetch_member=fetch)


def walk(t: Timeline) -> list[Any]:
    """Every entry of a timeline and of its members' timelines."""
    found: list[Any] = []
    for e in t.entries:
        found.append(e)
        if isinstance(e, MemberEntry) and e.timeline is not None:
            found.extend(walk(e.timeline))
    return found


def dumped(t: Timeline) -> str:
    return json.dumps(t.model_dump(mode="json"), ensure_ascii=False)


# ---------------------------------------------------------------- what the history holds

_PAYLOAD_FIELDS = {
    "workflowExecutionStartedEventAttributes": ("input",),
    "activityTaskScheduledEventAttributes": ("input",),
    "activityTaskCompletedEventAttributes": ("result",),
    "startChildWorkflowExecutionInitiatedEventAttributes": ("input",),
    "childWorkflowExecutionCompletedEventAttributes": ("result",),
    "workflowExecutionCompletedEventAttributes": ("result",),
    "workflowExecutionSignaledEventAttributes": ("input",),
}


async def decoded_values(history: WorkflowHistory) -> list[Any]:
    """Every payload value of the history, decrypted (Updates' inputs included)."""
    conv = data_converter()
    values: list[Any] = []
    for event in history.events:
        if event.HasField("workflow_execution_update_accepted_event_attributes"):
            request = event.workflow_execution_update_accepted_event_attributes.accepted_request
            values += await conv.decode(list(request.input.args.payloads))
            continue
        raw = MessageToDict(event)
        for attributes, fields in _PAYLOAD_FIELDS.items():
            if attributes not in raw:
                continue
            message = getattr(event, re.sub(r"(?<!^)([A-Z])", r"_\1", attributes).lower())
            for f in fields:
                payloads = list(getattr(message, f).payloads)
                if payloads:
                    values += await conv.decode(payloads)
    return values


NOT_PEOPLE = {"agency_name", "commune_name", "province_name", "place_name", "procedure_name"}


def personal_values(value: Any, key: str = "") -> set[str]:
    """Ids, names, phones, emails, dates of birth and streets, by this test's own rules."""
    found: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            found |= personal_values(v, str(k))
    elif isinstance(value, list):
        for v in value:
            found |= personal_values(v, key)
    elif isinstance(value, str) and len(value) >= 4 and key not in NOT_PEOPLE:
        if re.search(r"(pid|name|phone|email|birth_date|street)s?$", key):
            found.add(value)
    return found


async def tree_values(root: Path) -> set[str]:
    scenario, generation = root.name.split(".")[0], root.name.split(".")[1]
    found: set[str] = set()
    for path in HISTORIES.glob(f"{scenario}.*{generation}.json"):
        for value in await decoded_values(load(path)):
            found |= personal_values(value)
    return found


# ---------------------------------------------------------------- entries


async def test_timeline_bundle_names_steps_events_and_members() -> None:
    t = await timeline_of("birth_bundle_approved.v9.json")
    history = load(HISTORIES / "birth_bundle_approved.v9.json")
    events = {e.event_id: e for e in history.events}
    assert (t.dossier_code, t.procedure_id, t.procedure_version) == (
        "UBND-10549-261203-0001",
        "vn.bundle.birth_residence_insurance",
        1,
    )
    assert re.fullmatch(r"[0-9a-f]{64}", t.definition_hash or "")
    assert t.status == "completed" and t.closed_at is not None and not t.personal_data
    kinds = Counter(e.kind for e in t.entries)
    for kind in ("step", "call", "document", "notification", "member", "deadline", "end"):
        assert kinds[kind] >= 1, f"no {kind} entry in {dict(kinds)}"
    assert [e.event_ids[0] for e in t.entries] == sorted(e.event_ids[0] for e in t.entries)

    calls = [e for e in t.entries if isinstance(e, CallEntry)]
    assert [(c.step_id, c.activity) for c in calls] == [
        ("mother", "population.get_citizen"),
        ("birth_cert", "health.get_birth_certificate"),
    ]
    conv = data_converter()
    for call in calls:
        scheduled = events[call.event_ids[0]]
        assert scheduled.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        attrs = scheduled.activity_task_scheduled_event_attributes
        assert attrs.activity_type.name == call.activity
        (request,) = await conv.decode(list(attrs.input.payloads))
        assert call.request_sha256 == sha256_json(request)
        assert call.idempotency_key == f"{t.dossier_code}:{call.step_id}"
        assert call.outcome == "completed" and call.attempts == 1
        assert re.fullmatch(r"[0-9a-f]{64}", call.answer_sha256 or "")
        pid = call.answer.get("pid") or call.answer.get("mother_pid")
        assert re.fullmatch(r"•{10}\d\d", pid), f"{call.activity} shows a personal id"
        started = [s for s in t.entries if isinstance(s, StepEntry) and s.step_id == call.step_id]
        assert [s.phase for s in started] == ["started", "finished"]
        assert started[0].event_ids == [call.event_ids[0]]
        assert started[1].event_ids == [call.event_ids[-1]]

    members = [e for e in t.entries if isinstance(e, MemberEntry)]
    assert [(m.step_id, m.status) for m in members] == [
        ("birth", "completed"),
        ("residence", "completed"),
        ("insurance", "completed"),
    ]
    for m in members:
        assert m.timeline is not None and m.timeline.workflow_id == m.workflow_id
        assert m.timeline.parent == t.dossier_code and m.run_id == m.timeline.run_id
        decisions = [e for e in m.timeline.entries if isinstance(e, DecisionEntry)]
        assert [(d.step_id, d.action) for d in decisions] == [("review", "approve")]
        documents = [e for e in m.timeline.entries if isinstance(e, DocumentEntry)]
        assert documents and all(d.signed is True for d in documents)
        assert all(re.fullmatch(r"[0-9A-F]{12}", d.verification_code or "") for d in documents)
        assert all(re.fullmatch(r"[0-9a-f]{64}", d.document_sha256 or "") for d in documents)
        for e in m.timeline.entries:
            if isinstance(e, CallEntry) and e.step_id is not None:
                assert e.idempotency_key == f"{m.workflow_id}:{e.step_id}"
    notice = next(e for e in t.entries if isinstance(e, NotificationEntry))
    assert notice.recipient["pid"].startswith("•") and notice.recipient["full_name"] == "•••"
    assert {(d.channel, d.status) for d in notice.deliveries} == {
        ("email", "no_address"),
        ("sms", "sent"),
    }
    end = t.entries[-1]
    assert isinstance(end, EndEntry) and end.status == "completed"
    assert end.event_ids == [history.events[-1].event_id]


async def test_timeline_lists_members_without_their_histories() -> None:
    t = await timeline_of("birth_bundle_residence_rejected.v9.json", members=False)
    members = [e for e in t.entries if isinstance(e, MemberEntry)]
    assert [(m.step_id, m.status, m.timeline) for m in members] == [
        ("birth", "completed", None),
        ("residence", "rejected", None),
        ("insurance", "completed", None),
    ]
    assert members[1].reason == "•••"  # the police officer's comment
    shown = await timeline_of("birth_bundle_residence_rejected.v9.json", personal_data=True)
    reasons = [e.reason for e in shown.entries if isinstance(e, MemberEntry)]
    assert reasons[1] is not None and "tranh chấp" in reasons[1]


async def test_timeline_leaves_out_child_workflows_of_other_types() -> None:
    raw = json.loads((HISTORIES / "birth_bundle_approved.v9.json").read_text())
    for event in raw["events"]:
        for attributes in event.values():
            if (
                isinstance(attributes, dict)
                and attributes.get("workflowType", {}).get("name") == "ProcedureWorkflow"
                and ".insurance" in json.dumps(attributes)
            ):
                attributes["workflowType"]["name"] = "ArchiveCaseWorkflow"
    history = WorkflowHistory.from_json("bundle", json.dumps(raw))
    t = await build_timeline(history, personal_data=False)
    assert [e.step_id for e in t.entries if isinstance(e, MemberEntry)] == ["birth", "residence"]


async def test_timeline_stall_on_a_failed_call_and_its_resume() -> None:
    t = await timeline_of("on_reject_stall_aborted.v9.json")
    stall = next(e for e in t.entries if isinstance(e, StallEntry))
    resume = next(e for e in t.entries if isinstance(e, ResumeEntry))
    failed = next(e for e in t.entries if isinstance(e, CallEntry) and e.outcome == "failed")
    assert (stall.step_id, stall.activity, stall.attempts) == ("tell_citizen", "test.echo", 1)
    assert stall.event_ids == [failed.event_ids[-1]] and "registry unavailable" in (
        stall.error or ""
    )
    assert (resume.step_id, resume.actor, resume.action, resume.reason) == (
        "tell_citizen",
        "cb02",
        "abort",
        "•••",
    )
    assert stall.event_ids[0] < resume.event_ids[0]
    end = t.entries[-1]
    assert isinstance(end, EndEntry) and (end.status, end.reason) == ("aborted", "•••")
    shown = await timeline_of("on_reject_stall_aborted.v9.json", personal_data=True)
    end = shown.entries[-1]
    assert isinstance(end, EndEntry) and end.reason == "Đã xem xét"


async def test_timeline_stall_without_a_failed_call() -> None:
    t = await timeline_of("apology_stall_aborted.v9.json")
    (stall,) = [e for e in t.entries if isinstance(e, StallEntry)]
    (resume,) = [e for e in t.entries if isinstance(e, ResumeEntry)]
    assert (stall.step_id, stall.activity, resume.step_id) == ("apologise", None, "apologise")
    assert stall.event_ids[0] < resume.event_ids[0]
    provided = await timeline_of("provided_result_defaults.v9.json", personal_data=True)
    (resume,) = [e for e in provided.entries if isinstance(e, ResumeEntry)]
    assert (resume.step_id, resume.action, resume.result) == (
        "lookup",
        "provide",
        {"value": "12/2001"},
    )


async def test_timeline_supplement_rounds_run_steps_again() -> None:
    t = await timeline_of("birth_supplement_three_rounds.v9.json")
    decisions = [e for e in t.entries if isinstance(e, DecisionEntry)]
    assert [d.action for d in decisions] == ["request_supplement"] * 3 + ["approve"]
    assert all(d.missing for d in decisions[:3]) and decisions[0].actor == "cbtp07"
    supplements = [e for e in t.entries if isinstance(e, SupplementEntry)]
    assert [s.fields for s in supplements] == [
        ["birth_certificate_file"],
        ["marriage_certificate_file"],
        ["birth_certificate_file"],
    ]
    letters = [
        e for e in t.entries if isinstance(e, DocumentEntry) and e.template == "supplement_request"
    ]
    assert [(d.step_id, d.run, d.idempotency_key) for d in letters] == [
        ("supplement_letter", 1, f"{t.dossier_code}:supplement_letter"),
        ("supplement_letter", 2, f"{t.dossier_code}:supplement_letter#2"),
        ("supplement_letter", 3, f"{t.dossier_code}:supplement_letter#3"),
    ]
    task_timers = [e for e in t.entries if isinstance(e, TimerEntry) and e.step_id == "review"]
    assert len(task_timers) == 4 and all(x.outcome == "canceled" for x in task_timers)
    review = [e.phase for e in t.entries if isinstance(e, StepEntry) and e.step_id == "review"]
    assert review == ["started", "finished"]


async def test_timeline_assignment_and_decision_comment_masked() -> None:
    t = await timeline_of("task_assigned.v9.json")
    (assigned,) = [e for e in t.entries if isinstance(e, AssignmentEntry)]
    assert (assigned.step_id, assigned.officer, assigned.actor) == ("review", "cb01", "ld01")
    assert assigned.reason == "•••"
    rejected = await timeline_of("every_step_rejected_at_review.v9.json")
    (decision,) = [e for e in rejected.entries if isinstance(e, DecisionEntry)]
    assert decision.comment == "•••" and "Thông tin không khớp" not in dumped(rejected)
    assert "Thông tin không khớp" not in render_text(rejected)
    shown = await timeline_of("every_step_rejected_at_review.v9.json", personal_data=True)
    (decision,) = [e for e in shown.entries if isinstance(e, DecisionEntry)]
    assert decision.comment == "Thông tin không khớp"


async def test_timeline_cancelled_case_ends_aborted() -> None:
    t = await timeline_of("cancelled_after_on_abort.v9.json")
    assert [e.kind for e in t.entries][-1] == "end"
    assert "cancel_requested" in [e.kind for e in t.entries]
    end = t.entries[-1]
    assert isinstance(end, EndEntry) and (end.status, end.reason) == ("aborted", "Hồ sơ đã bị hủy")


async def test_timeline_of_an_open_case() -> None:
    """A history cut short (a case still running): no end, the running call pending and
    its step started but not finished, the case's apology timer still pending."""
    raw = json.loads((HISTORIES / "birth_bundle_approved.birth.v9.json").read_text())
    raw["events"] = [e for e in raw["events"] if int(e["eventId"]) <= 50]
    t = await build_timeline(
        WorkflowHistory.from_json("open", json.dumps(raw)), personal_data=False
    )
    assert (
        t.closed_at is None and t.status == "running" and "end" not in {e.kind for e in t.entries}
    )
    (register,) = [e for e in t.entries if isinstance(e, CallEntry) and e.step_id == "register"]
    assert register.outcome == "pending" and register.answer_sha256 is None
    phases = [e.phase for e in t.entries if isinstance(e, StepEntry) and e.step_id == "register"]
    assert phases == ["started"]
    timers = [(e.step_id, e.outcome) for e in t.entries if isinstance(e, TimerEntry)]
    assert timers == [(None, "pending"), ("review", "canceled")]


async def test_step_at_names_the_step_of_an_event() -> None:
    t = await timeline_of("birth_bundle_approved.birth.v9.json")
    decision = next(e for e in t.entries if isinstance(e, DecisionEntry))
    assert step_at(t, decision.event_ids[0]) == "review"
    register = next(e for e in t.entries if isinstance(e, CallEntry) and e.step_id == "register")
    assert step_at(t, register.event_ids[-1]) == "register"
    assert step_at(t, 1) is None


# ---------------------------------------------------------------- personal data


@pytest.mark.parametrize("root", ROOTS, ids=[p.stem for p in ROOTS])
async def test_timeline_masks_personal_data(root: Path) -> None:
    personal = await tree_values(root)
    masked = await timeline_of(root.name)
    text, data = render_text(masked), dumped(masked)
    leaks = sorted(v for v in personal if v in text or v in data)
    assert not leaks, f"{len(leaks)} personal values shown unmasked in {root.name}"
    shown = await timeline_of(root.name, personal_data=True)
    text, data = render_text(shown), dumped(shown)
    assert shown.personal_data and any(v in data for v in personal) == bool(personal)
    starts = (await decoded_values(load(root)))[0]["dossier"]
    for value in personal_values(starts):
        assert value in data and value in text, "a dossier's personal value is missing"


async def test_timeline_masks_ids_by_shape_and_keeps_codes() -> None:
    t = await timeline_of("birth_bundle_approved.v9.json")
    member = next(e for e in t.entries if isinstance(e, MemberEntry) and e.step_id == "birth")
    assert member.output["registration_no"] == "KS.10549.2026.000413"
    assert member.output["child_pid"] == "••••••••••80"
    assert member.output["child_name"] == "•••"
    end = t.entries[-1]
    assert isinstance(end, EndEntry) and "031326513980" not in end.output["summary"]
    assert "KS.10549.2026.000413" in end.output["summary"]


def test_masker_by_key_shape_and_known_value() -> None:
    mask = Masker(personal_data=False)
    mask.learn({"mother": {"full_name": "Nguyễn Thu Trang", "address": {"street": "Thôn 8"}}})
    answer = {
        "pid": "030196113697",
        "full_name": "Nguyễn Thu Trang",
        "address": {"street": "Thôn 8", "province_name": "Hà Tĩnh"},
        "note": "Gọi 0793663917 hoặc +84 793 663 917, thư an.nguyen@example.vn",
        "result": "Đã đăng ký cho con của Nguyễn Thu Trang, ở Thôn 8, Hà Tĩnh",
        "registration_no": "KS.10549.2026.000413",
        "sha256": "123456789012" + "a" * 52,
        "agency_name": "Ủy ban nhân dân xã Sơn Kim 2",
    }
    assert mask.value(answer) == {
        "pid": "••••••••••97",
        "full_name": "•••",
        "address": "•••",
        "note": "Gọi ••••••••17 hoặc •••••••••17, thư •••",
        "result": "Đã đăng ký cho con của •••, ở •••, Hà Tĩnh",
        "registration_no": "KS.10549.2026.000413",
        "sha256": "123456789012" + "a" * 52,
        "agency_name": "Ủy ban nhân dân xã Sơn Kim 2",
    }
    assert mask.free_text("Bà Trang vắng mặt") == "•••"
    assert mask.reason("Bà Trang vắng mặt", free=False) == "•••"  # repeats a masked text
    assert mask.reason("Hồ sơ bị từ chối", free=True) == "Hồ sơ bị từ chối"
    shown = Masker(personal_data=True)
    assert shown.value(answer) == answer and shown.free_text("Bà Trang") == "Bà Trang"


# ---------------------------------------------------------------- text


async def test_render_text_one_line_per_entry_members_indented() -> None:
    t = await timeline_of("birth_bundle_approved.v9.json")
    text = render_text(t)
    lines = text.splitlines()
    entry_lines = [line for line in lines if re.match(r" *#\d+", line)]
    assert len(entry_lines) == len(walk(t))
    assert "Trạng thái: completed (đã có kết quả)" in lines[3]
    assert "Dữ liệu cá nhân: đã che" in text
    nested = [line for line in entry_lines if line.startswith("    #")]
    own = [line for line in entry_lines if line.startswith("#")]
    assert len(own) == len(t.entries) and len(nested) == len(walk(t)) - len(t.entries)
    decision = next(line for line in nested if "Quyết định của cbtp11" in line)
    assert "review" in decision and "duyệt" in decision
    assert any(
        "Ban hành văn bản «Giấy tiếp nhận hồ sơ" in line and "đã ký số" in line for line in own
    )
    assert any("Gọi CSDL quốc gia về dân cư (population.get_citizen)" in line for line in own)


# ---------------------------------------------------------------- every history


@pytest.mark.parametrize("path", EVERY, ids=[p.stem for p in EVERY])
async def test_timeline_reads_every_golden_history(path: Path) -> None:
    """Every activity, Update and member of every recorded history has its entry, and the
    history given is left as it was."""
    history = load(path)
    before = history.to_json()
    t = await build_timeline(history, personal_data=False)
    assert history.to_json() == before
    count = Counter(EventType.Name(e.event_type) for e in history.events)
    entries = Counter(e.kind for e in t.entries)
    activities = entries["call"] + entries["document"] + entries["notification"]
    assert activities == count["EVENT_TYPE_ACTIVITY_TASK_SCHEDULED"]
    updates = sum(entries[k] for k in ("decision", "assignment", "resume", "supplement"))
    assert updates == count["EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED"]
    assert entries["member"] == count["EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED"]
    assert entries["end"] == 1 and t.status in {"completed", "rejected", "aborted", "failed"}
    for e in t.entries:
        if isinstance(e, CallEntry | DocumentEntry | NotificationEntry) and e.step_id:
            assert e.idempotency_key and e.idempotency_key.startswith(f"{t.dossier_code}:")
        assert e.event_ids and all(1 <= i <= len(history.events) for i in e.event_ids)
