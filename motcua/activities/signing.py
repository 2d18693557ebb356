"""PAdES signatures on issued documents, and their verification (pyHanko).

`sign(pdf, sign_as, signing_time=..., reason=..., location=...)` appends an incremental
update with a PAdES baseline B-B signature (/SubFilter /ETSI.CAdES.detached, SHA-256,
RSA PKCS#1 v1.5) made with agency `sign_as`'s certificate from `motcua.pki` (created on
first use, with the development CA). The signature field is invisible and named
`ChuKySo_<sign_as>`; the visible part of a result is the PDF's own text (agency, signer
block, verification code and QR code).

Deterministic: the same input bytes, key and `signing_time` give the same signed bytes.
pyHanko (0.38) takes the clock in three places, all pinned here to `signing_time`:
the signing session's time (/M in the signature dictionary; PAdES forbids the CMS
signing-time attribute, so it is the only signer-reported time), the /ModDate of the
document information dictionary written by the incremental update, and the second half of
the trailer /ID, which pyHanko draws from os.urandom and which is derived here from a hash
of the input, the signer and the time. Everything else in the CMS is a function of the
data, the certificate and the key (PKCS#1 v1.5 has no random padding).

`verify(pdf)` validates the last signature against the development CA (no network, soft
revocation checks): intact (digest matches), valid (the cryptographic signature), trusted
(chain to the CA), the signer's subject and reported signing time, and whether the signature
covers the entire file. Judge by `bottom_line`: pyHanko can report `valid` True after the
signed bytes were changed, `intact` and `bottom_line` are False then.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from pathlib import Path
from typing import Any, TypeVar

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pyhanko.keys import load_cert_from_pemder, load_certs_from_pemder
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.general import SigningError
from pyhanko.sign.signers.pdf_signer import PdfSigningSession
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from motcua import pki

DEFAULT_REASON = "Ký số kết quả giải quyết thủ tục hành chính"
DEFAULT_LOCATION = "Việt Nam"
FIELD_PREFIX = "ChuKySo_"
MD_ALGORITHM = "sha256"

T = TypeVar("T")


class SigningFailedError(RuntimeError):
    """The PDF could not be signed (retryable: a broken key file can be repaired)."""


def field_name(sign_as: str) -> str:
    return f"{FIELD_PREFIX}{sign_as}"


# ---------------------------------------------------------------- async glue


def _run(make: Callable[[], Awaitable[T]]) -> T:
    """Run a pyHanko coroutine from sync code, also when this thread has a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_call(make))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(_call(make))).result()


async def _call(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


# ---------------------------------------------------------------- signing


class _RsaSigner(signers.SimpleSigner):
    """SimpleSigner with the private key parsed once.

    pyHanko's SimpleSigner re-parses (and so re-validates, ~0.1 s for RSA 2048) the key on
    every signature. This one keeps the parsed key: RSA PKCS#1 v1.5 with SHA-256, as
    SimpleSigner would choose for an RSA key.
    """

    def __init__(self, key_pem: bytes, cert_path: Path, ca_path: Path) -> None:
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise SigningFailedError(f"{cert_path.name}: the key is not an RSA key")
        self._key = key
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        from asn1crypto import keys as asn1_keys

        super().__init__(
            signing_cert=load_cert_from_pemder(str(cert_path)),
            signing_key=asn1_keys.PrivateKeyInfo.load(der),
            cert_registry=SimpleCertificateStore.from_certs(
                list(load_certs_from_pemder([str(ca_path)]))
            ),
        )

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        if digest_algorithm != MD_ALGORITHM:
            return super().sign_raw(data, digest_algorithm)
        return self._key.sign(data, padding.PKCS1v15(), hashes.SHA256())


@dataclass(frozen=True)
class _Loaded:
    signer: _RsaSigner
    cert_pem: bytes
    reserve: int


# One cache per thread: asn1crypto objects are not thread-safe. Signing re-encodes the
# signer's certificates (dump(force=True)) into each CMS, and two threads doing so on one
# shared certificate object corrupt it mid-encode ("UTCTime value must be a unicode string,
# not NoneType"): documents are signed from several activity threads at once under load.
_SIGNERS = threading.local()


def _loaded(sign_as: str) -> _Loaded:
    """The agency's signer, cached per thread while its key and certificate are unchanged."""
    cache: dict[tuple[str, int, int, int], _Loaded] = _SIGNERS.__dict__.setdefault("cache", {})
    key_path, cert_path = pki.ensure_agency(sign_as)
    _, ca_path = pki.ensure_ca()
    stamp = (str(cert_path), cert_path.stat().st_mtime_ns, key_path.stat().st_mtime_ns)
    cache_key = (stamp[0], stamp[1], stamp[2], ca_path.stat().st_mtime_ns)
    found = cache.get(cache_key)
    if found is None:
        try:
            signer = _RsaSigner(key_path.read_bytes(), cert_path, ca_path)
        except (OSError, ValueError) as err:
            raise SigningFailedError(f"cannot load the key or certificate of {sign_as!r}") from err
        der = serialization.Encoding.DER
        certs = b"".join(pki.load_cert(p).public_bytes(der) for p in (cert_path, ca_path))
        # The CMS holds both certificates, the 256-byte signature and ~0.6 kB of structure
        # and signed attributes; a fixed reservation spares pyHanko a dry-run signature.
        # pyHanko counts the reservation in hex digits, two per byte.
        found = _Loaded(signer, cert_path.read_bytes(), 2 * (len(certs) + 1536))
        cache[cache_key] = found
    return found


class _PinnedWriter(IncrementalPdfFileWriter):
    """An incremental writer whose /ModDate and trailer /ID do not depend on the clock."""

    def __init__(self, data: bytes, moment: datetime, id_seed: bytes) -> None:
        super().__init__(BytesIO(data))
        self._moment = moment
        first = self._document_id[0]
        second = generic.ByteStringObject(hashlib.sha256(id_seed).digest()[:16])
        self._document_id = generic.ArrayObject([first, second])

    def _update_meta(self) -> None:
        super()._update_meta()  # sets /ModDate to "now" when there is an /Info dictionary
        info = self._info.get_object() if self._info is not None else None
        if isinstance(info, generic.DictionaryObject) and "/ModDate" in info:
            info["/ModDate"] = generic.pdf_date(self._moment)


class _PinnedPdfSigner(signers.PdfSigner):
    """A PdfSigner whose signing session uses `signing_time` instead of the clock."""

    def __init__(self, *args: Any, signing_time: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._signing_time = signing_time

    def init_signing_session(self, *args: Any, **kwargs: Any) -> PdfSigningSession:
        session = super().init_signing_session(*args, **kwargs)
        session.system_time = self._signing_time
        return session


def sign(
    pdf: bytes,
    sign_as: str,
    *,
    signing_time: datetime,
    reason: str = DEFAULT_REASON,
    location: str = DEFAULT_LOCATION,
) -> bytes:
    """`pdf` with a PAdES B-B signature by agency `sign_as`, signed at `signing_time`."""
    if signing_time.tzinfo is None:
        raise ValueError("signing_time must be timezone-aware")
    loaded = _loaded(sign_as)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name(sign_as),
        md_algorithm=MD_ALGORITHM,
        subfilter=SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        name=pki.organisation_name(sign_as),
    )
    seed = b"|".join(
        [
            hashlib.sha256(pdf).digest(),
            sign_as.encode(),
            signing_time.isoformat().encode(),
            loaded.cert_pem,
        ]
    )
    writer = _PinnedWriter(pdf, signing_time, seed)
    pdf_signer = _PinnedPdfSigner(
        meta,
        loaded.signer,
        new_field_spec=fields.SigFieldSpec(field_name(sign_as)),
        signing_time=signing_time,
    )
    try:
        out = _run(lambda: pdf_signer.async_sign_pdf(writer, bytes_reserved=loaded.reserve))
    except SigningError as err:
        raise SigningFailedError(f"signing as {sign_as!r} failed: {err}") from err
    return bytes(out.getvalue())


# ---------------------------------------------------------------- verification


@dataclass(frozen=True)
class Verification:
    signed: bool
    field_name: str | None = None
    intact: bool = False
    valid: bool = False
    trusted: bool = False
    covers_whole_file: bool = False
    signer_subject: str | None = None
    signer_organisation: str | None = None
    signing_time: datetime | None = None
    bottom_line: bool = False
    error: str | None = None


def _validation_context(ca_path: Path | None = None) -> ValidationContext:
    root = ca_path or pki.ensure_ca()[1]
    return ValidationContext(trust_roots=[load_cert_from_pemder(str(root))], allow_fetching=False)


def verify(pdf: bytes, ca_path: Path | None = None) -> Verification:
    """The verdict on the last signature of `pdf` against the CA at `ca_path` (default: the
    development CA)."""
    try:
        reader = PdfFileReader(BytesIO(pdf), strict=False)
        sigs = reader.embedded_signatures
    except Exception as err:  # noqa: BLE001 - an unreadable file is simply not verified
        return Verification(signed=False, error=f"unreadable PDF: {err}")
    if not sigs:
        return Verification(signed=False, error="no signature")
    sig = sigs[-1]
    try:
        status = _run(
            lambda: async_validate_pdf_signature(
                sig, signer_validation_context=_validation_context(ca_path)
            )
        )
    except Exception as err:  # noqa: BLE001 - a mangled signature is an invalid one
        return Verification(signed=True, field_name=sig.field_name, error=str(err))
    cert = status.signing_cert
    subject = cert.subject.human_friendly if cert is not None else None
    org = None
    if cert is not None:
        org = cert.subject.native.get("organization_name")
    return Verification(
        signed=True,
        field_name=sig.field_name,
        intact=bool(status.intact),
        valid=bool(status.valid),
        trusted=bool(status.trusted),
        covers_whole_file=status.coverage == SignatureCoverageLevel.ENTIRE_FILE,
        signer_subject=subject,
        signer_organisation=org if isinstance(org, str) else None,
        signing_time=status.signer_reported_dt,
        bottom_line=bool(status.bottom_line),
    )
