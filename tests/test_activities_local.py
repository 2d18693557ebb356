"""The product's first real activities, run in-process: register, documents, notifications.

Each test gets its own data dir (so its own SQLite file and result store). The register
tests run on PostgreSQL too when one answers at 127.0.0.1:5432 (database `test`).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import unicodedata
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from motcua import db
from motcua.activities import documents, notifications, pdf, register
from motcua.activities.store import LocalResultStore, StoreError, get_store
from tests.helpers import BORN, DUE, ISSUED


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("MOTCUA_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    # These tests cover rendering and the outbox; delivery is test_notifications_delivery.py.
    monkeypatch.setenv("MOTCUA_NOTIFY_DELIVERY", "off")
    yield tmp_path
    db.dispose_engines()


@pytest.fixture
def backend(database: str) -> str:
    """Each test on SQLite and on a throwaway PostgreSQL database (tests/databases.py)."""
    return "sqlite" if database.startswith("sqlite") else "postgres"


def _key(step: str = "register") -> tuple[str, str]:
    code = f"T01-{uuid.uuid4().hex[:8]}"
    return code, f"{code}:{step}"


def _book() -> str:
    return f"khai_sinh_{uuid.uuid4().hex[:8]}"


# ---------------------------------------------------------------- register


async def test_register_write_is_idempotent(backend: str) -> None:
    env = ActivityEnvironment()
    book = _book()
    code, key = _key()
    entry = {"child_name": "Nguyễn Thị Mai", "birth_date": BORN.isoformat()}
    req = register.WriteInput(idempotency_key=key, dossier_code=code, book=book, entry=entry)

    first = await env.run(register.write, req)
    again = await env.run(register.write, req)

    assert first.entry_no == 1 and not first.replayed
    assert again.replayed
    assert again.model_dump(exclude={"replayed"}) == first.model_dump(exclude={"replayed"})
    rows = register.ledger(book)
    assert len(rows) == 1
    assert rows[0].entry == entry and rows[0].dossier_code == code

    other_code, other_key = _key()
    second = await env.run(
        register.write,
        register.WriteInput(
            idempotency_key=other_key,
            dossier_code=other_code,
            book=book,
            entry={"child_name": "Trần Văn Bình"},
        ),
    )
    assert second.entry_no == 2
    assert [r.entry_no for r in register.ledger(book)] == [1, 2]


async def test_register_same_key_different_entry_is_refused(backend: str) -> None:
    book = _book()
    code, key = _key()
    await register.write(
        register.WriteInput(idempotency_key=key, dossier_code=code, book=book, entry={"a": 1})
    )
    with pytest.raises(ApplicationError) as err:
        await register.write(
            register.WriteInput(idempotency_key=key, dossier_code=code, book=book, entry={"a": 2})
        )
    assert err.value.type == "IdempotencyConflict" and err.value.non_retryable
    assert len(register.ledger(book)) == 1


async def test_register_concurrent_writers_get_distinct_numbers(backend: str) -> None:
    book = _book()
    reqs = []
    for _ in range(8):
        code, key = _key()
        reqs.append(
            register.WriteInput(idempotency_key=key, dossier_code=code, book=book, entry={"n": key})
        )
    # Every request twice, all at once: 8 entries, numbered 1..8, no duplicates.
    results = await asyncio.gather(*(register.write(r) for r in reqs + reqs))
    assert sorted({r.entry_no for r in results}) == list(range(1, 9))
    assert [r.entry_no for r in register.ledger(book)] == list(range(1, 9))
    by_key: dict[str, int] = {}
    for r in results:
        assert by_key.setdefault(r.idempotency_key, r.entry_no) == r.entry_no


async def test_register_void_is_idempotent(backend: str) -> None:
    env = ActivityEnvironment()
    book = _book()
    code, key = _key()
    written = await env.run(
        register.write,
        register.WriteInput(idempotency_key=key, dossier_code=code, book=book, entry={"x": 1}),
    )
    void = register.VoidInput(
        idempotency_key=f"{key}:undo",
        dossier_code=code,
        book=book,
        of_key=key,
        reason="Hủy do hồ sơ liên thông bị từ chối",
    )
    first = await env.run(register.void, void)
    again = await env.run(register.void, void)
    assert not first.replayed and again.replayed
    assert first.entry_no == again.entry_no == written.entry_no
    assert first.voided_at == again.voided_at
    (row,) = register.ledger(book)
    assert row.voided and row.void_reason == "Hủy do hồ sơ liên thông bị từ chối"

    got = await env.run(register.get, register.GetInput(book=book, entry_no=written.entry_no))
    assert got.voided and got.entry == {"x": 1}


async def test_register_get_and_void_not_found(backend: str) -> None:
    env = ActivityEnvironment()
    book = _book()
    with pytest.raises(ApplicationError) as err:
        await env.run(register.get, register.GetInput(book=book, entry_no=42))
    assert err.value.type == "NotFound" and err.value.non_retryable
    assert "42" in str(err.value)
    with pytest.raises(ApplicationError) as err:
        await env.run(register.void, register.VoidInput(book=book, of_key="nope:x", reason="x"))
    assert err.value.type == "NotFound" and err.value.non_retryable


async def test_register_bad_input_is_not_retried() -> None:
    with pytest.raises(ApplicationError) as err:
        await register.write(register.WriteInput(idempotency_key="k", book="../etc", entry={}))
    assert err.value.non_retryable and err.value.type == "InvalidInput"
    with pytest.raises(ApplicationError) as err:
        await register.write(register.WriteInput(book="khai_sinh", entry={}))
    assert err.value.non_retryable


# ---------------------------------------------------------------- store


def test_store_is_content_addressed_and_atomic(data_dir: Path) -> None:
    store = get_store()
    ref = store.put(b"%PDF-1.7 hello", ".pdf")
    assert ref.endswith(".pdf") and store.exists(ref)
    assert store.put(b"%PDF-1.7 hello", ".pdf") == ref
    assert store.get(ref) == b"%PDF-1.7 hello"
    path = data_dir / "results" / ref[:2] / ref
    assert path.is_file()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp-")]
    path.write_bytes(b"tampered")
    with pytest.raises(StoreError, match="corrupted"):
        store.get(ref)
    with pytest.raises(StoreError):
        LocalResultStore(data_dir).get("../../etc/passwd")


# ---------------------------------------------------------------- documents

BIRTH = {
    "child_name": "Nguyễn Thị Mai",
    "birth_date": BORN.isoformat(),
    "sex": "female",
    "place_of_birth": "Bệnh viện Phụ sản Hà Nội, phường Đống Đa, thành phố Hà Nội",
    "child_pid": "001326012345",
    "mother_name": "Trần Thị Hoa",
    "father_name": "Nguyễn Văn Đức",
    "agency_name": "Ủy ban nhân dân phường Ba Đình",
    "place": "Hà Nội",
    "issued_on": ISSUED.date().isoformat(),
}


def _pdftotext(path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is missing: apt-get install poppler-utils")
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"],
        capture_output=True,
        check=True,
        text=True,
        encoding="utf-8",
    )
    return out.stdout


async def test_birth_certificate_pdf_has_exact_vietnamese(data_dir: Path) -> None:
    code, key = _key("certificate")
    # NFD input must come out NFC, as typed on a Vietnamese keyboard.
    data = dict(BIRTH, child_name=unicodedata.normalize("NFD", BIRTH["child_name"]))
    req = documents.DocumentRequest(
        idempotency_key=key,
        dossier_code=code,
        template="birth_certificate",
        sign_as="commune",
        title=None,
        data=data,
    )
    issued = await ActivityEnvironment().run(documents.issue, req)

    assert issued.signed is True and issued.sign_as == "commune"
    assert issued.title == "GIẤY KHAI SINH (BẢN TRÍCH LỤC)"
    pdf = get_store().get(issued.document_ref)
    assert pdf.startswith(b"%PDF-") and len(pdf) == issued.size
    text = _pdftotext(data_dir / "results" / issued.sha256[:2] / issued.document_ref)
    for expected in [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "GIẤY KHAI SINH (BẢN TRÍCH LỤC)",
        f"Mã hồ sơ: {code}",
        "Họ, chữ đệm, tên: Nguyễn Thị Mai",
        f"Ngày, tháng, năm sinh: {BORN:%d/%m/%Y}",
        "Giới tính: Nữ",
        "Bệnh viện Phụ sản Hà Nội",
        "Số định danh cá nhân: 001326012345",
        "Trần Thị Hoa",
        "Nguyễn Văn Đức",
        f"Hà Nội, ngày {ISSUED:%d} tháng {ISSUED:%m} năm {ISSUED:%Y}",
        f"Mã xác thực: {documents.display_code(issued.verification_code)}",
        f"/verify/{code}/{issued.verification_code.lower()}",
    ]:
        assert expected in text, expected
    assert "Bản điện tử chưa được ký số." not in text
    assert documents.find_issued(code, issued.verification_code) is not None


async def test_document_is_deterministic_and_stored_once(data_dir: Path) -> None:
    code, key = _key("notice")
    req = documents.DocumentRequest(
        idempotency_key=key,
        dossier_code=code,
        template="example_certificate",
        sign_as="commune",
        title=None,
        data={
            "procedure_title": "Đăng ký khai sinh",
            "result": "Đã cấp Giấy khai sinh",
            "fields": {"Số giấy khai sinh": "123/2026"},
            "issued_at": ISSUED.isoformat(),
        },
    )
    first = await documents.issue(req)
    again = await documents.issue(req)
    assert again.replayed and again.sha256 == first.sha256
    files = [p for p in (data_dir / "results").rglob("*") if p.is_file()]
    assert len(files) == 1

    # Rendering itself is deterministic, not only the replay: a fresh data dir, same bytes.
    other = data_dir / "other"
    other.mkdir()
    # The same agency key (a fresh data dir would make a new development CA).
    shutil.copytree(data_dir / "pki", other / "pki")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MOTCUA_DATA_DIR", str(other))
        fresh = await documents.issue(req)
    assert not fresh.replayed and fresh.sha256 == first.sha256

    text = _pdftotext(files[0])
    assert "THÔNG BÁO KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH" in text
    assert "Kết quả giải quyết: Đã cấp Giấy khai sinh" in text
    assert "Số giấy khai sinh: 123/2026" in text


async def test_document_unknown_template_and_missing_value() -> None:
    with pytest.raises(ApplicationError) as err:
        await documents.issue(
            documents.DocumentRequest(
                idempotency_key="T:x", dossier_code="T", template="no_such", sign_as="commune"
            )
        )
    assert err.value.non_retryable and err.value.type == "UnknownTemplate"
    assert "unknown document template 'no_such'" in str(err.value)
    assert "birth_certificate" in str(err.value)  # lists what exists

    data = {k: v for k, v in BIRTH.items() if k != "child_pid"}
    with pytest.raises(ApplicationError) as err:
        await documents.issue(
            documents.DocumentRequest(
                idempotency_key="T:y",
                dossier_code="T",
                template="birth_certificate",
                sign_as="commune",
                data=data,
            )
        )
    assert err.value.non_retryable and "child_pid" in str(err.value)
    assert "Nguyễn" not in str(err.value)


def test_missing_font_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MOTCUA_FONT_DIR", str(tmp_path))
    with pytest.raises(documents.FontMissingError, match="fonts-dejavu-core"):
        pdf.font_paths()


# ---------------------------------------------------------------- notifications

CITIZEN = {"full_name": "Trần Thị Hoa", "email": "hoa.tran@example.vn", "phone": "0912345678"}


async def test_notify_records_once_per_key() -> None:
    code, key = _key("tell_mother")
    req = notifications.NotifyInput(
        idempotency_key=key,
        dossier_code=code,
        to=CITIZEN,
        template="received",
        channels=["email", "sms"],
        data={"due_date": f"{DUE:%d/%m/%Y}"},
    )
    first = await ActivityEnvironment().run(notifications.send, req)
    again = await notifications.send(req)

    assert not first.replayed and again.replayed
    assert first.subject == f"Tiếp nhận hồ sơ {code}"
    assert [d.status for d in first.deliveries] == ["queued", "queued"]
    assert first.deliveries == again.deliveries
    rows = notifications.outbox(code)
    assert len(rows) == 2 and {r.channel for r in rows} == {"email", "sms"}
    email = next(r for r in rows if r.channel == "email")
    assert "Kính gửi Trần Thị Hoa" in email.body and code in email.body
    assert f"Ngày hẹn trả kết quả: {DUE:%d/%m/%Y}" in email.body
    assert first.deliveries[0].address == "h***@example.vn"


@pytest.mark.parametrize(
    ("template", "subject"),
    [
        ("received", "Tiếp nhận hồ sơ"),
        ("supplement_requested", "Yêu cầu bổ sung hồ sơ"),
        ("result_ready", "Có kết quả giải quyết hồ sơ"),
        ("rejected", "Từ chối giải quyết hồ sơ"),
        ("overdue_apology", "Thư xin lỗi và hẹn lại ngày trả kết quả hồ sơ"),
    ],
)
async def test_notification_templates_render(template: str, subject: str) -> None:
    code, key = _key(template)
    result = await notifications.send(
        notifications.NotifyInput(
            idempotency_key=key,
            dossier_code=code,
            to="0912345678",
            template=template,
            channels=["email", "sms"],
            data={},
        )
    )
    assert result.subject == f"{subject} {code}"
    by_channel = {d.channel: d.status for d in result.deliveries}
    assert by_channel == {"email": "no_address", "sms": "queued"}
    (sms,) = [r for r in notifications.outbox(code) if r.channel == "sms"]
    assert code in sms.body and unicodedata.is_normalized("NFC", sms.body)


async def test_notify_unknown_template_and_bad_input() -> None:
    with pytest.raises(ApplicationError) as err:
        await notifications.send(
            notifications.NotifyInput(
                idempotency_key="T:n",
                dossier_code="T",
                to=CITIZEN,
                template="nope",
                channels=["email"],
                data={},
            )
        )
    assert err.value.non_retryable and err.value.type == "UnknownTemplate"
    assert "unknown notification template 'nope'" in str(err.value)
    assert notifications.outbox("T") == []

    with pytest.raises(ApplicationError) as err:
        await notifications.send(
            notifications.NotifyInput(
                idempotency_key="T:n",
                dossier_code="T",
                to=CITIZEN,
                template="received",
                channels=["fax"],
                data={},
            )
        )
    assert err.value.non_retryable
    with pytest.raises(ApplicationError) as err:
        await notifications.send(
            notifications.NotifyInput(
                idempotency_key="T:n",
                dossier_code="T",
                to="Số 1 phố Huế",
                template="received",
                channels=["email"],
                data={},
            )
        )
    assert err.value.non_retryable and "phố Huế" not in str(err.value)
