"""Public verification: the URL printed (and QR-coded) on every issued document.

`GET /verify/{dossier_code}/{code}` answers anyone, without a token, with what the document
itself shows on its face and nothing more: its title, the issuing agency, the date it was
signed, the dossier code, its verification code, the SHA-256 of the issued file and the
status of its signature, checked now on the stored PDF (motcua.activities.signing). No
name, personal id or address: the citizen's data stays in the document.

JSON by default; a short Vietnamese page when the client prefers `text/html` (a phone
that scanned the QR code). `?sha256=<hex>` also checks a file in hand: a file whose hash is
not the issued one is not found. A wrong dossier code, verification code or hash is a 404
whose message says so in Vietnamese and English.

Signature status: `valid` (intact, cryptographically valid, chains to the trusted CA and
covers the whole file), `untrusted` (intact but not from a trusted certificate), `invalid`
(altered, or changed after signing), `unsigned` (issued without a signature), `unavailable`
(the stored file is missing or does not match its hash).
"""

from __future__ import annotations

import html
import re
import threading
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from motcua import pki
from motcua.activities.documents import VN_TZ, IssuedDocument, display_code, find_issued

router = APIRouter(tags=["public"])

NOT_FOUND = (
    "Không tìm thấy văn bản: mã hồ sơ, mã xác thực hoặc mã băm không đúng. "
    "(No document was issued with this dossier code, verification code and hash.)"
)
_CODE = re.compile(r"^[0-9A-F]{12}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

Status = Literal["valid", "untrusted", "invalid", "unsigned", "unavailable"]
LABELS: dict[str, str] = {
    "valid": "Chữ ký số hợp lệ",
    "untrusted": "Chữ ký số đúng nhưng chứng thư số không được tin cậy",
    "invalid": "Chữ ký số không hợp lệ: văn bản đã bị thay đổi sau khi ký",
    "unsigned": "Văn bản không có chữ ký số",
    "unavailable": "Không kiểm tra được chữ ký số: không đọc được bản lưu của văn bản",
}


class Agency(BaseModel):
    code: str = Field(description="The signing agency's code in procedures (`sign_as`)")
    name: str = Field(description="Its name, in Vietnamese")


class Signature(BaseModel):
    status: Status
    label: str = Field(description="The status in Vietnamese")
    signer: str | None = Field(None, description="Organisation named by the certificate")
    signed_at: datetime | None = Field(None, description="Signing time (Vietnam time)")


class VerifiedDocument(BaseModel):
    dossier_code: str
    verification_code: str = Field(description="As printed on the document, e.g. 1A2B-3C4D-5E6F")
    title: str
    agency: Agency
    issued_at: datetime | None = Field(None, description="When it was signed (Vietnam time)")
    sha256: str = Field(description="SHA-256 of the issued PDF file")
    size: int = Field(description="Size of the issued PDF file in bytes")
    signature: Signature


# ---------------------------------------------------------------- the signature, checked


_VERDICTS: dict[str, Signature] = {}  # content address -> verdict (the content is fixed)
_VERDICTS_KEPT = 512
_verdicts_lock = threading.Lock()


def judge(pdf: bytes) -> Signature:
    from motcua.activities import signing  # pyHanko is slow to import: only here

    verdict = signing.verify(pdf)
    status: Status
    if not verdict.signed:
        status = "unsigned"
    elif not (verdict.intact and verdict.valid and verdict.covers_whole_file):
        status = "invalid"
    elif not (verdict.trusted and verdict.bottom_line):
        status = "untrusted"
    else:
        status = "valid"
    moment = verdict.signing_time.astimezone(VN_TZ) if verdict.signing_time else None
    return Signature(
        status=status,
        label=LABELS[status],
        signer=verdict.signer_organisation if verdict.signed else None,
        signed_at=moment if status != "unsigned" else None,
    )


def check_signature(document_ref: str) -> Signature:
    """The verdict on a stored file. The store re-hashes what it reads, so a missing or
    altered file is `unavailable`; the (slow) signature check is done once per content."""
    from motcua.activities.store import StoreError, get_store

    try:
        pdf = get_store().get(document_ref)
    except StoreError:
        return Signature(status="unavailable", label=LABELS["unavailable"])
    found = _VERDICTS.get(document_ref)
    if found is None:
        found = judge(pdf)
        with _verdicts_lock:
            if len(_VERDICTS) >= _VERDICTS_KEPT:
                _VERDICTS.pop(next(iter(_VERDICTS)), None)
            _VERDICTS[document_ref] = found
    return found


def _verified(dossier_code: str, doc: IssuedDocument) -> VerifiedDocument:
    signature = check_signature(doc.document_ref)
    return VerifiedDocument(
        dossier_code=dossier_code,
        verification_code=display_code(doc.verification_code),
        title=doc.title,
        agency=Agency(code=doc.sign_as, name=pki.organisation_name(doc.sign_as)),
        issued_at=signature.signed_at,
        sha256=doc.sha256,
        size=doc.size,
        signature=signature,
    )


def lookup(dossier_code: str, code: str, sha256: str | None) -> VerifiedDocument | None:
    """The verified document a URL points at, or None (blocking: reads the database)."""
    normalised = re.sub(r"[\s-]", "", code).upper()
    if not _CODE.match(normalised) or len(dossier_code) > 200:
        return None
    if sha256 is not None and not _SHA256.match(sha256.strip().lower()):
        return None
    doc = find_issued(dossier_code, normalised)
    if doc is None or (sha256 is not None and sha256.strip().lower() != doc.sha256):
        return None
    return _verified(dossier_code, doc)


# ---------------------------------------------------------------- the endpoint


def wants_html(accept: str) -> bool:
    """Whether the Accept header prefers text/html to application/json."""
    best: dict[str, tuple[int, float]] = {}  # kind -> (specificity, q)
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        for kind, exact, family in (
            ("html", "text/html", "text/*"),
            ("json", "application/json", "application/*"),
        ):
            specificity = 2 if media == exact else 1 if media == family else 0
            if media in (exact, family, "*/*") and specificity >= best.get(kind, (-1, 0.0))[0]:
                best[kind] = (specificity, q)
    return best.get("html", (0, 0.0))[1] > best.get("json", (0, 0.0))[1]


@router.get(
    "/verify/{dossier_code}/{code}",
    response_model=VerifiedDocument,
    responses={
        200: {"content": {"text/html": {}}, "description": "The document, as JSON or a page"},
        404: {"description": "No such document (message in Vietnamese and English)"},
    },
)
async def verify(
    request: Request,
    dossier_code: Annotated[str, Path(description="The dossier code printed on the document")],
    code: Annotated[str, Path(description="The verification code, e.g. 1a2b3c4d5e6f")],
    sha256: Annotated[
        str | None, Query(description="Optionally, the SHA-256 of a copy to check")
    ] = None,
) -> Response | VerifiedDocument:
    """Anyone: is this document genuine? Who issued it, when, and is its signature valid."""
    found = await run_in_threadpool(lookup, dossier_code, code, sha256)
    as_html = wants_html(request.headers.get("accept", ""))
    if found is None:
        if as_html:
            return HTMLResponse(_not_found_page(), status_code=404)
        raise HTTPException(404, NOT_FOUND)
    return HTMLResponse(_page(found)) if as_html else found


# ---------------------------------------------------------------- the page

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}"
    "dt{font-weight:600;margin-top:.6rem}dd{margin:0;overflow-wrap:anywhere}"
    ".valid{color:#14632b}.bad{color:#9b1c1c}"
)


def _html(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def _when(moment: datetime | None) -> str:
    return f"{moment:%H:%M} ngày {moment:%d/%m/%Y}" if moment else "không rõ"


def _page(doc: VerifiedDocument) -> str:
    sig = doc.signature
    rows = [
        ("Văn bản", doc.title),
        ("Cơ quan cấp", doc.agency.name),
        ("Thời điểm ký", _when(doc.issued_at)),
        ("Mã hồ sơ", doc.dossier_code),
        ("Mã xác thực", doc.verification_code),
        ("Mã băm SHA-256 của tệp", doc.sha256),
        ("Chữ ký số", sig.label + (f" ({sig.signer})" if sig.signer else "")),
    ]
    items = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in rows)
    css = "valid" if sig.status == "valid" else "bad"
    return _html(
        "Tra cứu văn bản điện tử",
        f"<h1>Tra cứu văn bản điện tử</h1><p class={css}><strong>{html.escape(sig.label)}"
        f"</strong></p><dl>{items}</dl><p>So sánh mã băm với tệp bạn có để chắc chắn đó "
        "là bản được cấp.</p>",
    )


def _not_found_page() -> str:
    return _html(
        "Không tìm thấy văn bản",
        "<h1>Không tìm thấy văn bản</h1><p>Không có văn bản nào được cấp với mã hồ sơ và mã "
        "xác thực này. Hãy kiểm tra lại đường dẫn hoặc mã in trên văn bản.</p>"
        '<p lang="en">No document was issued with this dossier code and verification code.</p>',
    )
