"""Which party the citizen is, and refusals in the citizen's words, over HTTP against the
real dev server, a real worker and the sandbox registries (the fixtures of
tests/test_api_citizen.py):

- a marriage is filed by the man or the woman: the woman who says so (`as`), or types her
  own id in her field, is placed as the woman, and her case passes the registry's checks
  of who is the man and who the woman; a party that is not one, her id in the man's
  field, or nothing saying which, are refused in Vietnamese with the field named;
- a dossier the checks refuse answers in Vietnamese, a message and a code per field; every
  rule of the dossier checker has Vietnamese words (a rule without them fails here);
- a bundle's timeline shows its members' decisions and endings, each naming its member,
  also once the member has finished.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
from temporalio.testing import WorkflowEnvironment

from motcua.cases import offering, problems
from motcua.cases.parties import parties
from motcua.workflows.dsl import dossier as dossier_check
from motcua.workflows.dsl.model import FieldSpec
from motcua.workflows.procedure import ProcedureWorkflow
from tests import test_api_citizen as base
from tests.helpers import eventually
from tests.test_api_end_to_end import mother_and_agencies

sandbox, worker, api, samples = base.sandbox, base.worker, base.api, base.samples
citizen, submit_headers = base.citizen, base.submit_headers
MARRIAGE = "vn.marriage_registration"
BUNDLE = "vn.bundle.birth_residence_insurance"
_SLOW = timedelta(seconds=60)
ENGLISH = re.compile(r"\b(must|required|unknown|field|digits|not)\b")


async def adults(sandbox: str, kind: str) -> list[str]:
    async with httpx.AsyncClient(base_url=sandbox, timeout=10) as registry:
        found = await registry.get("/_admin/samples", params={"kind": kind})
        found.raise_for_status()
    pids: list[str] = found.json()[kind]
    return pids


def codes(answer: httpx.Response) -> list[tuple[str, str]]:
    body = answer.json()
    assert answer.status_code == 422, answer.text
    assert not ENGLISH.search(body["detail"]), body["detail"]
    for p in body["problems"]:
        assert p["message"] and not ENGLISH.search(p["message"]), p
    return [(p["field"], p["code"]) for p in body["problems"]]


# ---------------------------------------------------------------- the parties


def test_a_marriage_is_filed_by_either_party_others_by_their_applicant() -> None:
    offered = offering.offered()
    assert parties(offered[MARRIAGE][1]) == ["husband_pid", "wife_pid"]
    assert parties(offered[base.BIRTH][1]) == ["mother_pid"]
    assert parties(offered[BUNDLE][1]) == ["mother_pid"]
    assert parties(offered["vn.death_registration"][1]) == ["applicant_pid"]


async def test_the_catalogue_and_the_form_let_her_say_she_is_the_woman(
    api: httpx.AsyncClient, sandbox: str
) -> None:
    wife = (await adults(sandbox, "unmarried_women"))[0]
    husband = (await adults(sandbox, "unmarried_men"))[0]
    offered = {p["id"]: p for p in (await api.get("/procedures")).json()}
    marriage = offered[MARRIAGE]
    assert [f["name"] for f in marriage["parties"]] == ["husband_pid", "wife_pid"]
    assert marriage["from_login"] is None
    assert not {"husband_pid", "wife_pid"} & {f["name"] for f in marriage["to_type"]}
    assert [f["name"] for f in offered[base.BIRTH]["parties"]] == ["mother_pid"]

    url = f"/procedures/{MARRIAGE}/form"
    unsaid = (await api.get(url, headers=citizen(wife))).json()
    assert (unsaid["party"], unsaid["parties"]) == (None, ["husband_pid", "wife_pid"])
    assert {"husband_pid", "wife_pid"} <= set(unsaid["to_type"])

    said = await api.get(url, params={"as": "wife_pid"}, headers=citizen(wife))
    assert said.status_code == 200, said.text
    form = said.json()
    fields = {f["name"]: f for f in form["fields"]}
    assert form["party"] == "wife_pid"
    assert (fields["wife_pid"]["value"], fields["wife_pid"]["source"]) == (wife, "login")
    assert fields["wife_name"]["source"] == "registry" and fields["wife_name"]["value"]
    assert fields["husband_pid"]["value"] is None and "husband_pid" in form["to_type"]
    lookups = {x["id"]: x["status"] for x in form["lookups"]}
    assert lookups == {"husband": "needs_input", "wife": "done"}

    # Her own id typed in her field says it as well; with the man's typed, his look-up runs.
    typed = await api.get(
        url, params={"wife_pid": wife, "husband_pid": husband}, headers=citizen(wife)
    )
    form = typed.json()
    assert form["party"] == "wife_pid"
    assert {x["id"]: x["status"] for x in form["lookups"]} == {"husband": "done", "wife": "done"}

    wrong = await api.get(url, params={"as": "email"}, headers=citizen(wife))
    assert codes(wrong) == [("as", "not_a_party")]
    assert "husband_pid" in wrong.json()["detail"] and "wife_pid" in wrong.json()["detail"]
    birth = await api.get(
        f"/procedures/{base.BIRTH}/form", params={"as": "father_pid"}, headers=citizen(wife)
    )
    assert codes(birth) == [("as", "not_a_party")]


async def test_she_files_the_marriage_as_the_woman(api: httpx.AsyncClient, sandbox: str) -> None:
    women, men = await adults(sandbox, "unmarried_women"), await adults(sandbox, "unmarried_men")
    wife, husband = women[1], men[1]
    said = {"procedure_id": MARRIAGE, "as": "wife_pid",
            "dossier": {"husband_pid": husband, "voluntary": True}}  # fmt: skip

    async def refused(body: dict[str, Any]) -> list[tuple[str, str]]:
        answer = await api.post("/dossiers", json=body, headers=submit_headers(wife, "k-refused"))
        assert wife not in answer.text and husband not in answer.text
        return codes(answer)

    # Nothing says which party she is: neither `as` nor her id in her field.
    unsaid = {"procedure_id": MARRIAGE, "dossier": said["dossier"]}
    assert await refused(unsaid) == [("as", "party_unknown")]
    # Her id where the man's goes, while she says she is the woman.
    swapped = {**said, "dossier": {"husband_pid": wife, "voluntary": True}}
    assert await refused(swapped) == [("husband_pid", "own_id_elsewhere")]
    # Someone else's id in her own field.
    other = {**said, "dossier": {**said["dossier"], "wife_pid": women[2]}}
    assert await refused(other) == [("wife_pid", "not_caller")]
    # Her id in both fields: one person is one party.
    both = {"procedure_id": MARRIAGE, "dossier": {"husband_pid": wife, "wife_pid": wife}}
    assert await refused(both) == [("wife_pid", "several_parties")]
    assert await refused({**said, "as": "phone"}) == [("as", "not_a_party")]

    first = await api.post("/dossiers", json=said, headers=submit_headers(wife, "k-wife"))
    assert first.status_code == 201, first.text
    code = first.json()["dossier_code"]
    # The registry's checks passed (the man is male, the woman female: she was placed as
    # the woman), so the case waits for the civil status officer.
    view = await base.dossier_when(api, wife, code, "waiting_officer")
    assert [t["step_id"] for t in view["open_tasks"]] == ["review"]
    assert not [e for e in view["timeline"] if e["kind"] == "rejected"]
    # The same key and dossier, but another party: another request.
    again = await api.post(
        "/dossiers", json={**said, "as": "husband_pid"}, headers=submit_headers(wife, "k-wife")
    )
    assert again.status_code == 422 and "Idempotency-Key" in again.json()["detail"]

    # Another woman says it by typing her own id in her field.
    dossier = {"husband_pid": men[2], "wife_pid": women[3], "voluntary": True}
    typed = {"procedure_id": MARRIAGE, "dossier": dossier}
    answer = await api.post("/dossiers", json=typed, headers=submit_headers(women[3], "k-typed"))
    assert answer.status_code == 201, answer.text
    await base.dossier_when(api, women[3], answer.json()["dossier_code"], "waiting_officer")


# ---------------------------------------------------------------- refusals in Vietnamese


def test_every_rule_of_the_dossier_checker_has_vietnamese_words() -> None:
    spec = FieldSpec.model_validate
    schema = {
        "name": spec({"type": "string", "title": "Họ, chữ đệm, tên", "max_length": 5}),
        "code": spec({"type": "string", "pattern": "[0-9]+"}),
        "pid": spec({"type": "pid"}), "phone": spec({"type": "phone"}),
        "email": spec({"type": "email"}), "province": spec({"type": "province_code"}),
        "commune": spec({"type": "commune_code"}),
        "sex": spec({"type": "enum", "enum": ["male", "female"]}),
        "count": spec({"type": "int"}), "amount": spec({"type": "number"}),
        "agreed": spec({"type": "bool"}), "day": spec({"type": "date"}),
        "moment": spec({"type": "datetime"}), "scan": spec({"type": "file"}),
        "address": spec({"type": "object", "fields": {"street": {"type": "string"}}}),
        "children": spec({"type": "list", "items": {"type": "string"}}),
    }  # fmt: skip
    dossiers = [
        {"name": 7, "code": "abc", "pid": "12", "phone": "12", "email": "x", "province": "99",
         "commune": "1", "sex": "other", "count": 1.5, "amount": "1", "agreed": "yes",
         "day": "hôm qua", "moment": "sáng nay", "scan": 3, "address": 1, "children": 1,
         "extra": 1},
        {"name": "a\u200bb", "pid": "999000000001", "address": {}, "children": [" "]},
        {"name": "a\x07b", "children": ["\ud800"]},
        {"name": "Nguye\u0302\u0303n"},
        {"name": "Nguyễn Văn An"},
        {"name": "   "},
    ]  # fmt: skip
    lines = [line for d in dossiers for line in dossier_check.check(schema, d)]
    lines.append(dossier_check.check(schema, [])[0])
    found = problems.explain(lines, problems.titles(schema))
    unread = [line for line, p in zip(lines, found, strict=True) if p.code == "invalid"]
    assert unread == []
    every = {code for _, code, _ in problems._RULES}
    assert {p.code for p in found} == every  # each rule met here, each row reached
    name = next(p for p in found if p.code == "too_long")
    assert (name.field, name.title) == ("name", "Họ, chữ đệm, tên")
    assert name.message == "dài 13 ký tự, quá 5 ký tự cho phép; Ông/Bà rút gọn lại"
    assert ("address.street", "required") in {(p.field, p.code) for p in found}
    assert (found[-1].field, found[-1].code) == ("", "not_object")
    # A refusal that joined the lines keeps a rule holding '; ' whole.
    long = next(line for line in lines if "characters long; at most" in line)
    assert problems.joined("; ".join([lines[0], long, lines[1]])) == [lines[0], long, lines[1]]


async def test_a_dossier_the_checks_refuse_is_answered_in_vietnamese_per_field(
    api: httpx.AsyncClient, samples: list[dict[str, Any]]
) -> None:
    mother = samples[3]
    pid = mother["mother_pid"]
    body = {
        "procedure_id": base.BIRTH,
        "dossier": {"birth_certificate_no": mother["certificate_no"],
                    "child_name": "Lê\u200bMinh", "father_pid": "12345", "nickname": "Bi"},
    }  # fmt: skip
    answer = await api.post("/dossiers", json=body, headers=submit_headers(pid, "k-bad"))
    assert sorted(codes(answer)) == [
        ("child_name", "invisible_characters"), ("father_pid", "pid_format"),
        ("nickname", "unknown_field"),
    ]  # fmt: skip
    refusal = answer.json()
    assert refusal["detail"].startswith("hồ sơ chưa hợp lệ: ")
    father = next(p for p in refusal["problems"] if p["field"] == "father_pid")
    assert father["title"] == "Số định danh cá nhân của người cha"
    assert father["message"] == (
        "phải gồm đúng 12 chữ số; Ông/Bà kiểm tra lại số định danh cá nhân trên thẻ căn cước"
    )
    assert "12345" not in answer.text

    # A value the registry filled, sent different.
    changed = {"procedure_id": base.BIRTH, "dossier": {
        "birth_certificate_no": mother["certificate_no"], "child_name": "Lê Minh",
        "commune_code": "00001"}}  # fmt: skip
    answer = await api.post("/dossiers", json=changed, headers=submit_headers(pid, "k-filled"))
    assert codes(answer) == [("commune_code", "prefilled")]


# ---------------------------------------------------------------- a bundle's timeline


async def test_a_bundle_timeline_shows_each_members_decision(
    api: httpx.AsyncClient, sandbox: str, local_env: WorkflowEnvironment
) -> None:
    mother, agencies = await mother_and_agencies(sandbox)
    pid = mother["mother_pid"]
    body = {
        "procedure_id": BUNDLE,
        "dossier": {"birth_certificate_no": mother["certificate_no"], "child_name": "Trần An",
                    "primary_care_facility": "Trạm Y tế xã", "head_consent": True},
    }  # fmt: skip
    answer = await api.post("/dossiers", json=body, headers=submit_headers(pid, str(uuid.uuid4())))
    assert answer.status_code == 201, answer.text
    code = answer.json()["dossier_code"]
    await eventually(lambda: base.status_of(api, pid, code), lambda d: bool(d["open_tasks"]), _SLOW)
    commune = agencies["birth"].removeprefix("UBND-")
    member = local_env.client.get_workflow_handle(f"{code}.birth")
    await member.execute_update(ProcedureWorkflow.decide, base.officer_decision(commune, "approve"))

    def birth_done(view: dict[str, Any]) -> bool:
        return {m["step_id"]: m["status"] for m in view["members"]}.get("birth") == "completed"

    view = await eventually(lambda: base.status_of(api, pid, code), birth_done, _SLOW)
    timeline = view["timeline"]
    assert [e["at"] for e in timeline] == sorted(e["at"] for e in timeline)
    own = [e for e in timeline if e["member"] is None]
    assert own and {e["dossier_code"] for e in own} == {code}
    birth = [e for e in timeline if e["member"] == "birth"]
    assert {(e["dossier_code"], e["member_title"]) for e in birth} == {
        (f"{code}.birth", "Đăng ký khai sinh")
    }
    decided = [e for e in birth if e["kind"] == "decided"]
    assert [(e["label"], e["step_id"]) for e in decided] == [("Cán bộ đã duyệt hồ sơ", "review")]
    # The finished member's own ending, and the bundle's record of it, both there.
    assert [e["label"] for e in birth if e["kind"] == "completed"] == ["Đã có kết quả giải quyết"]
    assert any(e["kind"] == "member_completed" and e["step_id"] == "birth" for e in own)
