"""Verify an evidence bundle offline (motcua.audit.evidence): every check names its place.

1. The manifest's signature, by the certificate in the bundle, and that certificate's
   chain to the trusted CA (`trust`, default the local CA the agencies' certificates come
   from). A changed manifest line breaks the signature.
2. Every file against the manifest: present, same SHA-256; no file the manifest does not
   name. For histories, each event against its hash: the first changed event is named.
3. Each case's definition against the hash its record and history name.
4. Each signed document: its hash is the one the case recorded when issuing it, and its
   PAdES signature is intact, covers the whole file and chains to the trusted CA.
5. Each history replays with today's workflow code (motcua.audit.replay); this needs the
   codec keys that encrypted its payloads.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import BaseModel

from motcua import pki
from motcua.activities import signing
from motcua.audit.archive import ArchiveRecord
from motcua.audit.evidence import MANIFEST, SIGNATURE, SIGNER_CERT, event_hashes
from motcua.audit.replay import history_from_json, replay
from motcua.workflows.dsl.model import ProcedureDefinition


class Check(BaseModel):
    place: str  # a file in the bundle, or a part of one
    ok: bool
    what: str


class BundleReport(BaseModel):
    bundle: str
    checks: list[Check] = []

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    @property
    def problems(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def add(self, place: str, ok: bool, what: str) -> bool:
        self.checks.append(Check(place=place, ok=ok, what=what))
        return ok


async def verify_bundle(path: Path, *, trust: Path | None = None) -> BundleReport:
    report = BundleReport(bundle=str(path))
    try:
        z = zipfile.ZipFile(path)
        files = {i.filename: z.read(i.filename) for i in z.infolist() if not i.is_dir()}
    except (OSError, zipfile.BadZipFile, ValueError) as e:
        report.add(str(path), False, f"not a readable evidence bundle (zip): {e}")
        return report
    manifest_bytes = files.pop(MANIFEST, None)
    if manifest_bytes is None:
        report.add(MANIFEST, False, "missing: the bundle has no manifest")
        return report
    _signature(
        report, manifest_bytes, files.pop(SIGNATURE, b""), files.pop(SIGNER_CERT, b""), trust
    )
    try:
        manifest = json.loads(manifest_bytes)
        listed: dict[str, dict[str, object]] = manifest["files"]
    except (ValueError, KeyError, TypeError) as e:
        report.add(MANIFEST, False, f"unreadable manifest: {e}")
        return report
    intact = _files(report, files, listed, manifest.get("history_events", {}))
    for name in sorted(n for n in intact if n.endswith("/record.json")):
        await _case(report, files, name.removesuffix("/record.json"), trust)
    return report


def _signature(
    report: BundleReport, manifest: bytes, sig: bytes, cert_pem: bytes, trust: Path | None
) -> None:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        report.add(SIGNER_CERT, False, "missing or unreadable signer certificate")
        return
    key = cert.public_key()
    try:
        assert isinstance(key, rsa.RSAPublicKey)
        key.verify(base64.b64decode(sig), manifest, padding.PKCS1v15(), hashes.SHA256())
        report.add(SIGNATURE, True, "the manifest is as the archive signed it")
    except (InvalidSignature, AssertionError, ValueError):
        report.add(
            MANIFEST, False, "its signature does not match: the manifest changed after export"
        )
    ca_path = trust or pki.ca_paths()[1]
    try:
        ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
        cert.verify_directly_issued_by(ca)
        subject = cert.subject.rfc4514_string()
        report.add(SIGNER_CERT, True, f"signer {subject} is certified by the trusted CA")
    except FileNotFoundError:
        report.add(SIGNER_CERT, False, f"no trusted CA at {ca_path}: give one with --trust")
    except (ValueError, TypeError, InvalidSignature):
        report.add(SIGNER_CERT, False, f"the signer is not certified by the CA at {ca_path}")


def _files(
    report: BundleReport,
    files: dict[str, bytes],
    listed: dict[str, dict[str, object]],
    events: dict[str, list[dict[str, object]]],
) -> set[str]:
    """Check each file against the manifest; the names of the intact ones."""
    intact: set[str] = set()
    for name in sorted(set(files) - set(listed)):
        report.add(name, False, "not in the manifest: added after export")
    for name, meta in sorted(listed.items()):
        data = files.get(name)
        if data is None:
            report.add(name, False, "missing: the manifest lists it")
            continue
        digest = hashlib.sha256(data).hexdigest()
        if digest != meta.get("sha256"):
            report.add(name, False, _changed(name, data, meta, events.get(name)))
            continue
        intact.add(name)
    report.add(MANIFEST, True, f"{len(intact)} of {len(listed)} files match their hashes")
    return intact


def _changed(
    name: str, data: bytes, meta: dict[str, object], events: list[dict[str, object]] | None
) -> str:
    what = f"content changed (SHA-256 {hashlib.sha256(data).hexdigest()[:16]}…, manifest says "
    what += f"{str(meta.get('sha256'))[:16]}…)"
    if events is None:
        return what
    try:
        now = event_hashes(data)
    except (ValueError, KeyError, TypeError):
        return what + "; the history is no longer readable JSON"
    for i, was in enumerate(events):
        if i >= len(now):
            return what + f"; events from {was['event_id']} on are missing"
        if now[i]["sha256"] != was["sha256"]:
            return what + f"; first changed: event {was['event_id']} ({was['type']})"
    return what + f"; events added after event {len(events)}"


async def _case(
    report: BundleReport, files: dict[str, bytes], base: str, trust: Path | None
) -> None:
    record = ArchiveRecord.model_validate_json(files[f"{base}/record.json"])
    definition = files.get(f"{base}/definition.json", b"")
    digest = hashlib.sha256(definition).hexdigest()
    if digest == record.definition_hash:
        ProcedureDefinition.model_validate_json(definition)
        report.add(f"{base}/definition.json", True, f"the definition hash {digest[:12]}…")
    else:
        report.add(f"{base}/definition.json", False, "not the definition the case ran (hash)")
    code = record.dossier_code
    for doc in record.documents:
        name = f"documents/{code}/{doc.verification_code}.pdf"
        pdf = files.get(name)
        if pdf is None:
            continue  # reported missing with the files
        if hashlib.sha256(pdf).hexdigest() != doc.sha256:
            report.add(name, False, "not the document the case issued (hash)")
            continue
        v = signing.verify(pdf, trust or pki.ca_paths()[1])
        good = v.intact and v.valid and v.trusted and v.covers_whole_file
        what = (
            "signature valid, whole file, chains to the trusted CA"
            if good
            else (
                f"signature not valid (intact={v.intact}, trusted={v.trusted}, "
                f"whole file={v.covers_whole_file}{', ' + v.error if v.error else ''})"
            )
        )
        report.add(name, good, what)
    await _replays(report, files, f"{base}/history.json", code)


async def _replays(report: BundleReport, files: dict[str, bytes], name: str, code: str) -> None:
    try:
        history = history_from_json(files[name], code, where=name)
    except ValueError as e:
        report.add(name, False, str(e))
        return
    result = await replay(history, "file")
    report.add(name, result.outcome == "deterministic", result.line().split(": ", 1)[1])
