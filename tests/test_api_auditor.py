"""Auditors over HTTP on one real birth registration, run on Temporal's dev server against
the sandbox and closed: its timeline masked without the personal-data permission and plain
with it, its replay, its evidence bundle (verified offline), the audit log each call leaves
and its chain; who may not; an unknown case. And the permission itself: in the token, from
`motcua token` and the development login."""

from __future__ import annotations

import time
import uuid
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import pytest_asyncio
from click.testing import CliRunner
from fastapi.testclient import TestClient
from temporalio.testing import WorkflowEnvironment

from motcua import db
from motcua.api.app import create_app
from motcua.api.identity import dev_private_key, issue_token
from motcua.audit import log
from motcua.audit.verify import verify_bundle
from motcua.cli.token import token
from motcua.workflows.contracts import CaseStatus, DecideInput
from motcua.workflows.dsl.compile import load_procedure
from motcua.workflows.procedure import ProcedureWorkflow
from tests.api_client import open_api
from tests.helpers import ROOT, new_worker, start_case, state_when
from tests.sandbox_server import sandbox_fixture
from tests.test_api_end_to_end import OFFICERS, mother_and_agencies

sandbox = sandbox_fixture()
BIRTH = ROOT / "procedure_defs/civil_status/birth_registration.yaml"
AUDITOR = "kt.nguyen.01"
CHILD = "Vũ Minh Khang"


@dataclass
class Case:
    code: str
    personal: set[str]  # the personal ids and names the case holds
    api: httpx.AsyncClient


@pytest_asyncio.fixture(scope="module")
async def case(
    local_env: WorkflowEnvironment, sandbox: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Case]:
    """A birth registration approved and closed, on this module's own data dir (database
    and audit log, documents, CA); the API on the same dev server."""
    client = local_env.client
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MOTCUA_DATA_DIR", str(tmp_path_factory.mktemp("auditor")))
        env.setenv("MOTCUA_SANDBOX_URL", sandbox)
        for name in ("POPULATION", "CIVIL_STATUS", "RESIDENCE", "SOCIAL_INSURANCE", "HEALTH"):
            env.delenv(f"MOTCUA_{name}_URL", raising=False)
        for name in ("DATABASE_URL", "MOTCUA_JWKS_URL", "MOTCUA_JWT_PUBLIC_KEY"):
            env.delenv(name, raising=False)
        env.delenv("MOTCUA_JWT_ISSUER", raising=False)
        mother, agencies = await mother_and_agencies(sandbox)
        async with httpx.AsyncClient(base_url=sandbox, timeout=10) as registry:
            person = (await registry.get(f"/population/citizens/{mother['mother_pid']}")).json()
        day = datetime.now(UTC) + timedelta(hours=7)
        code = f"{agencies['birth']}-{day:%y%m%d}-{uuid.uuid4().int % 10**8:08d}"
        dossier = {
            "mother_pid": mother["mother_pid"],
            "birth_certificate_no": mother["certificate_no"],
            "commune_code": mother["commune_code"],
            "child_name": CHILD,
        }
        _, actor, role = OFFICERS["birth"]
        async with new_worker(client) as worker:  # it finishes the case's archiving on exit
            handle = await start_case(client, worker, load_procedure(BIRTH), dossier, code=code)
            await state_when(
                handle,
                lambda s: any(t.step_id == "review" for t in s.open_tasks),
                timedelta(seconds=60),
            )
            decision = DecideInput(
                step_id="review", action="approve", role=role, agency=agencies["birth"],
                actor=actor, comment="Hồ sơ hợp lệ",
            )  # fmt: skip
            await handle.execute_update(ProcedureWorkflow.decide, decision)
            result = await handle.result()
        assert result.status == CaseStatus.completed, result.reason
        personal = {mother["mother_pid"], person["full_name"], CHILD, result.output["child_pid"]}
        async with open_api(client) as c:
            yield Case(code, personal, c)
    db.dispose_engines()


def bearer(sub: str, role: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(sub, role, **claims)}"}


def auditor(*permissions: str) -> dict[str, str]:
    return bearer(AUDITOR, "auditor", permissions=permissions)


def last_entry(code: str, action: str) -> log.AuditEntry:
    found = [e for e in log.entries(case=code) if e.action == action]
    assert found, f"no {action} entry for {code} in the audit log"
    return found[-1]


# ---------------------------------------------------------------- the timeline


async def test_timeline_without_the_permission_masks_personal_ids_and_names(case: Case) -> None:
    url = f"/audit/cases/{case.code}/timeline"
    as_json = await case.api.get(url, headers=auditor())
    assert as_json.status_code == 200, as_json.text
    body = as_json.json()
    assert (body["dossier_code"], body["status"], body["personal_data"]) == (
        case.code, "completed", False,
    )  # fmt: skip
    assert any(e["kind"] == "decision" for e in body["entries"])
    entry = last_entry(case.code, "timeline")
    assert (entry.actor, entry.role, entry.detail["personal_data"]) == (AUDITOR, "auditor", False)

    as_text = await case.api.get(url, params={"format": "text"}, headers=auditor())
    assert as_text.status_code == 200, as_text.text
    assert as_text.headers["content-type"].startswith("text/plain")
    assert case.code in as_text.text and "đã che (•••)" in as_text.text
    leaks = sorted(v for v in case.personal if v in as_json.text or v in as_text.text)
    assert not leaks, f"{len(leaks)} personal values shown unmasked"
    assert last_entry(case.code, "timeline").seq == entry.seq + 1


async def test_timeline_with_the_permission_shows_personal_data(case: Case) -> None:
    url = f"/audit/cases/{case.code}/timeline"
    as_json = await case.api.get(url, headers=auditor("personal_data"))
    assert as_json.status_code == 200, as_json.text
    assert as_json.json()["personal_data"] is True
    as_text = await case.api.get(url, params={"format": "text"}, headers=auditor("personal_data"))
    for value in case.personal:
        assert value in as_json.text and value in as_text.text
    entry = last_entry(case.code, "timeline")
    assert (entry.actor, entry.role, entry.detail["personal_data"]) == (AUDITOR, "auditor", True)


# ---------------------------------------------------------------- replay and evidence


async def test_replay_answers_deterministic(case: Case) -> None:
    reply = await case.api.post(f"/audit/cases/{case.code}/replay", headers=auditor())
    assert reply.status_code == 200, reply.text
    report = reply.json()
    assert (report["workflow_id"], report["source"], report["outcome"]) == (
        case.code, "temporal", "deterministic",
    )  # fmt: skip
    assert report["events"] > 20 and report["event_id"] is None
    entry = last_entry(case.code, "replay")
    assert (entry.actor, entry.role, entry.detail["outcome"]) == (
        AUDITOR, "auditor", "deterministic",
    )  # fmt: skip


async def test_evidence_downloads_a_bundle_that_verifies(case: Case, tmp_path: Path) -> None:
    reply = await case.api.get(f"/audit/cases/{case.code}/evidence", headers=auditor())
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/zip"
    assert reply.headers["content-disposition"] == (
        f'attachment; filename="{case.code}.evidence.zip"'
    )
    path = tmp_path / "case.zip"
    path.write_bytes(reply.content)
    report = await verify_bundle(path)
    assert report.ok, [c.model_dump() for c in report.problems]
    with zipfile.ZipFile(path) as z:
        timeline = z.read("timeline.json").decode() + z.read("timeline.txt").decode()
    assert not sorted(v for v in case.personal if v in timeline), "personal data in the bundle"
    entry = last_entry(case.code, "export")
    assert (entry.actor, entry.role, entry.detail["personal_data"]) == (AUDITOR, "auditor", False)


async def test_evidence_with_the_permission_shows_personal_data_in_its_timeline(
    case: Case, tmp_path: Path
) -> None:
    reply = await case.api.get(
        f"/audit/cases/{case.code}/evidence", headers=auditor("personal_data")
    )
    assert reply.status_code == 200, reply.text
    path = tmp_path / "case.zip"
    path.write_bytes(reply.content)
    with zipfile.ZipFile(path) as z:
        timeline = z.read("timeline.json").decode()
    assert all(v in timeline for v in case.personal)
    assert last_entry(case.code, "export").detail["personal_data"] is True


# ---------------------------------------------------------------- the audit log


async def test_the_audit_log_verifies_for_auditors_and_admins(case: Case) -> None:
    await case.api.post(f"/audit/cases/{case.code}/replay", headers=auditor())  # one entry
    for who in (auditor(), bearer("qt.01", "admin")):
        reply = await case.api.get("/audit/log/verify", headers=who)
        assert reply.status_code == 200, reply.text
        chain = reply.json()
        assert chain["ok"] is True and chain["first_broken"] is None, chain
        assert chain["entries"] >= 1 and chain["head_seq"] == chain["entries"]


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("role", "claims"),
    [
        ("citizen", {}),
        ("officer", {"agency": "UBND-00001", "officer_roles": ["civil_status_officer"]}),
        ("analyst", {}),
    ],
)
async def test_others_may_not(case: Case, role: str, claims: dict[str, Any]) -> None:
    # The mother herself as the citizen: her own case is still not hers to audit.
    sub = sorted(case.personal)[0] if role == "citizen" else f"{role}.01"
    before = len(log.entries(case=case.code, limit=10_000))
    headers = bearer(sub, role, permissions=["personal_data"], **claims)
    for method, url in [
        ("GET", f"/audit/cases/{case.code}/timeline"),
        ("POST", f"/audit/cases/{case.code}/replay"),
        ("GET", f"/audit/cases/{case.code}/evidence"),
        ("GET", "/audit/log/verify"),
    ]:
        reply = await case.api.request(method, url, headers=headers)
        assert reply.status_code == 403, (url, reply.text)
        assert reply.json() == {"detail": f"only auditor, admin may do this; your role is {role}"}
    assert len(log.entries(case=case.code, limit=10_000)) == before


async def test_an_unknown_case_is_404_in_vietnamese_and_english(case: Case) -> None:
    unknown = f"UBND-00001-000101-{uuid.uuid4().int % 10**8:08d}"
    for method, path in [("GET", "timeline"), ("POST", "replay"), ("GET", "evidence")]:
        reply = await case.api.request(method, f"/audit/cases/{unknown}/{path}", headers=auditor())
        assert reply.status_code == 404, reply.text
        assert reply.json() == {
            "detail": f"Không tìm thấy hồ sơ {unknown} trong Temporal hay trong kho lưu trữ; "
            f"hãy kiểm tra mã hồ sơ. (Neither Temporal nor the archive has case {unknown}; "
            "check the dossier code.)"
        }
    assert log.entries(case=unknown) == []
    for bad in ("-UBND", "UBND 1", "x" * 121):
        reply = await case.api.get(f"/audit/cases/{bad}/timeline", headers=auditor())
        assert reply.status_code == 422, (bad, reply.text)
        assert reply.json()["detail"][0]["loc"] == ["path", "code"]


# ---------------------------------------------------------------- the permission


def _signed(**claims: object) -> str:
    now = int(time.time())
    base = {"iss": "motcua-dev", "aud": "motcua", "sub": AUDITOR, "role": "auditor",
            "iat": now, "exp": now + 600}  # fmt: skip
    return jwt.encode(
        {**base, **claims}, dev_private_key(), algorithm="ES256", headers={"kid": "dev"}
    )


def test_the_permission_comes_from_the_token_claim() -> None:
    http = TestClient(create_app(connect_temporal=False))

    def me(credential: str) -> httpx.Response:
        return http.get("/auth/me", headers={"Authorization": f"Bearer {credential}"})

    assert me(_signed()).json()["permissions"] == []
    granted = me(_signed(permissions=["personal_data", "fly", "personal_data"]))
    assert granted.json()["permissions"] == ["personal_data"]  # unknown names ignored
    for wrong in ("personal_data", {"personal_data": True}, [1], None):
        refused = me(_signed(permissions=wrong))
        assert refused.status_code == 401, refused.text
        assert refused.json() == {
            "detail": "the token's permissions must be a list of names (e.g. personal_data)"
        }


def test_motcua_token_and_the_dev_login_grant_the_permission() -> None:
    http = TestClient(create_app(connect_temporal=False))
    issued = CliRunner().invoke(
        token, ["auditor", "--sub", AUDITOR, "--permission", "personal_data"]
    )
    assert issued.exit_code == 0, issued.output
    headers = {"Authorization": f"Bearer {issued.output.strip()}"}
    me = http.get("/auth/me", headers=headers).json()
    assert (me["role"], me["permissions"]) == ("auditor", ["personal_data"])
    wrong = CliRunner().invoke(token, ["auditor", "--sub", AUDITOR, "--permission", "all"])
    assert wrong.exit_code == 2 and "'all' is not 'personal_data'" in wrong.output

    body = {"sub": AUDITOR, "role": "auditor", "permissions": ["personal_data"]}
    login = http.post("/auth/dev-login", json=body)
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert http.get("/auth/me", headers=headers).json()["permissions"] == ["personal_data"]
    refused = http.post("/auth/dev-login", json={**body, "permissions": ["all"]})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == [
        "body", "permissions", 0,
    ]  # fmt: skip
