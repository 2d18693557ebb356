"""The evidence bundle: one file that proves a case to someone who does not trust us.

`export_case` writes a zip holding, for the case and each of its member cases:
`cases/<code>/history.json` (Temporal's JSON history, payloads as recorded),
`cases/<code>/definition.json` (the canonical JSON its hash is taken of) and
`cases/<code>/record.json` (motcua.audit.archive.ArchiveRecord: status, documents,
decisions, members); `documents/<code>/<verification code>.pdf`, the signed results;
`timeline.json` and `timeline.txt` (motcua.audit.timeline, masked unless asked); and
`manifest.json`, signed (`manifest.sig`, RSA PKCS#1 v1.5 over SHA-256) by the archive's
certificate (`signer.pem`), issued by the CA that signs the agencies' certificates.

The manifest names every file with its SHA-256 and size, and for each history the SHA-256
of each event (its canonical JSON), so a changed event is named, not only its file.

`verify_bundle` (motcua.audit.verify) checks all of it offline.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from temporalio.client import Client, WorkflowHistory

from motcua import pki
from motcua.activities.store import get_store
from motcua.audit import archive
from motcua.audit.replay import load_history
from motcua.audit.timeline import build_timeline, render_text
from motcua.files import write_atomic

FORMAT = "motcua-evidence/1"
SIGNER = "archive"  # the certificate that signs bundles: pki agencies/archive.pem
MANIFEST, SIGNATURE, SIGNER_CERT = "manifest.json", "manifest.sig", "signer.pem"


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def event_hashes(history_json: bytes) -> list[dict[str, Any]]:
    """Each event's id, type and the SHA-256 of its canonical JSON."""
    events = json.loads(history_json)["events"]
    return [
        {
            "event_id": int(e.get("eventId") or e.get("event_id") or 0),
            "type": str(e.get("eventType") or e.get("event_type") or ""),
            "sha256": hashlib.sha256(canonical_json(e)).hexdigest(),
        }
        for e in events
    ]


class Bundle:
    """Files of a bundle being put together, with what the manifest says of them."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def add(self, name: str, data: bytes) -> None:
        self.files[name] = data

    def manifest(self, head: dict[str, Any], histories: dict[str, str]) -> bytes:
        files = {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
            for name, data in sorted(self.files.items())
        }
        events = {name: event_hashes(self.files[name]) for name in sorted(histories)}
        return canonical_json(head | {"files": files, "history_events": events})


async def export_case(
    client: Client | None, code: str, out: Path, *, personal_data: bool = False
) -> dict[str, Any]:
    """Write the evidence bundle of case `code` to `out`; returns its manifest."""
    bundle = Bundle()
    histories: dict[str, str] = {}  # file name -> workflow id
    fetched: dict[str, WorkflowHistory] = {}

    async def fetch_member(workflow_id: str) -> WorkflowHistory | None:
        if workflow_id not in fetched:
            try:
                fetched[workflow_id], _ = await load_history(client, workflow_id)
            except Exception:  # noqa: BLE001 - a member that cannot be found is listed as such
                return None
        return fetched[workflow_id]

    top, _ = await load_history(client, code)
    timeline = await build_timeline(top, personal_data=personal_data, fetch_member=fetch_member)
    for history in [top, *fetched.values()]:
        files = await archive.case_files(history)
        base = f"cases/{files.record.dossier_code}"
        bundle.add(f"{base}/history.json", files.history)
        bundle.add(f"{base}/definition.json", files.definition)
        bundle.add(f"{base}/record.json", archive.record_bytes(files.record))
        histories[f"{base}/history.json"] = files.record.dossier_code
        store = get_store()
        for doc in files.record.documents:
            name = f"documents/{files.record.dossier_code}/{doc.verification_code}.pdf"
            bundle.add(name, await asyncio.to_thread(store.get, doc.document_ref))
    bundle.add("timeline.json", timeline.model_dump_json(indent=2).encode())
    bundle.add("timeline.txt", render_text(timeline).encode())
    head = {
        "format": FORMAT,
        "dossier_code": code,
        "exported_at": datetime.now(UTC).isoformat(),
        "personal_data": personal_data,
    }
    manifest = bundle.manifest(head, histories)
    await asyncio.to_thread(_sign_and_write, out, manifest, bundle.files)
    parsed: dict[str, Any] = json.loads(manifest)
    return parsed


def _sign_and_write(out: Path, manifest: bytes, files: dict[str, bytes]) -> None:
    """Sign the manifest with the archive's certificate and write the zip (blocking)."""
    key_path, cert_path = pki.ensure_agency(SIGNER)
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    signature = key.sign(manifest, padding.PKCS1v15(), hashes.SHA256())
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(MANIFEST, manifest)
        z.writestr(SIGNATURE, base64.b64encode(signature) + b"\n")
        z.writestr(SIGNER_CERT, cert_path.read_bytes())
        for name, data in sorted(files.items()):
            z.writestr(name, data)
    write_atomic(out, buffer.getvalue())
