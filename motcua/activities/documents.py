"""Result documents: a Vietnamese Jinja2 template rendered to PDF, stored by content hash.

`documents.issue` renders `procedure_defs/templates/documents/{template}.md.j2` to an A4
PDF (fpdf2, DejaVu Sans, which covers every Vietnamese letter), hands the bytes to the
signing seam, stores them by SHA-256 (`motcua.activities.store`) and records the issued
document in the `issued_document` table, which is what a verification page looks up.

Every PDF carries the national motto header, the dossier code, the title, the body, a
verification code and a QR code for `{MOTCUA_PUBLIC_URL}/verify/{dossier_code}/{code}`
(default base http://localhost:8000; the code is the verification code in lower case).

Template format (`*.md.j2`): Jinja2 (an immutable sandbox, undefined values are errors)
rendering to lines, each read by its first characters:
    ---                 optional front matter at the very top, YAML up to the next `---`;
                        `title:` is the default title when the step gives none
    # text              heading, bold, centred          ## text   sub-heading, bold, centred
    | text              centred line                     >> text   signature block line,
                                                                  centred in the right half
    - Label: value      a field: label in bold, value in regular type
    ----                horizontal rule                  (blank)   vertical space
    anything else       a paragraph, wrapped
Values inserted with `{{ }}` are NFC-normalised and have their line breaks flattened, so
data can never add structure. The context has `data` (the step's data), its keys at the top
level as well, and `dossier_code`, `title`, `sign_as`, `issued_on` (may be None);
and the filters of expressions (motcua.workflows.dsl.filters: `vn_date`, `vn_long_date`,
`vnd`, `place_name`, `agency_title`, `vn_sex`...).

Determinism: the same input gives the same bytes, hence the same hash and one stored
file. The PDF's creation date (and the date printed when the template shows `issued_on`)
is `data.issued_at`, the workflow's time of issue, else `data.issued_on`, else a fixed
placeholder; nothing else in the file depends on the clock or on randomness. The
signature adds the agency's key and the signing time: `data.issued_at` (an ISO datetime,
the document's issue time as the workflow fixed it) when given, else the current time; with
`issued_at` the same request signed with the same key gives the same bytes.

Idempotency: one document per idempotency key. A repeated call returns the recorded
document (`replayed: true`) without rendering again.

Signing: `sign_pdf` is the seam (bytes in, bytes out): a PAdES B-B signature with the
agency's certificate (`motcua.activities.signing`, pyHanko; certificates from `motcua.pki`,
a local development CA made on first use). The stored PDF and its sha256 are of the signed
bytes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import BaseModel, Field
from sqlalchemy import Column, DateTime
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel, select
from temporalio import activity

from motcua import db
from motcua.activities.base import ActivityInput
from motcua.activities.store import get_store
from motcua.activities.templates import TemplateFolder, invalid, nfc
from motcua.settings import get_settings

TEMPLATE_SUFFIX = ".md.j2"
FONT_PACKAGE = "fonts-dejavu-core"
DEFAULT_FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT_FILES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}
FONT = "DejaVuSans"
MOTTO = ("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc")
UNSIGNED_NOTE = "Bản điện tử chưa được ký số."
# Used as the PDF creation date when the data names no issue date, so bytes stay stable.
PLACEHOLDER_DATE = datetime(2000, 1, 1, tzinfo=UTC)
VN_TZ = timezone(timedelta(hours=7), "ICT")
VERIFICATION_CHARS = 12


# ---------------------------------------------------------------- inputs and results


class DocumentRequest(ActivityInput):
    template: str = Field(description="Template name under procedure_defs/templates/documents")
    sign_as: str = Field(description="Agency whose certificate signs the document")
    title: str | None = Field(None, description="Title; default: the template's front matter")
    data: dict[str, Any] = Field(default_factory=dict)


class IssuedDocument(BaseModel):
    document_ref: str = Field(description="Content address in the result store")
    sha256: str
    size: int
    title: str
    template: str
    sign_as: str
    signed: bool = Field(description="True when the PDF carries the agency's PAdES signature")
    verification_code: str
    verification_url: str
    replayed: bool = False


class IssuedDocumentRow(SQLModel, table=True):
    __tablename__ = "issued_document"

    id: int | None = SQLField(default=None, primary_key=True)
    idempotency_key: str = SQLField(unique=True, max_length=300)
    dossier_code: str = SQLField(index=True, max_length=200)
    verification_code: str = SQLField(index=True, max_length=32)
    document_ref: str = SQLField(max_length=100)
    sha256: str = SQLField(max_length=64)
    size: int
    title: str
    template: str = SQLField(max_length=100)
    sign_as: str = SQLField(max_length=200)
    signed: bool = False
    verification_url: str
    issued_at: datetime = SQLField(sa_column=Column(DateTime(timezone=True), nullable=False))


# ---------------------------------------------------------------- errors


class FontMissingError(RuntimeError):
    """Retryable: installing the font package on the worker fixes it."""


# ---------------------------------------------------------------- templates


FOLDER = TemplateFolder("document", "documents", TEMPLATE_SUFFIX)


def available_templates() -> list[str]:
    return FOLDER.available()


@dataclass(frozen=True)
class Template:
    name: str
    path: Path
    meta: dict[str, Any]
    body: str
    body_line: int  # line number of the body's first line in the file


def load_template(name: str) -> Template:
    path = FOLDER.path(name)
    text = path.read_text(encoding="utf-8")
    meta: dict[str, Any] = {}
    body, body_line = text, 1
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end < 0:
            raise invalid(f"document template {name!r}: front matter has no closing '---'")
        try:
            loaded = yaml.safe_load(text[4:end]) or {}
        except yaml.YAMLError as err:
            raise invalid(f"document template {name!r}: bad front matter: {err}") from err
        if not isinstance(loaded, dict):
            raise invalid(f"document template {name!r}: front matter must be a mapping")
        meta = loaded
        body = text[end + 5 :]
        body_line = text[: end + 5].count("\n") + 1
    return Template(name=name, path=path, meta=meta, body=body, body_line=body_line)


def _finalize(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    return " ".join(nfc(text).splitlines())


def _as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(VN_TZ).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return _as_date(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def render_text(template: Template, context: dict[str, Any]) -> str:
    """The template's body rendered to lines (NFC); errors name the template, not data."""
    return FOLDER.render(
        template.name,
        template.body,
        context,
        finalize=_finalize,
        first_line=template.body_line,
    )


# ---------------------------------------------------------------- verification


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def verification_code(req: DocumentRequest) -> str:
    """A short code derived from the case, the step and what the document says."""
    material = _canonical(
        {
            "dossier_code": req.dossier_code,
            "key": req.idempotency_key,
            "template": req.template,
            "sign_as": req.sign_as,
            "title": req.title,
            "data": req.data,
        }
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:VERIFICATION_CHARS].upper()


def display_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def public_url() -> str:
    return get_settings().public_url


def verification_url(dossier_code: str, code: str) -> str:
    return f"{public_url()}/verify/{dossier_code}/{code.lower()}"


# ---------------------------------------------------------------- signing seam


class PdfSigner(Protocol):
    def __call__(
        self,
        pdf: bytes,
        sign_as: str,
        *,
        signing_time: datetime | None = None,
        location: str | None = None,
    ) -> tuple[bytes, bool]: ...


def sign_pdf(
    pdf: bytes,
    sign_as: str,
    *,
    signing_time: datetime | None = None,
    location: str | None = None,
) -> tuple[bytes, bool]:
    """Sign `pdf` with the certificate of agency `sign_as`: (bytes, signed=True).

    PAdES B-B (pyHanko), signed at `signing_time` (default: now); the same bytes, key and
    time give the same signed bytes.
    """
    from motcua import pki
    from motcua.activities import signing  # pyHanko is slow to import: only here

    moment = signing_time or datetime.now(VN_TZ).replace(microsecond=0)
    try:
        pki.agency_paths(sign_as)
    except pki.PkiError as err:
        raise invalid(str(err)) from err
    signed = signing.sign(
        pdf,
        sign_as,
        signing_time=moment,
        reason=signing.DEFAULT_REASON,
        location=location or signing.DEFAULT_LOCATION,
    )
    return signed, True


def signing_time(data: dict[str, Any]) -> datetime | None:
    """`data.issued_at` as an aware datetime (naive means Vietnam time), or None if absent."""
    raw = data.get("issued_at")
    if raw is None or raw == "":
        return None
    if isinstance(raw, datetime):
        moment = raw
    else:
        try:
            moment = datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
        except ValueError as err:
            raise invalid(f"issued_at {raw!r} is not an ISO 8601 date and time") from err
    return moment if moment.tzinfo else moment.replace(tzinfo=VN_TZ)


# ---------------------------------------------------------------- the activity


def _issue_date(data: dict[str, Any]) -> datetime:
    """The document's date: the workflow's `issued_at`, else `issued_on`, else a placeholder."""
    moment = signing_time(data)
    if moment is not None:
        return moment
    raw = data.get("issued_on")
    if isinstance(raw, str) and "T" in raw:
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=VN_TZ)
        except ValueError:
            pass
    day = _as_date(raw)
    return datetime.combine(day, time(0, 0), tzinfo=VN_TZ) if day else PLACEHOLDER_DATE


def _row_result(row: IssuedDocumentRow, replayed: bool) -> IssuedDocument:
    return IssuedDocument(
        document_ref=row.document_ref,
        sha256=row.sha256,
        size=row.size,
        title=row.title,
        template=row.template,
        sign_as=row.sign_as,
        signed=row.signed,
        verification_code=row.verification_code,
        verification_url=row.verification_url,
        replayed=replayed,
    )


def _recorded(key: str) -> IssuedDocumentRow | None:
    if not key:
        return None
    with db.session() as s:
        row: IssuedDocumentRow | None = s.exec(
            select(IssuedDocumentRow).where(IssuedDocumentRow.idempotency_key == key)
        ).first()
        return row


def _record(row: IssuedDocumentRow) -> IssuedDocument:
    if not row.idempotency_key:
        return _row_result(row, replayed=False)
    with db.session() as s:
        s.add(row)
        try:
            s.commit()
            return _row_result(row, replayed=False)
        except IntegrityError:
            s.rollback()
    winner = _recorded(row.idempotency_key)
    if winner is None:  # pragma: no cover - the constraint said it exists
        raise RuntimeError("issued document vanished after a key conflict")
    return _row_result(winner, replayed=True)


def issue_sync(req: DocumentRequest, signer: PdfSigner = sign_pdf) -> IssuedDocument:
    """Render, sign (seam), store and record; blocking."""
    found = _recorded(req.idempotency_key)
    store = get_store()
    if found is not None and store.exists(found.document_ref):
        return _row_result(found, replayed=True)
    if not req.sign_as.strip():
        raise invalid("documents.issue needs sign_as (the signing agency)")
    template = load_template(req.template)
    title = nfc(req.title or str(template.meta.get("title") or req.template))
    code = verification_code(req)
    url = verification_url(req.dossier_code, code)
    issued = _issue_date(req.data)
    context: dict[str, Any] = dict(req.data)
    context.update(
        data=req.data,
        dossier_code=req.dossier_code,
        title=title,
        sign_as=req.sign_as,
        issued_on=req.data.get("issued_on") or (issued if issued != PLACEHOLDER_DATE else None),
        verification_code=display_code(code),
    )
    body = render_text(template, context)
    from motcua.activities.pdf import Page, render_pdf  # fpdf2 is slow to import: only here

    moment = signing_time(req.data)
    place = req.data.get("place")
    # Rendered as signed (no "not yet signed" note); a signer that declines gets the note.
    rendered = render_pdf(Page(req.dossier_code, title, body, code, url, issued, signed=True))
    pdf, signed = signer(
        rendered,
        req.sign_as,
        signing_time=moment,
        location=nfc(place) if isinstance(place, str) and place.strip() else None,
    )
    if not signed:
        pdf = render_pdf(Page(req.dossier_code, title, body, code, url, issued, signed=False))
    ref = store.put(pdf, ".pdf")
    row = IssuedDocumentRow(
        idempotency_key=req.idempotency_key,
        dossier_code=req.dossier_code,
        verification_code=code,
        document_ref=ref,
        sha256=hashlib.sha256(pdf).hexdigest(),
        size=len(pdf),
        title=title,
        template=req.template,
        sign_as=req.sign_as,
        signed=signed,
        verification_url=url,
        issued_at=datetime.now(UTC),
    )
    return _record(row)


def find_issued(dossier_code: str, code: str) -> IssuedDocument | None:
    """The document a verification URL points at (for the verify page), or None."""
    with db.session() as s:
        row = s.exec(
            select(IssuedDocumentRow).where(
                IssuedDocumentRow.dossier_code == dossier_code,
                IssuedDocumentRow.verification_code == code.upper(),
            )
        ).first()
    return _row_result(row, replayed=True) if row is not None else None


@activity.defn(name="documents.issue")
async def issue(req: DocumentRequest) -> IssuedDocument:
    """Render `template` with `data` to a PDF, store it by hash; one document per key."""
    return await db.run_sync(issue_sync, req)


ACTIVITIES: list[Any] = [issue]
