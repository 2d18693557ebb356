"""The citizen API over HTTP, against the real dev server, a real worker and the sandbox
registries: the catalogue, the pre-filled form, submitting a birth registration once per
Idempotency-Key (twenty at once too), following it, a supplement, the signed documents
and the rating; another citizen's dossier is a 404."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel import select
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from motcua import db
from motcua.api.identity import issue_token
from motcua.api.submissions import Submission
from motcua.dossier_codes import DossierSequenceRow
from motcua.workflows.contracts import DecideInput
from motcua.workflows.procedure import ProcedureWorkflow
from tests.api_client import open_api
from tests.helpers import eventually, new_worker
from tests.sandbox_server import sandbox_fixture

sandbox = sandbox_fixture(seed=42, citizens=2_000)
BIRTH = "vn.birth_registration"
OTHER_CITIZEN = "001203000123"
_SLOW = timedelta(seconds=60)


@pytest_asyncio.fixture
async def samples(sandbox: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=sandbox, timeout=10) as admin:
        answer = await admin.get(
            "/_admin/samples", params={"kind": "mother_with_birth_certificate"}
        )
        answer.raise_for_status()
        found: list[dict[str, Any]] = answer.json()["mother_with_birth_certificate"]
    return found


@pytest_asyncio.fixture
async def worker(
    local_env: WorkflowEnvironment, sandbox: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Worker]:
    """A worker and the API on one fresh data dir (database, documents, development issuer),
    the registries at the sandbox."""
    monkeypatch.setenv("MOTCUA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MOTCUA_SANDBOX_URL", sandbox)
    for name in ("POPULATION", "CIVIL_STATUS", "RESIDENCE", "SOCIAL_INSURANCE", "HEALTH"):
        monkeypatch.delenv(f"MOTCUA_{name}_URL", raising=False)
    for name in ("DATABASE_URL", "MOTCUA_JWKS_URL", "MOTCUA_JWT_PUBLIC_KEY", "MOTCUA_JWT_ISSUER"):
        monkeypatch.delenv(name, raising=False)
    async with new_worker(local_env.client) as running:
        monkeypatch.setenv("MOTCUA_TASK_QUEUE", running.task_queue)
        yield running


@pytest_asyncio.fixture
async def api(local_env: WorkflowEnvironment, worker: Worker) -> AsyncIterator[httpx.AsyncClient]:
    async with open_api(local_env.client) as c:
        yield c


def citizen(pid: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(pid, 'citizen')}"}


def submit_headers(pid: str, key: str) -> dict[str, str]:
    return {**citizen(pid), "Idempotency-Key": key}


def officer_decision(commune: str, action: str, **extra: Any) -> DecideInput:
    agency = f"UBND-{commune}"
    token = issue_token(
        "cb.tuphap", "officer", agency=agency, officer_roles=["civil_status_officer"]
    )
    return DecideInput(
        step_id="review", action=action, role="civil_status_officer", agency=agency,
        actor="cb.tuphap", token=token, **extra,
    )  # fmt: skip


async def status_of(api: httpx.AsyncClient, pid: str, code: str) -> dict[str, Any]:
    answer = await api.get(f"/dossiers/{code}", headers=citizen(pid))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def dossier_when(api: httpx.AsyncClient, pid: str, code: str, status: str) -> dict[str, Any]:
    return await eventually(
        lambda: status_of(api, pid, code), lambda d: d["status"] == status, timeout=_SLOW
    )


# ---------------------------------------------------------------- the catalogue


async def test_the_catalogue_is_public_with_deadline_fee_and_papers(
    api: httpx.AsyncClient,
) -> None:
    answer = await api.get("/procedures")
    assert answer.status_code == 200
    offered = {p["id"]: p for p in answer.json()}
    assert not [pid for pid in offered if pid.startswith(("vn.demo.", "vn.example."))]
    birth = offered[BIRTH]
    assert birth["title"] == "Đăng ký khai sinh" and birth["code"] == "1.001193"
    assert birth["kind"] == "procedure" and birth["agency_level"] == "commune"
    assert birth["deadline"] == {"working_days": 0, "cutoff": "15:00"}
    assert birth["fee"]["amount"] == 0 and birth["fee"]["online"] == 0
    assert "birth_certificate_file" in {d["name"] for d in birth["documents"]}
    assert {f["name"] for f in birth["to_type"]} == {
        "birth_certificate_no", "child_name", "father_pid", "native_place",
    }  # fmt: skip
    assert "commune_code" in {f["name"] for f in birth["prefilled"]}
    assert birth["from_login"] == "mother_pid"
    assert [f["name"] for f in birth["parties"]] == ["mother_pid"]
    bundle = offered["vn.bundle.birth_residence_insurance"]
    assert bundle["kind"] == "bundle"
    assert bundle["members"] == [BIRTH, "vn.permanent_residence", "vn.child_health_insurance"]
    assert offered["vn.certified_copy"]["fee"]["varies"] is True


# ---------------------------------------------------------------- form, submit, follow


async def test_the_form_comes_pre_filled_for_the_logged_in_mother(
    api: httpx.AsyncClient, samples: list[dict[str, Any]]
) -> None:
    mother = samples[0]
    url = f"/procedures/{BIRTH}/form"
    assert (await api.get(url)).status_code == 401
    staff = {"Authorization": f"Bearer {issue_token('cb01', 'officer', agency='UBND-00070')}"}
    assert (await api.get(url, headers=staff)).status_code == 403

    first = await api.get(url, headers=citizen(mother["mother_pid"]))
    assert first.status_code == 200, first.text
    form = first.json()
    fields = {f["name"]: f for f in form["fields"]}
    assert (fields["mother_pid"]["value"], fields["mother_pid"]["source"]) == (
        mother["mother_pid"], "login",
    )  # fmt: skip
    assert fields["commune_code"]["value"] == mother["commune_code"]
    assert fields["mother_name"]["prefilled"] and fields["mother_name"]["value"]
    # The hospital's certificate needs its number first: those fields are still to type.
    lookups = {x["id"]: x["status"] for x in form["lookups"]}
    assert lookups == {"mother": "done", "father": "not_needed", "birth_cert": "needs_input"}
    assert {"child_name", "birth_certificate_no", "child_birth_date"} <= set(form["to_type"])

    typed = await api.get(
        url, params={"birth_certificate_no": mother["certificate_no"]},
        headers=citizen(mother["mother_pid"]),
    )  # fmt: skip
    form = typed.json()
    fields = {f["name"]: f for f in form["fields"]}
    assert {x["id"]: x["status"] for x in form["lookups"]}["birth_cert"] == "done"
    for name in ("child_birth_date", "child_sex", "place_of_birth", "child_nationality"):
        assert fields[name]["prefilled"] and fields[name]["source"] == "registry", name
    assert fields["birth_certificate_no"]["source"] == "typed"
    assert "child_name" in form["to_type"] and "child_birth_date" not in form["to_type"]
    assert not [f for f in form["fields"] if f["prefilled"] and f["value"] is None]

    unknown = await api.get("/procedures/vn.no_such/form", headers=citizen(OTHER_CITIZEN))
    assert unknown.status_code == 404 and "vn.no_such" in unknown.json()["detail"]


async def test_a_mother_submits_follows_supplements_downloads_and_rates(
    api: httpx.AsyncClient, local_env: WorkflowEnvironment, samples: list[dict[str, Any]]
) -> None:
    client = local_env.client
    mother = samples[1]
    pid, commune = mother["mother_pid"], mother["commune_code"]
    body = {
        "procedure_id": BIRTH,
        "dossier": {"birth_certificate_no": mother["certificate_no"], "child_name": "Lê Minh An"},
    }
    key = str(uuid.uuid4())
    assert (await api.post("/dossiers", json=body, headers=citizen(pid))).status_code == 422

    # What the registries say cannot be typed otherwise; the applicant is who logged in.
    changed = {**body, "dossier": {**body["dossier"], "commune_code": "00001"}}
    refused = await api.post("/dossiers", json=changed, headers=submit_headers(pid, "k-changed"))
    assert refused.status_code == 422 and "commune_code" in refused.json()["detail"]
    someone = {**body, "dossier": {**body["dossier"], "mother_pid": OTHER_CITIZEN}}
    refused = await api.post("/dossiers", json=someone, headers=submit_headers(pid, "k-other"))
    assert refused.status_code == 422
    assert [(p["field"], p["code"]) for p in refused.json()["problems"]] == [
        ("mother_pid", "not_caller")
    ]
    assert refused.json()["detail"].startswith(
        "hồ sơ chưa hợp lệ: Số định danh cá nhân của người mẹ (người đi khai sinh) (mother_pid): "
        "là số định danh cá nhân của người nộp hồ sơ"
    )
    assert OTHER_CITIZEN not in refused.text

    opened = (await api.get(f"/procedures/{BIRTH}/form", headers=citizen(pid))).json()["opened"]
    forged = {**body, "form_opened": opened.replace(".", ".0", 1)}
    refused = await api.post("/dossiers", json=forged, headers=submit_headers(pid, "k-forged"))
    assert refused.status_code == 422 and "form_opened" in refused.json()["detail"]
    timed = {**body, "form_opened": opened}
    first = await api.post("/dossiers", json=timed, headers=submit_headers(pid, key))
    assert first.status_code == 201, first.text
    code = first.json()["dossier_code"]
    # For the programme's measures: the two fields she typed, and when she opened the form.
    with db.session() as s:
        row = s.exec(select(Submission).where(Submission.dossier_code == code)).one()
    assert row.typed_fields == 2 and row.form_opened_at is not None
    assert code.startswith(f"UBND-{commune}-"), code  # the receiving commune, from the registry
    again = await api.post("/dossiers", json=body, headers=submit_headers(pid, key))
    assert again.status_code == 200 and again.json() == {
        "dossier_code": code, "procedure_id": BIRTH, "repeated": True,
    }  # fmt: skip
    other_dossier = {**body, "dossier": {**body["dossier"], "child_name": "Lê Minh Anh"}}
    reused = await api.post("/dossiers", json=other_dossier, headers=submit_headers(pid, key))
    assert reused.status_code == 422 and "Idempotency-Key" in reused.json()["detail"]
    # The same birth under a new key: one open dossier per birth.
    twice = await api.post("/dossiers", json=body, headers=submit_headers(pid, "k-twice"))
    assert twice.status_code == 409 and code in twice.json()["detail"]

    listed = await api.get("/dossiers", headers=citizen(pid))
    assert [d["dossier_code"] for d in listed.json()] == [code]
    view = await dossier_when(api, pid, code, "waiting_officer")
    assert view["title"] == "Đăng ký khai sinh" and view["status_label"] == "chờ cán bộ xử lý"
    assert [t["step_id"] for t in view["open_tasks"]] == ["review"]
    assert view["open_tasks"][0]["agency"] == f"UBND-{commune}"
    labels = [e["label"] for e in view["timeline"]]
    assert labels[0] == "Hồ sơ đã được tiếp nhận" and "Hồ sơ được chuyển cán bộ xử lý" in labels
    assert "Đã ký số và ban hành văn bản" in labels  # the receipt

    # Nobody else reads it, and it looks exactly like a dossier that does not exist.
    stranger = citizen(OTHER_CITIZEN)
    for path in ("", "/documents", f"/documents/{'0' * 64}.pdf"):
        answer = await api.get(f"/dossiers/{code}{path}", headers=stranger)
        assert answer.status_code == 404, path
    assert (await api.get("/dossiers/UBND-00001-261123-9999", headers=stranger)).json() == {
        "detail": "không tìm thấy hồ sơ UBND-00001-261123-9999 trong các hồ sơ của Ông/Bà"
    }
    supplement = {"documents": {"birth_certificate_file": "scan-1.pdf"}}
    posted = await api.post(f"/dossiers/{code}/supplement", json=supplement, headers=stranger)
    assert posted.status_code == 404
    rating = {"stars": 5, "comment": "Nhanh"}
    assert (
        await api.post(f"/dossiers/{code}/rating", json=rating, headers=stranger)
    ).status_code == 404
    assert (await api.get("/dossiers", headers=stranger)).json() == []
    assert (await api.get(f"/dossiers/{code}")).status_code == 401

    documents = (await api.get(f"/dossiers/{code}/documents", headers=citizen(pid))).json()
    receipt = documents[0]
    assert receipt["signed"] and receipt["dossier_code"] == code
    pdf = await api.get(
        f"/dossiers/{code}/documents/{receipt['document_ref']}", headers=citizen(pid)
    )
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-") and b"/ByteRange" in pdf.content
    assert hashlib.sha256(pdf.content).hexdigest() == receipt["sha256"]

    # Not finished: no rating yet, and no supplement asked.
    early = await api.post(f"/dossiers/{code}/rating", json=rating, headers=citizen(pid))
    assert early.status_code == 409
    nothing = await api.post(f"/dossiers/{code}/supplement", json=supplement, headers=citizen(pid))
    assert nothing.status_code == 409

    handle = client.get_workflow_handle(code)
    ask = officer_decision(commune, "request_supplement", missing=["birth_certificate_file"])
    await handle.execute_update(ProcedureWorkflow.decide, ask)
    view = await dossier_when(api, pid, code, "waiting_citizen")
    assert view["open_tasks"][0]["missing"] == ["birth_certificate_file"]
    assert view["portal_label"] == "Yêu cầu bổ sung"

    wrong = {"documents": {"mother_pid": OTHER_CITIZEN, "no_such": "x"}}
    refused = await api.post(f"/dossiers/{code}/supplement", json=wrong, headers=citizen(pid))
    assert refused.status_code == 422
    assert [(p["field"], p["code"]) for p in refused.json()["problems"]] == [
        ("no_such", "unknown_field")
    ]
    wrong = {"documents": {"mother_pid": OTHER_CITIZEN, "birth_certificate_file": 3}}
    refused = await api.post(f"/dossiers/{code}/supplement", json=wrong, headers=citizen(pid))
    assert refused.status_code == 422
    [problem] = refused.json()["problems"]
    assert (problem["field"], problem["code"]) == ("mother_pid", "not_asked")
    assert problem["message"].startswith("cán bộ không yêu cầu bổ sung thông tin này")
    assert OTHER_CITIZEN not in refused.text
    wrong = {"documents": {"birth_certificate_file": 3}, "note": "a\u200bb"}
    refused = await api.post(f"/dossiers/{code}/supplement", json=wrong, headers=citizen(pid))
    assert [(p["field"], p["code"]) for p in refused.json()["problems"]] == [
        ("note", "invisible_characters")
    ]
    wrong = {"documents": {"birth_certificate_file": 3}}
    refused = await api.post(f"/dossiers/{code}/supplement", json=wrong, headers=citizen(pid))
    assert [(p["field"], p["code"]) for p in refused.json()["problems"]] == [
        ("birth_certificate_file", "not_file")
    ]
    assert refused.json()["detail"].startswith("không gửi được hồ sơ bổ sung: ")
    sent = await api.post(f"/dossiers/{code}/supplement", json=supplement, headers=citizen(pid))
    assert sent.status_code == 200 and sent.json()["step_id"] == "review"
    await dossier_when(api, pid, code, "waiting_officer")

    await handle.execute_update(ProcedureWorkflow.decide, officer_decision(commune, "approve"))
    done = await dossier_when(api, pid, code, "completed")
    assert done["result"]["child_name"] == "Lê Minh An" and done["result"]["child_pid"]
    assert done["timeline"][-1]["label"] == "Đã có kết quả giải quyết"

    documents = (await api.get(f"/dossiers/{code}/documents", headers=citizen(pid))).json()
    extract = next(d for d in documents if d["title"] == "Trích lục khai sinh")
    assert extract["document_ref"] == done["result"]["extract_ref"]
    pdf = await api.get(
        f"/dossiers/{code}/documents/{extract['document_ref']}", headers=citizen(pid)
    )
    assert pdf.content.startswith(b"%PDF-") and b"/ByteRange" in pdf.content

    rated = await api.post(f"/dossiers/{code}/rating", json=rating, headers=citizen(pid))
    assert rated.status_code == 201 and rated.json()["stars"] == 5
    twice = await api.post(f"/dossiers/{code}/rating", json=rating, headers=citizen(pid))
    assert twice.status_code == 409
    bad = await api.post(f"/dossiers/{code}/rating", json={"stars": 6}, headers=citizen(pid))
    assert bad.status_code == 422

    # The programme's measures count her dossier: filed online, rated, timed.
    boss = {
        "Authorization": f"Bearer {issue_token('ld01', 'supervisor', agency=f'UBND-{commune}')}"
    }
    asked = {"procedure": BIRTH, "format": "csv"}
    sheet = await api.get("/programme/measures", params=asked, headers=boss)
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/csv")
    row = list(csv.DictReader(io.StringIO(sheet.text)))[-1]  # this month's
    assert (row["procedure_id"], row["agency"]) == (BIRTH, f"UBND-{commune}")
    assert int(row["ratings"]) >= 1 and int(row["submissions_measured"]) >= 1
    assert float(row["online_share"]) > 0 and float(row["form_minutes_median"]) < 5


# ---------------------------------------------------------------- one case per key


async def drawn(prefix: str) -> int:
    def read() -> int:
        with db.session() as s:
            rows = s.exec(select(DossierSequenceRow).where(DossierSequenceRow.agency == prefix))
            return sum(r.last for r in rows)

    return await db.run_sync(read)


async def exists(client: Client, code: str) -> bool:
    try:
        await client.get_workflow_handle(code).describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def test_twenty_concurrent_submits_with_one_key_start_one_case(
    api: httpx.AsyncClient, local_env: WorkflowEnvironment, samples: list[dict[str, Any]]
) -> None:
    mother = samples[2]
    pid = mother["mother_pid"]
    body = {
        "procedure_id": BIRTH,
        "dossier": {"birth_certificate_no": mother["certificate_no"], "child_name": "Phạm Gia Huy"},
    }
    headers = submit_headers(pid, str(uuid.uuid4()))
    answers = await asyncio.gather(
        *(api.post("/dossiers", json=body, headers=headers) for _ in range(20))
    )
    assert sorted(a.status_code for a in answers) == [200] * 19 + [201], [a.text for a in answers]
    codes = {a.json()["dossier_code"] for a in answers}
    assert len(codes) == 1
    (code,) = codes
    prefix = f"UBND-{mother['commune_code']}"
    assert await drawn(prefix) == 1  # one dossier number drawn: one start, one case
    assert await exists(local_env.client, code)
    assert [
        d["dossier_code"] for d in (await api.get("/dossiers", headers=citizen(pid))).json()
    ] == [code]


async def test_a_death_is_received_by_the_commune_of_the_deceased(
    api: httpx.AsyncClient, sandbox: str
) -> None:
    """The definition has no commune field: the agency comes from the deceased's address in
    the population register (the look-up its one-stop agency names), not the applicant's."""
    async with httpx.AsyncClient(base_url=sandbox, timeout=10) as registry:
        found = await registry.get("/_admin/samples", params={"kind": "death_notice_pending"})
        death = found.json()["death_notice_pending"][0]
        adults = await registry.get("/_admin/samples", params={"kind": "adult_with_household"})
        for pid in adults.json()["adult_with_household"]:
            person = (await registry.get(f"/population/citizens/{pid}")).json()
            if person["address"]["commune_code"] != death["commune_code"] and pid != death["pid"]:
                break
    body = {
        "procedure_id": "vn.death_registration",
        "dossier": {"relationship": "con", "deceased_pid": death["pid"],
                    "death_notice_no": death["notice_no"]},
    }  # fmt: skip
    answer = await api.post("/dossiers", json=body, headers=submit_headers(pid, "k-death"))
    assert answer.status_code == 201, answer.text
    assert answer.json()["dossier_code"].startswith(f"UBND-{death['commune_code']}-")
