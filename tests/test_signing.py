"""PAdES signing of issued documents: the development CA, pyHanko and poppler's pdfsig.

Every test gets its own data dir, hence its own CA and agency keys. pdfsig is the
independent verifier: it trusts the test's CA through an NSS database made with certutil.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.pdf_utils.reader import PdfFileReader
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from motcua import db, pki
from motcua.activities import documents, signing
from motcua.activities.store import get_store
from motcua.cli.pki import pki as pki_command
from tests.helpers import BORN, ISSUED

VN = timezone(timedelta(hours=7))
ISSUED_AT = ISSUED.isoformat()
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
    "issued_at": ISSUED_AT,
    "signer_title": "CHỦ TỊCH",
    "signer_name": "Lê Thị Hương",
}


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("MOTCUA_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    yield tmp_path
    db.dispose_engines()


def _request(data: dict[str, object], sign_as: str = "commune") -> documents.DocumentRequest:
    code = f"T01-{uuid.uuid4().hex[:8]}"
    return documents.DocumentRequest(
        idempotency_key=f"{code}:certificate",
        dossier_code=code,
        template="birth_certificate",
        sign_as=sign_as,
        title=None,
        data=data,
    )


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is missing: apt-get install {package}")
    return path


def _pdftotext(pdf: Path) -> str:
    exe = _tool("pdftotext", "poppler-utils")
    out = subprocess.run(
        [exe, "-enc", "UTF-8", str(pdf), "-"],
        capture_output=True,
        check=True,
        text=True,
        encoding="utf-8",
    )
    return out.stdout


@pytest.fixture
def nssdb(tmp_path: Path) -> Path:
    """An NSS database that trusts this test's development CA (for pdfsig)."""
    certutil = _tool("certutil", "libnss3-tools")
    _, ca_pem = pki.ensure_ca()
    folder = tmp_path / "nssdb"
    folder.mkdir()
    subprocess.run(
        [certutil, "-N", "-d", f"sql:{folder}", "--empty-password"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [certutil, "-A", "-d", f"sql:{folder}", "-n", "CA", "-t", "CT,C,C", "-a", "-i", ca_pem],
        check=True,
        capture_output=True,
    )
    return folder


def _pdfsig(pdf: Path, nss: Path) -> str:
    exe = _tool("pdfsig", "poppler-utils")
    # pdfsig exits 0 for valid, untrusted and mismatching signatures alike: read its text.
    out = subprocess.run(
        [exe, "-nssdir", f"sql:{nss}", str(pdf)],
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def _store_path(data_dir: Path, issued: documents.IssuedDocument) -> Path:
    return data_dir / "results" / issued.sha256[:2] / issued.document_ref


# ---------------------------------------------------------------- the development CA


def test_dev_ca_and_agency_certificates(data_dir: Path) -> None:
    key_path, cert_path = pki.ensure_agency("commune")
    ca_key, ca_pem = pki.ca_paths()
    assert cert_path == data_dir / "pki" / "agencies" / "commune.pem"
    assert key_path == data_dir / "pki" / "agencies" / "commune.key.pem"
    for path in (key_path, ca_key):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ca_pem.is_file()

    cert = pki.load_cert(cert_path)
    ca = pki.load_cert(ca_pem)
    assert cert.issuer == ca.subject
    org = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert org == cn == "Ủy ban nhân dân cấp xã"
    # UTF8String (tag 0x0C) with the UTF-8 bytes of the name.
    raw = org.encode("utf-8")
    assert bytes([0x0C, len(raw)]) + raw in cert.tbs_certificate_bytes

    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    assert not usage.key_cert_sign
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert pki.ID_KP_DOCUMENT_SIGNING in eku
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    years = (cert.not_valid_after_utc - cert.not_valid_before_utc).days / 365
    assert 2 < years < 5
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    # Known agencies get their Vietnamese name, unknown ones a generic one.
    assert pki.organisation_name("social_insurance") == "Bảo hiểm xã hội Việt Nam"
    assert pki.organisation_name("health") == "Cơ sở khám bệnh, chữa bệnh"
    _, other = pki.ensure_agency("tax_office")
    other_org = pki.load_cert(other).subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert other_org[0].value == pki.GENERIC_AGENCY

    # Second call: the same files, untouched; the CA is not remade.
    before = (cert_path.read_bytes(), ca_pem.read_bytes())
    assert pki.ensure_agency("commune") == (key_path, cert_path)
    assert (cert_path.read_bytes(), ca_pem.read_bytes()) == before

    with pytest.raises(pki.PkiError):
        pki.ensure_agency("../etc")


ENSURE = (
    "import sys, time\n"
    "from motcua import pki\n"
    "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
    "pki.ensure_agency(sys.argv[1])\n"
    "print(pki.ca_paths()[1].read_text() + '|' + pki.agency_paths(sys.argv[1])[1].read_text())\n"
)


def test_concurrent_processes_make_one_ca(data_dir: Path) -> None:
    # Six processes, started together (same wall-clock instant), two agencies.
    at = str(time.time() + 1.5)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ENSURE, name, at], stdout=subprocess.PIPE, text=True
        )
        for name in ["commune", "police"] * 3
    ]
    outputs = [p.communicate(timeout=60)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    results = [tuple(out.split("|")) for out in outputs]
    assert len({ca for ca, _ in results}) == 1
    assert len({cert for cert, _ in results[0::2]}) == 1
    assert len({cert for cert, _ in results[1::2]}) == 1
    files = sorted(p.name for p in (data_dir / "pki").rglob("*") if p.is_file())
    assert files == [
        ".lock",
        "ca.key.pem",
        "ca.pem",
        "commune.key.pem",
        "commune.pem",
        "police.key.pem",
        "police.pem",
    ]


def test_cli_init_and_show(data_dir: Path) -> None:
    runner = CliRunner()
    empty = runner.invoke(pki_command, ["show"])
    assert empty.exit_code == 0 and "motcua pki init" in empty.output
    made = runner.invoke(pki_command, ["init"])
    assert made.exit_code == 0, made.output
    for name in pki.AGENCIES:
        assert (data_dir / "pki" / "agencies" / f"{name}.pem").is_file()
        assert f"{name}\n" in made.output
    assert "Ủy ban nhân dân cấp xã" in made.output and "sha256:" in made.output
    shown = runner.invoke(pki_command, ["show"])
    assert shown.exit_code == 0 and shown.output == made.output
    bad = runner.invoke(pki_command, ["init", "--agency", "Bad Name"])
    assert bad.exit_code != 0


# ---------------------------------------------------------------- signing


async def test_signed_birth_certificate(data_dir: Path, nssdb: Path) -> None:
    req = _request(dict(BIRTH))
    issued = await ActivityEnvironment().run(documents.issue, req)
    assert issued.signed is True and issued.sign_as == "commune"
    pdf = get_store().get(issued.document_ref)
    path = _store_path(data_dir, issued)
    assert path.read_bytes() == pdf and len(pdf) == issued.size

    text = _pdftotext(path)
    for expected in [
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "GIẤY KHAI SINH (BẢN TRÍCH LỤC)",
        "Ủy ban nhân dân phường Ba Đình",
        "Họ, chữ đệm, tên: Nguyễn Thị Mai",
        f"Ngày, tháng, năm sinh: {BORN:%d/%m/%Y}",
        "Giới tính: Nữ",
        "Số định danh cá nhân: 001326012345",
        "Họ, chữ đệm, tên người mẹ: Trần Thị Hoa",
        "Họ, chữ đệm, tên người cha: Nguyễn Văn Đức",
        f"Hà Nội, ngày {ISSUED:%d} tháng {ISSUED:%m} năm {ISSUED:%Y}",
        "CHỦ TỊCH",
        "Lê Thị Hương",
        f"Mã xác thực: {documents.display_code(issued.verification_code)}",
    ]:
        assert expected in text, expected
    assert documents.UNSIGNED_NOTE not in text

    result = signing.verify(pdf)
    assert result.signed and result.intact and result.valid and result.trusted
    assert result.bottom_line and result.covers_whole_file
    assert result.field_name == "ChuKySo_commune"
    assert result.signer_organisation == "Ủy ban nhân dân cấp xã"
    assert result.signing_time == ISSUED

    report = _pdfsig(path, nssdb)
    assert "Signature is Valid." in report, report
    assert "Certificate is Trusted." in report, report
    assert "Total document signed" in report, report
    assert "Ủy ban nhân dân cấp xã" in report, report

    # The signature's reason and location are Vietnamese text strings.
    sig = PdfFileReader(path.open("rb")).embedded_signatures[0]
    assert sig.sig_object["/Reason"] == "Ký số kết quả giải quyết thủ tục hành chính"
    assert sig.sig_object["/Location"] == "Hà Nội"


def _content_stream_offset(pdf: bytes) -> int:
    """An offset inside the first page's content stream data (in the signed range)."""
    import io

    reader = PdfFileReader(io.BytesIO(pdf))
    page = reader.root["/Pages"]["/Kids"][0]
    contents = page.raw_get("/Contents")
    idnum = contents.idnum
    start = pdf.index(b"\n%d 0 obj" % idnum) + 1
    data = pdf.index(b"stream", start) + len(b"stream\n")
    return data + 16


async def test_one_changed_byte_breaks_the_signature(data_dir: Path, nssdb: Path) -> None:
    issued = await documents.issue(_request(dict(BIRTH)))
    pdf = get_store().get(issued.document_ref)
    offset = _content_stream_offset(pdf)
    sig = PdfFileReader(_store_path(data_dir, issued).open("rb")).embedded_signatures[0]
    first_range_end = sig.byte_range[1]
    assert offset < first_range_end  # inside the signed bytes, not the signature's hex
    tampered = bytearray(pdf)
    tampered[offset] ^= 0x01
    assert len(tampered) == len(pdf)

    result = signing.verify(bytes(tampered))
    assert result.signed and not result.intact and not result.bottom_line

    path = data_dir / "tampered.pdf"
    path.write_bytes(bytes(tampered))
    report = _pdfsig(path, nssdb)
    assert "Signature is Valid." not in report, report
    assert "Digest Mismatch" in report, report


def test_signing_is_deterministic(data_dir: Path) -> None:
    from motcua.activities.pdf import Page, render_pdf

    moment = ISSUED
    page = Page(
        "T01-x",
        "GIẤY KHAI SINH",
        "- Họ, chữ đệm, tên: Nguyễn Thị Mai",
        "A" * 12,
        "u",
        moment,
        signed=False,
    )
    unsigned = render_pdf(page)
    first = signing.sign(unsigned, "commune", signing_time=moment)
    again = signing.sign(unsigned, "commune", signing_time=moment)
    later = signing.sign(unsigned, "commune", signing_time=moment + timedelta(seconds=1))
    assert first == again
    assert later != first
    assert first.startswith(unsigned)  # an incremental update: the rendered bytes stay
    assert signing.verify(later).signing_time == moment + timedelta(seconds=1)
    assert not signing.verify(unsigned).signed
    with pytest.raises(ValueError):
        signing.sign(unsigned, "commune", signing_time=ISSUED.replace(tzinfo=None))


async def test_issue_twice_returns_the_recorded_signed_document(data_dir: Path) -> None:
    # Without issued_at the signing time is "now": only the record makes a retry idempotent.
    data = {k: v for k, v in BIRTH.items() if k != "issued_at"}
    req = _request(data)
    first = await documents.issue(req)
    again = await documents.issue(req)
    assert first.signed and again.signed
    assert again.replayed and not first.replayed
    assert again.sha256 == first.sha256 and again.document_ref == first.document_ref
    files = [p for p in (data_dir / "results").rglob("*") if p.is_file()]
    assert len(files) == 1
    assert signing.verify(files[0].read_bytes()).bottom_line

    # With issued_at, signing is reproducible: a fresh record with the same key material
    # (same data dir, hence same agency key) gives the same bytes.
    pinned = _request(dict(BIRTH))
    one = documents.issue_sync(pinned)
    db.dispose_engines()
    (data_dir / "motcua.db").unlink()
    two = documents.issue_sync(pinned)
    assert not two.replayed and two.sha256 == one.sha256


async def test_bad_issued_at_and_sign_as_are_not_retried() -> None:
    with pytest.raises(ApplicationError) as err:
        await documents.issue(_request(dict(BIRTH, issued_at="hôm nay")))
    assert err.value.non_retryable
    with pytest.raises(ApplicationError) as err:
        await documents.issue(_request(dict(BIRTH), sign_as="Ủy ban"))
    assert err.value.non_retryable


def test_a_signer_that_declines_leaves_the_unsigned_note(data_dir: Path) -> None:
    def unsigned(pdf: bytes, sign_as: str, **_: object) -> tuple[bytes, bool]:
        return pdf, False

    issued = documents.issue_sync(_request(dict(BIRTH)), signer=unsigned)
    assert issued.signed is False
    path = _store_path(data_dir, issued)
    assert documents.UNSIGNED_NOTE in _pdftotext(path)
    assert not signing.verify(path.read_bytes()).signed


def test_each_thread_signs_with_its_own_signer(data_dir: Path) -> None:
    """asn1crypto objects are not thread-safe: a signer (and its certificates) stays in its thread.

    Signing re-encodes the signer's certificates into each CMS; two threads doing it on one
    shared certificate object corrupted it ("UTCTime value must be a unicode string, not
    NoneType", seen under load when documents were signed from several activity threads).
    """
    import threading

    here = signing._loaded("commune")
    assert signing._loaded("commune") is here
    elsewhere: list[object] = []
    thread = threading.Thread(target=lambda: elsewhere.append(signing._loaded("commune")))
    thread.start()
    thread.join()
    assert elsewhere and elsewhere[0] is not here


def test_signing_from_many_threads_at_once(data_dir: Path) -> None:
    """Eight threads sign at once, every signature verifies (one run in three failed before)."""
    import threading

    from motcua.activities.pdf import Page, render_pdf

    unsigned = render_pdf(
        Page("T01-x", "GIẤY KHAI SINH", "- a", "A" * 12, "u", ISSUED, signed=False)
    )
    signed: list[bytes] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def sign_some(thread: int) -> None:
        start.wait()
        for n in range(6):
            moment = ISSUED + timedelta(seconds=thread * 10 + n)
            try:
                signed.append(
                    signing.sign(unsigned, ("commune", "province")[n % 2], signing_time=moment)
                )
            except BaseException as err:  # noqa: BLE001 - collected and reported below
                errors.append(err)

    threads = [threading.Thread(target=sign_some, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, [repr(err) for err in errors]
    assert len(signed) == 48
    assert all(signing.verify(pdf).bottom_line for pdf in signed[::7])
