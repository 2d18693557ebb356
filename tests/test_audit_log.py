"""The hash-chained audit log (issue 14, point 5), on SQLite and PostgreSQL: entries chain
as specified, concurrent appenders keep one chain, and a changed detail, a deleted entry
and a changed prev_hash are each found by `verify()` and `motcua audit verify`, naming the
first broken entry. Over HTTP, on the dev server with a real worker: an officer's decision
and a citizen's download each leave an entry, and neither holds personal data."""

from __future__ import annotations

import asyncio
import getpass
import hashlib
import json
import threading
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from click.testing import CliRunner
from sqlalchemy import text
from temporalio.testing import WorkflowEnvironment

from motcua import db
from motcua.activities.documents import IssuedDocumentRow
from motcua.activities.store import get_store
from motcua.api.identity import case_trust, issue_token
from motcua.api.submissions import Submission
from motcua.audit.keyed import pseudonym
from motcua.audit.log import GENESIS, AuditEntry, entries, record, verify
from motcua.cli import main
from motcua.workflows.contracts import CaseStatus
from tests.api_client import open_api
from tests.helpers import compiled, new_worker, start_case, state_when

PID = "001203000123"
CODE = "UBND-00070-261123-0001"


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data dir of the test's own: its pseudonym key, documents and development issuer."""
    monkeypatch.setenv("MOTCUA_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def expected_hash(e: AuditEntry) -> str:
    """The specified hash, computed apart from the module: SHA-256 of the canonical JSON of
    every field but the hash, the detail as its canonical JSON text."""
    fields = {
        "seq": e.seq, "at": e.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": e.actor, "role": e.role, "action": e.action, "case_code": e.case_code,
        "detail": json.dumps(e.detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
        "prev_hash": e.prev_hash,
    }  # fmt: skip
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def six() -> list[AuditEntry]:
    return [
        record("decide", actor=f"cb.{i}", role="officer", case=CODE, detail={"step": f"s{i}"})
        for i in range(1, 7)
    ]


def execute(sql: str) -> None:
    with db.get_engine().begin() as conn:
        conn.execute(text(sql))


def cli_verify() -> tuple[int, str]:
    result = CliRunner().invoke(main, ["audit", "verify"])
    return result.exit_code, result.output


# ---------------------------------------------------------------- the chain


def test_entries_chain_from_64_zeros(database: str) -> None:
    first = record("publish", actor="cv.01", role="analyst", detail={"version": 2})
    second = record(
        "download", actor=PID, role="citizen", case=CODE, detail={"document_ref": "ab" * 32}
    )
    third = record("decide", actor="cb.01", role="officer", case=f"{CODE}.birth")
    assert [e.seq for e in (first, second, third)] == [1, 2, 3]
    assert first.prev_hash == GENESIS == "0" * 64
    assert (second.prev_hash, third.prev_hash) == (first.hash, second.hash)
    assert all(e.hash == expected_hash(e) for e in (first, second, third))
    assert (first.case_code, third.detail) == (None, {})
    # A citizen is a pseudonym, the same one each time; the personal id is nowhere.
    assert second.actor == pseudonym(PID) != PID and second.actor.startswith("ps-")
    assert first.actor == "cv.01"
    with db.get_engine().connect() as conn:
        stored = conn.execute(text("SELECT * FROM audit_log")).all()
    assert len(stored) == 3 and PID not in str(stored)
    assert entries() == [first, second, third]
    assert entries(case=CODE) == [second, third]  # the case and its members
    assert entries(case=CODE, limit=1) == [third]
    report = verify()
    assert (report.ok, report.entries, report.first_broken, report.problems) == (True, 3, None, [])
    assert (report.head_seq, report.head_hash) == (3, third.hash)


def test_concurrent_appenders_keep_one_chain(database: str) -> None:
    threads, each = 8, 25
    start = threading.Barrier(threads)
    failures: list[BaseException] = []

    def append(t: int) -> None:
        try:
            start.wait()
            for i in range(each):
                record("view", actor=f"cb.{t}", role="officer", case=CODE, detail={"i": i})
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            failures.append(e)

    workers = [threading.Thread(target=append, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert failures == []
    found = entries(limit=10_000)
    assert [e.seq for e in found] == list(range(1, threads * each + 1))
    assert sorted((e.actor, e.detail["i"]) for e in found) == sorted(
        (f"cb.{t}", i) for t in range(threads) for i in range(each)
    )
    assert all(b.prev_hash == a.hash for a, b in zip(found, found[1:], strict=False))
    assert verify().ok


# ---------------------------------------------------------------- tampering


def test_a_changed_detail_is_found(database: str) -> None:
    six()
    execute("""UPDATE audit_log SET detail = '{"step":"other"}' WHERE seq = 3""")
    report = verify()
    assert (report.ok, report.entries, report.first_broken) == (False, 6, 3)
    assert report.problems == ["entry 3: its hash does not match its contents"]
    code, output = cli_verify()
    assert code == 1
    assert "error: the audit log is broken at entry 3\n" in output
    assert "  entry 3: its hash does not match its contents\n" in output


def test_a_changed_entry_with_its_hash_recomputed_breaks_the_next_link(database: str) -> None:
    written = six()
    forged = written[2].model_copy(update={"detail": {"step": "other"}})
    forged_hash = expected_hash(forged)
    execute(
        f"""UPDATE audit_log SET detail = '{{"step":"other"}}', hash = '{forged_hash}'
        WHERE seq = 3"""
    )
    report = verify()
    assert report.first_broken == 4
    assert report.problems == ["entry 4: prev_hash is not the hash of entry 3"]


def test_a_deleted_entry_is_found(database: str) -> None:
    six()
    execute("DELETE FROM audit_log WHERE seq = 4")
    report = verify()
    assert (report.ok, report.entries, report.first_broken) == (False, 5, 4)
    assert report.problems == ["entry 4 is missing"]
    code, output = cli_verify()
    assert code == 1 and "broken at entry 4\n" in output and "entry 4 is missing" in output
    execute("DELETE FROM audit_log WHERE seq IN (1, 2)")
    assert verify().problems == ["entries 1-2 are missing", "entry 4 is missing"]


def test_a_changed_prev_hash_is_found(database: str) -> None:
    six()
    execute(f"UPDATE audit_log SET prev_hash = '{'f' * 64}' WHERE seq = 5")
    report = verify()
    assert report.first_broken == 5
    assert report.problems == [
        "entry 5: prev_hash is not the hash of entry 4",
        "entry 5: its hash does not match its contents",  # prev_hash is part of it
    ]
    code, output = cli_verify()
    assert code == 1 and "broken at entry 5\n" in output
    assert "entry 5: prev_hash is not the hash of entry 4" in output


def test_audit_verify_and_show_from_the_terminal(database: str) -> None:
    assert cli_verify() == (0, "audit log intact: it has no entries yet\n")
    written = six()
    record("decide", actor="cb.9", role="officer", case="UBND-00001-261123-0002")
    code, output = cli_verify()
    assert code == 0
    assert output == f"audit log intact: 7 entries\n  head: entry 7, hash {verify().head_hash}\n"
    shown = CliRunner().invoke(main, ["audit", "show", "--case", CODE, "--limit", "2"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert len(lines) == 2
    assert lines[1] == (
        f"     6  {written[5].at:%Y-%m-%dT%H:%M:%SZ}  officer:cb.6  decide  {CODE}  step=s6"
    )
    none = CliRunner().invoke(main, ["audit", "show", "--case", "UBND-X-261123-0001"])
    assert none.output == "no audit entries for case UBND-X-261123-0001\n"


# ---------------------------------------------------------------- over HTTP

REVIEW = """
steps:
  - id: review
    task:
      role: officer
      agency: {agency}
      actions: [approve, reject]
"""


@pytest_asyncio.fixture
async def api(local_env: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    async with open_api(local_env.client) as c:
        yield c


@pytest.mark.timeout(120)
async def test_an_officers_decision_leaves_an_entry(
    local_env: WorkflowEnvironment, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)  # the data dir's own SQLite file
    agency = f"UBND-T{uuid.uuid4().hex[:6].upper()}"
    code = f"{agency}-261123-000001"
    token = issue_token("cb.hotich.07", "officer", agency=agency, officer_roles=["officer"])
    async with new_worker(local_env.client) as worker:
        procedure = compiled("audit", REVIEW.format(agency=agency))
        handle = await start_case(
            local_env.client, worker, procedure, {"pid": PID}, code=code, trust=case_trust()
        )
        await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        url = f"/cases/{code}/tasks/review/decide"
        headers = {"Authorization": f"Bearer {token}"}
        refused = await api.post(url, headers=headers, json={"action": "publish"})
        assert refused.status_code == 422
        assert entries(case=code) == []  # a refused decision changed nothing
        comment = f"Đã đối chiếu với hồ sơ của {PID}"
        done = await api.post(url, headers=headers, json={"action": "approve", "comment": comment})
        assert done.status_code == 200, done.text
        await handle.result()
    [entry] = entries(case=code)
    assert (entry.action, entry.actor, entry.role) == ("decide", "cb.hotich.07", "officer")
    assert entry.detail["step"] == "review" and entry.detail["action"] == "approve"
    assert entry.detail["comment"]["chars"] == len(comment)
    assert comment not in str(entry) and PID not in str(entry)
    assert verify().ok


@pytest.mark.timeout(120)
async def test_a_decision_and_a_view_from_the_terminal_leave_entries(
    local_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    agency = f"UBND-T{uuid.uuid4().hex[:6].upper()}"
    code = f"{agency}-261123-000002"
    env = {"TEMPORAL_ADDRESS": local_env.client.service_client.config.target_host}

    def cli(*args: str) -> tuple[int, str]:
        result = CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)
        return result.exit_code, result.output

    async with new_worker(local_env.client) as worker:
        procedure = compiled("audit", REVIEW.format(agency=agency))
        handle = await start_case(
            local_env.client, worker, procedure, {"pid": PID}, code=code, trust=case_trust()
        )
        await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        decide = ("decide", code, "review", "approve", "--role", "officer", "--agency", agency)
        status, output = await asyncio.to_thread(cli, *decide, "--actor", "cb.07")
        assert status == 0, output
        await handle.result()
        status, output = await asyncio.to_thread(cli, "show", code)  # a closed case: replayed
        assert status == 0, output
    decided, viewed = entries(case=code)
    assert (decided.action, decided.role, decided.actor) == ("decide", "cli", getpass.getuser())
    assert decided.detail == {
        "step": "review", "action": "approve", "account": "cb.07", "as_role": "officer",
        "agency": agency, "comment": {"chars": 0}, "form_fields": [], "missing": 0,
    }  # fmt: skip
    assert (viewed.action, viewed.role, viewed.detail) == ("view", "cli", {"format": "text"})


async def test_a_citizens_download_leaves_an_entry(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    code = f"UBND-00070-261123-{uuid.uuid4().int % 10**6:06d}"
    ref = get_store().put(b"%PDF-1.7 a receipt", ".pdf")
    now = datetime.now(UTC)
    with db.session() as s:
        s.add(Submission(
            owner=PID, idempotency_key=str(uuid.uuid4()), request_mac="0" * 64,
            procedure_id="vn.birth_registration", dossier_code=code, claimed_at=now,
            submitted_at=now,
        ))  # fmt: skip
        s.add(IssuedDocumentRow(
            idempotency_key=f"{code}:receipt", dossier_code=code, verification_code="ABC123",
            document_ref=ref, sha256=ref[:64], size=18, title="Giấy tiếp nhận hồ sơ",
            template="receipt", sign_as="UBND-00070", signed=True,
            verification_url="http://localhost:8000/verify", issued_at=now,
        ))  # fmt: skip
        s.commit()
    citizen = {"Authorization": f"Bearer {issue_token(PID, 'citizen')}"}
    stranger = {"Authorization": f"Bearer {issue_token('001203000999', 'citizen')}"}
    url = f"/dossiers/{code}/documents/{ref}"
    assert (await api.get(url, headers=stranger)).status_code == 404
    assert entries(case=code) == []
    got = await api.get(url, headers=citizen)
    assert got.status_code == 200 and got.content == b"%PDF-1.7 a receipt"
    [entry] = entries(case=code)
    assert (entry.action, entry.role) == ("download", "citizen")
    assert entry.detail == {"document_ref": ref}
    assert entry.actor == pseudonym(PID) and PID not in str(entry)
