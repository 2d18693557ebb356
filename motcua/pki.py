"""A local development CA and one signing certificate per agency, made on first use.

Layout under `data_dir/pki/` (git-ignored with the rest of `.data/`, never committed):

    ca.pem, ca.key.pem                          the development root CA
    agencies/<sign_as>.pem, <sign_as>.key.pem   one end-entity certificate per agency

Keys are RSA 2048 (PKCS#1 v1.5 signatures are deterministic, and every PDF verifier
speaks RSA) in unencrypted PKCS#8 PEM, mode 0600. Agency certificates carry the agency's
Vietnamese name in O and CN (UTF8String), key usage digitalSignature + nonRepudiation and
the extended key usages a document-signing certificate needs: id-kp-documentSigning
(RFC 9336), Adobe Authentic Documents and emailProtection (NSS, hence poppler's pdfsig,
checks signer certificates for the e-mail signer usage).

Safe under concurrency: creation happens under an exclusive lock file
(`pki/.lock`, fcntl), files are written to a temporary name and `os.replace`d, the key
before the certificate, so a certificate on disk always has its key beside it. Two
processes asking for the same agency at once get the same files; the CA is made once.

This CA is for development and tests only: real deployments use the agencies' certificates
issued under Decree 68/2024 / 23/2025 by a licensed trust service provider.
"""

from __future__ import annotations

import fcntl
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from motcua.files import write_atomic
from motcua.settings import get_settings

KEY_BITS = 2048
CA_YEARS = 10
AGENCY_YEARS = 3
# Backdated so a signing time a little before the certificate was made still falls inside.
BACKDATE = timedelta(days=30)
CA_NAME = "Tổ chức chứng thực thử nghiệm motcua"
DEV_NOTE = "Chứng thư số thử nghiệm - không có giá trị pháp lý"
GENERIC_AGENCY = "Cơ quan giải quyết thủ tục hành chính"
ID_KP_DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
ADOBE_AUTHENTIC_DOCUMENTS = ObjectIdentifier("1.2.840.113583.1.1.5")
SIGN_AS = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")

# The agencies a procedure names in `sign_as`, with the name a citizen reads.
AGENCIES: dict[str, str] = {
    "commune": "Ủy ban nhân dân cấp xã",
    "police": "Công an cấp xã",
    "social_insurance": "Bảo hiểm xã hội Việt Nam",
    "province": "Ủy ban nhân dân cấp tỉnh",
    "health": "Cơ sở khám bệnh, chữa bệnh",
}


class PkiError(ValueError):
    """A sign_as that cannot name a certificate file (never retried: fix the procedure)."""


@dataclass(frozen=True)
class CertInfo:
    name: str
    cert_path: Path
    key_path: Path
    subject: str
    sha256_fingerprint: str
    not_after: datetime


# Certificates of the service itself, not of an agency: the archive signs evidence bundles.
SERVICES: dict[str, str] = {"archive": "Kho lưu trữ hồ sơ điện tử một cửa"}


def pki_dir() -> Path:
    return get_settings().data_dir / "pki"


def ca_paths() -> tuple[Path, Path]:
    """(key_path, cert_path) of the development CA (not created here)."""
    root = pki_dir()
    return root / "ca.key.pem", root / "ca.pem"


def agency_paths(sign_as: str) -> tuple[Path, Path]:
    """(key_path, cert_path) of agency `sign_as` (not created here)."""
    if not SIGN_AS.match(sign_as):
        raise PkiError(
            f"sign_as {sign_as!r} is not a valid agency name: lower-case letters, digits, "
            "'_' and '-', at most 64 characters"
        )
    folder = pki_dir() / "agencies"
    return folder / f"{sign_as}.key.pem", folder / f"{sign_as}.pem"


def organisation_name(sign_as: str) -> str:
    """The Vietnamese organisation name written into `sign_as`'s certificate."""
    return AGENCIES.get(sign_as) or SERVICES.get(sign_as, GENERIC_AGENCY)


# ---------------------------------------------------------------- files


@contextmanager
def _locked() -> Iterator[None]:
    root = pki_dir()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _save(key: rsa.RSAPrivateKey, cert: x509.Certificate, key_path: Path, cert_path: Path) -> None:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_atomic(key_path, key_pem, 0o600)
    write_atomic(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _load_key(path: Path) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):  # pragma: no cover - we only write RSA
        raise PkiError(f"{path} does not hold an RSA key")
    return key


# ---------------------------------------------------------------- certificates


def _name(common_name: str, organisation: str, unit: str | None = None) -> x509.Name:
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
    ]
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)


def _make_ca() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = _new_key()
    name = _name(CA_NAME, CA_NAME, DEV_NOTE)
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + timedelta(days=365 * CA_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _make_agency(
    sign_as: str, ca_key: rsa.RSAPrivateKey, ca_cert: x509.Certificate
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = _new_key()
    org = organisation_name(sign_as)
    now = datetime.now(UTC)
    not_after = min(now + timedelta(days=365 * AGENCY_YEARS), ca_cert.not_valid_after_utc)
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(org, org, DEV_NOTE))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,  # nonRepudiation
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [
                    ID_KP_DOCUMENT_SIGNING,
                    ADOBE_AUTHENTIC_DOCUMENTS,
                    ExtendedKeyUsageOID.EMAIL_PROTECTION,
                ]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _ensure_ca_locked() -> tuple[Path, Path]:
    key_path, cert_path = ca_paths()
    if not cert_path.is_file():
        key, cert = _make_ca()
        _save(key, cert, key_path, cert_path)
    return key_path, cert_path


def ensure_ca() -> tuple[Path, Path]:
    """(key_path, cert_path) of the development CA, created once on first use."""
    key_path, cert_path = ca_paths()
    if cert_path.is_file() and key_path.is_file():
        return key_path, cert_path
    with _locked():
        return _ensure_ca_locked()


def ensure_agency(sign_as: str) -> tuple[Path, Path]:
    """(key_path, cert_path) of agency `sign_as`, issued by the dev CA on first use."""
    key_path, cert_path = agency_paths(sign_as)
    if cert_path.is_file() and key_path.is_file():
        return key_path, cert_path
    with _locked():
        if cert_path.is_file() and key_path.is_file():
            return key_path, cert_path
        ca_key_path, ca_cert_path = _ensure_ca_locked()
        key, cert = _make_agency(sign_as, _load_key(ca_key_path), load_cert(ca_cert_path))
        _save(key, cert, key_path, cert_path)
    return key_path, cert_path


def describe(name: str, key_path: Path, cert_path: Path) -> CertInfo:
    cert = load_cert(cert_path)
    return CertInfo(
        name=name,
        cert_path=cert_path,
        key_path=key_path,
        subject=cert.subject.rfc4514_string(),
        sha256_fingerprint=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
        not_after=cert.not_valid_after_utc,
    )


def init(agencies: list[str] | None = None) -> list[CertInfo]:
    """Create the CA and the given (default: all known) agencies; describe them."""
    infos = [describe("ca", *ensure_ca())]
    for sign_as in agencies if agencies is not None else list(AGENCIES):
        infos.append(describe(sign_as, *ensure_agency(sign_as)))
    return infos


def existing() -> list[CertInfo]:
    """What is on disk now, CA first; creates nothing."""
    infos = []
    key_path, cert_path = ca_paths()
    if cert_path.is_file():
        infos.append(describe("ca", key_path, cert_path))
    folder = pki_dir() / "agencies"
    if folder.is_dir():
        names = [p.name.removesuffix(".pem") for p in folder.glob("*.pem")]
        found = {n for n in names if not n.endswith(".key")}
        # Known agencies in their usual order, then any others alphabetically.
        for name in [n for n in AGENCIES if n in found] + sorted(found - set(AGENCIES)):
            infos.append(describe(name, folder / f"{name}.key.pem", folder / f"{name}.pem"))
    return infos
