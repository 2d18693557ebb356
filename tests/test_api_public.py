"""Public verification: the URL printed on every document answers without login.

Documents are issued by the real `documents.issue` activity (PDF, PAdES signature with the
test's own development CA), and by a real case of the example procedure on the
time-skipping server; the URL is read from the PDF's own text with pdftotext.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from motcua import db
from motcua.activities import documents
from motcua.activities.store import get_store
from motcua.api.app import create_app
from motcua.api.routers import verify
from tests.demo_case import run_every_step
from tests.helpers import BORN, ISSUED, new_worker

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
    "issued_at": ISSUED.isoformat(),
    "signer_title": "CHỦ TỊCH",
    "signer_name": "Lê Thị Hương",
}
PERSONAL = ["Nguyễn Thị Mai", "001326012345", "Trần Thị Hoa", "Nguyễn Văn Đức", "Lê Thị Hương"]
NOT_FOUND_VI = "Không tìm thấy văn bản"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("MOTCUA_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("MOTCUA_PUBLIC_URL", "https://dichvucong.example.vn")
    yield tmp_path
    db.dispose_engines()


@pytest.fixture
def client(data_dir: Path) -> TestClient:
    return TestClient(create_app(connect_temporal=False))


def _pdftotext(pdf: bytes, folder: Path) -> str:
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("pdftotext is missing: apt-get install poppler-utils")
    path = folder / f"{uuid.uuid4().hex}.pdf"
    path.write_bytes(pdf)
    out = subprocess.run([exe, "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True)
    return out.stdout.decode("utf-8")


def printed_path(pdf: bytes, folder: Path) -> str:
    """The path of the verification URL as the document prints it ("Tra cứu: <url>")."""
    text = _pdftotext(pdf, folder)
    # The URL runs to the end of its paragraph; a long one wraps onto the next line.
    found = re.search(r"Tra cứu:\s+(\S+(?:\n\S+)*)", text)
    assert found is not None, text
    url = urlsplit(found.group(1).replace("\n", ""))
    assert f"{url.scheme}://{url.netloc}" == documents.public_url()
    return url.path


async def issue(data: dict[str, object], **kwargs: object) -> documents.IssuedDocument:
    code = f"UBND-00070-260305-{uuid.uuid4().hex[:4]}"
    req = documents.DocumentRequest(
        idempotency_key=f"{code}:certificate",
        dossier_code=code,
        template="birth_certificate",
        sign_as="commune",
        data=data,
        **kwargs,  # type: ignore[arg-type]
    )
    return await ActivityEnvironment().run(documents.issue, req)


def dossier_of(path: str) -> str:
    return path.split("/")[2]


async def test_the_printed_url_verifies_a_signed_document(
    client: TestClient, data_dir: Path
) -> None:
    issued = await issue(dict(BIRTH))
    pdf = get_store().get(issued.document_ref)
    path = printed_path(pdf, data_dir)
    dossier = dossier_of(path)

    reply = client.get(path)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {
        "dossier_code": dossier,
        "verification_code": documents.display_code(issued.verification_code),
        "title": "GIẤY KHAI SINH (BẢN TRÍCH LỤC)",
        "agency": {"code": "commune", "name": "Ủy ban nhân dân cấp xã"},
        "issued_at": ISSUED.isoformat(),
        "sha256": hashlib.sha256(pdf).hexdigest(),
        "size": len(pdf),
        "signature": {
            "status": "valid",
            "label": "Chữ ký số hợp lệ",
            "signer": "Ủy ban nhân dân cấp xã",
            "signed_at": ISSUED.isoformat(),
        },
    }
    assert not any(value in reply.text for value in PERSONAL)

    # The code as printed on the paper (upper case, dashes) finds it too; so does the hash.
    printed = documents.display_code(issued.verification_code)
    assert client.get(f"/verify/{dossier}/{printed}").status_code == 200
    sha = hashlib.sha256(pdf).hexdigest()
    assert client.get(path, params={"sha256": sha}).json()["signature"]["status"] == "valid"

    page = client.get(path, headers={"Accept": BROWSER})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    signed = f"{ISSUED:%H:%M} ngày {ISSUED:%d/%m/%Y}"
    for shown in ["Chữ ký số hợp lệ", "Ủy ban nhân dân cấp xã", dossier, printed, sha, signed]:
        assert shown in page.text, shown
    assert "GIẤY KHAI SINH (BẢN TRÍCH LỤC)" in page.text
    assert not any(value in page.text for value in PERSONAL)


async def test_a_wrong_code_dossier_or_hash_is_not_found(client: TestClient) -> None:
    issued = await issue(dict(BIRTH))
    path = urlsplit(issued.verification_url).path
    dossier, code = path.split("/")[2:]
    other = ("0" if code[0] != "0" else "1") + code[1:]
    sha = issued.sha256
    wrong_sha = ("0" if sha[0] != "0" else "1") + sha[1:]
    for url, params in [
        (f"/verify/{dossier}/{other}", {}),
        (f"/verify/{dossier}X/{code}", {}),
        (f"/verify/{dossier}/not-a-code", {}),
        (path, {"sha256": wrong_sha}),
        (path, {"sha256": "xyz"}),
    ]:
        reply = client.get(url, params=params)
        assert reply.status_code == 404, (url, params)
        assert reply.json() == {"detail": verify.NOT_FOUND}
    assert verify.NOT_FOUND.startswith(NOT_FOUND_VI) and "No document" in verify.NOT_FOUND
    page = client.get(f"/verify/{dossier}/{other}", headers={"Accept": BROWSER})
    assert page.status_code == 404 and NOT_FOUND_VI in page.text


async def test_an_unsigned_or_damaged_file_says_so(client: TestClient, data_dir: Path) -> None:
    declined = documents.issue_sync(
        documents.DocumentRequest(
            idempotency_key="UBND-00070-260305-0001:certificate",
            dossier_code="UBND-00070-260305-0001",
            template="birth_certificate",
            sign_as="commune",
            data=dict(BIRTH),
        ),
        signer=lambda pdf, sign_as, **_: (pdf, False),
    )
    body = client.get(urlsplit(declined.verification_url).path).json()
    assert body["signature"] == {
        "status": "unsigned", "label": "Văn bản không có chữ ký số", "signer": None,
        "signed_at": None,
    }  # fmt: skip

    issued = await issue(dict(BIRTH))
    path = urlsplit(issued.verification_url).path
    assert client.get(path).json()["signature"]["status"] == "valid"
    stored = data_dir / "results" / issued.sha256[:2] / issued.document_ref
    damaged = bytearray(stored.read_bytes())
    damaged[len(damaged) // 3] ^= 0x01
    stored.write_bytes(bytes(damaged))
    signature = client.get(path).json()["signature"]
    assert signature["status"] == "unavailable" and signature["signer"] is None

    # The same bytes, judged as a file in hand: the signature no longer holds.
    assert verify.judge(bytes(damaged)).status == "invalid"


async def test_a_real_case_prints_a_url_that_verifies(
    ts_env: WorkflowEnvironment, data_dir: Path
) -> None:
    code = f"UBND-00001-261123-{uuid.uuid4().hex[:6]}"
    async with new_worker(ts_env.client) as worker:
        result, _ = await run_every_step(ts_env.client, worker, code)
    pdf = get_store().get(f"{result.output['certificate_sha256']}.pdf")
    path = printed_path(pdf, data_dir)
    assert dossier_of(path) == code
    app = create_app(connect_temporal=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as http:
        reply = await http.get(path)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["dossier_code"] == code
    assert body["sha256"] == result.output["certificate_sha256"]
    assert body["signature"]["status"] == "valid"
    assert body["agency"]["code"] == "commune"


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("", False),
        ("*/*", False),  # curl: JSON
        ("application/json", False),
        (BROWSER, True),
        ("text/html", True),
        ("text/*", True),
        ("application/json, text/html;q=0.5", False),
        ("text/html;q=0.5, */*;q=0.9", False),
    ],
)
def test_json_unless_the_client_prefers_html(accept: str, html: bool) -> None:
    assert verify.wants_html(accept) is html
