"""Issue 13's first test, end to end over HTTP with Temporal's dev server, a real worker and
the sandbox registries: a mother submits the birth bundle (birth registration, permanent
residence, the child's health insurance card) from the pre-filled form; officers of the
three agencies each find their task in their own inbox and decide it; the mother sees the
dossier completed and downloads three signed results that pass poppler's `pdfsig` and whose
printed verification URL answers GET /verify with a valid signature.

Every request goes through the real routers (httpx against the ASGI app); the officers'
agencies are derived from the registry, as the definitions route them (UBND-<commune>,
CA-<commune of the household>, BHXH-<province>), not read from the case.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from motcua import db, pki
from tests.api_client import open_api
from tests.helpers import eventually, new_worker
from tests.sandbox_server import sandbox_fixture

sandbox = sandbox_fixture(seed=42, citizens=2_000)
BUNDLE = "vn.bundle.birth_residence_insurance"
PUBLIC_URL = "https://dichvucong.example.vn"
_SLOW = timedelta(seconds=90)
# The three signed results, by template, with the title each is listed under.
RESULTS = {
    "birth_extract": "Trích lục khai sinh",
    "residence_result": "Thông báo kết quả giải quyết thủ tục về cư trú",
    "insurance_card": "Thẻ bảo hiểm y tế",
}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        package = "libnss3-tools" if name == "certutil" else "poppler-utils"
        pytest.skip(f"{name} is missing: `make sysdeps` or apt-get install {package}")
    return path


@pytest.fixture
def tools() -> dict[str, str]:
    """The independent checkers, before anything is started: skipped only when absent."""
    return {name: _tool(name) for name in ("pdfsig", "pdftotext", "certutil")}


@pytest_asyncio.fixture
async def worker(
    local_env: WorkflowEnvironment, sandbox: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Worker]:
    """A worker and the API on one fresh data dir (database, documents, CA, issuer)."""
    monkeypatch.setenv("MOTCUA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MOTCUA_SANDBOX_URL", sandbox)
    monkeypatch.setenv("MOTCUA_PUBLIC_URL", PUBLIC_URL)
    for name in ("POPULATION", "CIVIL_STATUS", "RESIDENCE", "SOCIAL_INSURANCE", "HEALTH"):
        monkeypatch.delenv(f"MOTCUA_{name}_URL", raising=False)
    for name in ("DATABASE_URL", "MOTCUA_JWKS_URL", "MOTCUA_JWT_PUBLIC_KEY", "MOTCUA_JWT_ISSUER"):
        monkeypatch.delenv(name, raising=False)
    async with new_worker(local_env.client) as running:
        monkeypatch.setenv("MOTCUA_TASK_QUEUE", running.task_queue)
        yield running
    db.dispose_engines()


@pytest_asyncio.fixture
async def api(local_env: WorkflowEnvironment, worker: Worker) -> AsyncIterator[httpx.AsyncClient]:
    async with open_api(local_env.client) as c:
        yield c


@pytest.fixture
def nssdb(tmp_path: Path, worker: Worker, tools: dict[str, str]) -> Iterator[Path]:
    """An NSS database trusting this run's development CA (the worker signs with it)."""
    _, ca_pem = pki.ensure_ca()
    folder = tmp_path / "nssdb"
    folder.mkdir()
    certutil = tools["certutil"]
    subprocess.run([certutil, "-N", "-d", f"sql:{folder}", "--empty-password"], check=True)
    subprocess.run(
        [certutil, "-A", "-d", f"sql:{folder}", "-n", "CA", "-t", "CT,C,C", "-a", "-i", ca_pem],
        check=True,
    )
    yield folder


async def login(api: httpx.AsyncClient, sub: str, role: str, **claims: Any) -> dict[str, str]:
    """Log in at the development login (the stand-in for VNeID and the agencies' identity
    provider) and check who the token says the caller is."""
    reply = await api.post("/auth/dev-login", json={"sub": sub, "role": role, **claims})
    assert reply.status_code == 200, reply.text
    headers = {"Authorization": f"Bearer {reply.json()['access_token']}"}
    me = (await api.get("/auth/me", headers=headers)).json()
    assert (me["sub"], me["role"], me["agency"]) == (sub, role, claims.get("agency")), me
    return headers


async def mother_and_agencies(sandbox: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A mother with a birth certificate and a household, and the three agencies the
    definitions route her bundle to, from the registry: the commune people's committee of
    her commune (birth), the commune police of her household's commune (residence: the
    child joins her household), social insurance of her province (the card)."""
    async with httpx.AsyncClient(base_url=sandbox, timeout=10) as registry:
        found = await registry.get(
            "/_admin/samples", params={"kind": "mother_with_birth_certificate"}
        )
        found.raise_for_status()
        for sample in found.json()["mother_with_birth_certificate"]:
            person = (await registry.get(f"/population/citizens/{sample['mother_pid']}")).json()
            if person.get("household_id"):
                break
        else:
            raise AssertionError("the sandbox has no mother with a household")
        household = await registry.get(f"/population/households/{person['household_id']}")
        household.raise_for_status()
    agencies = {
        "birth": f"UBND-{person['address']['commune_code']}",
        "residence": f"CA-{household.json()['address']['commune_code']}",
        "insurance": f"BHXH-{person['address']['province_code']}",
    }
    return sample, agencies


# Each member's procedure, and who decides its review (the task's role in its definition).
OFFICERS = {
    "birth": ("vn.birth_registration", "cb.tuphap.01", "civil_status_officer"),
    "residence": ("vn.permanent_residence", "ca.cutru.01", "police_officer"),
    "insurance": ("vn.child_health_insurance", "bhxh.the.01", "social_insurance_officer"),
}


async def inbox(
    api: httpx.AsyncClient, headers: dict[str, str], **params: str
) -> list[dict[str, Any]]:
    reply = await api.get("/inbox", headers=headers, params=params)
    assert reply.status_code == 200, reply.text
    tasks: list[dict[str, Any]] = reply.json()["tasks"]
    return tasks


async def decide_from_inbox(api: httpx.AsyncClient, code: str, member: str, agency: str) -> None:
    """The member's officer finds its review in the agency's inbox and approves it."""
    procedure, sub, role = OFFICERS[member]
    officer = await login(api, sub, "officer", agency=agency, officer_roles=[role])
    case = f"{code}.{member}"
    tasks = await eventually(
        lambda: inbox(api, officer), lambda ts: any(t["dossier_code"] == case for t in ts), _SLOW
    )
    # The member's task, once: neither the bundle itself nor another member's task.
    ours = [t for t in tasks if t["dossier_code"].partition(".")[0] == code]
    assert [(t["dossier_code"], t["step_id"]) for t in ours] == [(case, "review")], ours
    [task] = ours
    assert (task["agency"], task["role"], task["decide_as"]) == (agency, role, role)
    assert task["procedure_id"] == procedure
    assert task["waiting_for"] == "officer" and "approve" in task["actions"]
    by_procedure = await inbox(api, officer, procedure=procedure)
    assert case in {t["dossier_code"] for t in by_procedure}

    url = f"/cases/{case}/tasks/review/decide"
    decided = await api.post(
        url, headers=officer, json={"action": "approve", "comment": "Hồ sơ hợp lệ"}
    )
    assert decided.status_code == 200, decided.text
    assert (decided.json()["actor"], decided.json()["role"], decided.json()["agency"]) == (
        sub, role, agency,
    )  # fmt: skip


def printed_url(pdf: Path, pdftotext: str) -> str:
    """The verification URL as the document prints it ("Tra cứu: <url>", maybe wrapped)."""
    out = subprocess.run(
        [pdftotext, "-enc", "UTF-8", str(pdf), "-"], capture_output=True, check=True
    )
    text = out.stdout.decode("utf-8")
    found = re.search(r"Tra cứu:\s+(\S+(?:\n\S+)*)", text)
    assert found is not None, text
    return found.group(1).replace("\n", "")


def pdfsig(pdf: Path, nss: Path, exe: str) -> str:
    # pdfsig exits 0 for valid, untrusted and mismatching signatures alike: read its text.
    out = subprocess.run(
        [exe, "-nssdir", f"sql:{nss}", str(pdf)], capture_output=True, text=True, encoding="utf-8"
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.timeout(300)
async def test_a_mother_files_the_birth_bundle_three_agencies_decide_she_downloads_three_results(
    api: httpx.AsyncClient,
    sandbox: str,
    tmp_path: Path,
    tools: dict[str, str],
    nssdb: Path,
) -> None:
    mother, agencies = await mother_and_agencies(sandbox)
    pid = mother["mother_pid"]
    citizen = await login(api, pid, "citizen")

    # The catalogue offers the bundle with its three members.
    offered = {p["id"]: p for p in (await api.get("/procedures")).json()}
    assert offered[BUNDLE]["members"] == [
        "vn.birth_registration", "vn.permanent_residence", "vn.child_health_insurance",
    ]  # fmt: skip

    # The form, pre-filled for the logged-in mother; with the certificate's number typed,
    # the hospital's record fills the child's birth data too.
    reply = await api.get(
        f"/procedures/{BUNDLE}/form",
        params={"birth_certificate_no": mother["certificate_no"]},
        headers=citizen,
    )
    assert reply.status_code == 200, reply.text
    form = reply.json()
    fields = {f["name"]: f for f in form["fields"]}
    assert (fields["mother_pid"]["value"], fields["mother_pid"]["source"]) == (pid, "login")
    assert fields["commune_code"]["value"] == mother["commune_code"]
    assert fields["commune_code"]["source"] == "registry"
    for name in ("mother_name", "child_birth_date", "child_sex", "place_of_birth"):
        assert fields[name]["prefilled"] and fields[name]["value"], name
    assert {x["id"]: x["status"] for x in form["lookups"]} == {
        "mother": "done", "birth_cert": "done",
    }  # fmt: skip
    assert {"child_name", "primary_care_facility"} <= set(form["to_type"])
    assert not {"mother_pid", "commune_code", "child_birth_date"} & set(form["to_type"])

    # She types what is left to type (the required fields) and submits once per key.
    typed = {
        "birth_certificate_no": mother["certificate_no"],
        "child_name": "Nguyễn Minh Khôi",
        "primary_care_facility": "Trạm Y tế xã",
        "head_consent": True,
    }
    required_left = {f["name"] for f in form["fields"] if f["required"] and f["value"] is None}
    assert required_left <= set(typed), required_left - set(typed)
    body = {"procedure_id": BUNDLE, "dossier": typed}
    submit = {**citizen, "Idempotency-Key": str(uuid.uuid4())}
    first = await api.post("/dossiers", json=body, headers=submit)
    assert first.status_code == 201, first.text
    code = first.json()["dossier_code"]
    assert code.startswith(f"{agencies['birth']}-"), code  # received by her commune
    again = await api.post("/dossiers", json=body, headers=submit)
    assert again.status_code == 200 and again.json() == {
        "dossier_code": code, "procedure_id": BUNDLE, "repeated": True,
    }  # fmt: skip

    async def view() -> dict[str, Any]:
        reply = await api.get(f"/dossiers/{code}", headers=citizen)
        assert reply.status_code == 200, reply.text
        found: dict[str, Any] = reply.json()
        return found

    # She sees whom it waits for: the birth member's review at her commune.
    waiting = await eventually(view, lambda d: bool(d["open_tasks"]), _SLOW)
    assert [(t["dossier_code"], t["step_id"], t["agency"]) for t in waiting["open_tasks"]] == [
        (f"{code}.birth", "review", agencies["birth"])
    ]

    # The officers of the three agencies, each from their own inbox: the birth first (the
    # child's personal id feeds the other two), then residence and insurance in parallel.
    for member in OFFICERS:
        await decide_from_inbox(api, code, member, agencies[member])

    # The mother sees the dossier completed, every part of it.
    done = await eventually(view, lambda d: d["status"] == "completed", _SLOW)
    assert {m["step_id"]: m["status"] for m in done["members"]} == {
        "birth": "completed", "residence": "completed", "insurance": "completed",
    }  # fmt: skip
    result = done["result"]
    assert (result["birth_status"], result["residence_status"], result["insurance_status"]) == (
        "completed", "completed", "completed",
    )  # fmt: skip
    assert re.fullmatch(r"\d{12}", result["child_pid"]) and result["residence_no"]
    assert re.fullmatch(r"TE1\d{12}", result["card_no"]), result["card_no"]
    assert done["open_tasks"] == []
    [mine] = (await api.get("/dossiers", headers=citizen)).json()
    assert (mine["dossier_code"], mine["status"]) == (code, "completed")
    # A moment with its zone, like every other the API answers (SQLite reads back naive).
    assert datetime.fromisoformat(mine["submitted_at"]).utcoffset() == timedelta(0), mine

    # Three signed results, each downloaded, checked by pdfsig and verified publicly.
    listed = await api.get(f"/dossiers/{code}/documents", headers=citizen)
    assert listed.status_code == 200, listed.text
    documents = {d["template"]: d for d in listed.json()}
    assert set(RESULTS) <= set(documents), sorted(documents)
    for template, title in RESULTS.items():
        doc = documents[template]
        assert doc["title"] == title and doc["signed"], doc
        member = {"birth_extract": "birth", "residence_result": "residence"}.get(
            template, "insurance"
        )
        assert doc["dossier_code"] == f"{code}.{member}"

        pdf = await api.get(f"/dossiers/{code}/documents/{doc['document_ref']}", headers=citizen)
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert hashlib.sha256(pdf.content).hexdigest() == doc["sha256"]
        path = tmp_path / f"{template}.pdf"
        path.write_bytes(pdf.content)

        report = pdfsig(path, nssdb, tools["pdfsig"])
        assert "Signature is Valid." in report, (template, report)
        assert "Certificate is Trusted." in report, (template, report)
        assert "Total document signed" in report, (template, report)

        url = printed_url(path, tools["pdftotext"])
        assert url == doc["verification_url"], (url, doc["verification_url"])
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == PUBLIC_URL
        checked = await api.get(parts.path)  # no token: public
        assert checked.status_code == 200, (template, checked.text)
        answer = checked.json()
        assert answer["dossier_code"] == doc["dossier_code"] and answer["title"] == title
        assert answer["sha256"] == doc["sha256"]
        assert answer["signature"]["status"] == "valid", answer
        assert pid not in checked.text and result["child_pid"] not in checked.text
