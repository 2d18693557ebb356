"""Archive and evidence-bundle size per birth bundle case, from real cases.

    .venv/bin/python bench/audit_sizes.py [--cases 3] [--out bench/results/audit_sizes.json]

Runs `--cases` birth bundles (birth registration, permanent residence, the child's health
insurance card) to completion, one after another, as tests/test_auditing.py's `bundle`
fixture runs one: Temporal's dev server from the venv's `temporal` with motcua's search
attributes, an SMTP sink, and per case the sandbox registries in a subprocess of their own
(the fixture's mother, whose birth certificate a sandbox registers only once) and the
product's worker (`motcua.worker.build_worker(..., short_lived=True)`, so the cases'
archiving is finished before it stops); tests/birth_bundle.py submits each bundle and has
each member's officer approve its review through the `decide` Update.
Everything is written under a temporary MOTCUA_DATA_DIR, removed at the end.

Then, per bundle case (its tree: the bundle and its three members):
- the archive: bytes of each case's history.json, definition.json and record.json as the
  directory archive holds them, per file kind and in all, and the history events (and what
  the histories would weigh as compact JSON: the archive writes protobuf's indented JSON);
- the evidence bundle `motcua export CODE` writes (`motcua.audit.evidence.export_case`,
  masked as the CLI's default): the zip's bytes, its files' uncompressed total, per kind,
  and the signed PDFs' share of both; and how long the export took.
Printed per case and as the median over the cases; saved as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="motcua-bench-sizes-"))
os.environ["MOTCUA_DATA_DIR"] = str(WORK / "data")
os.environ.setdefault("MOTCUA_CODEC_KEYS", "test:bW90Y3VhLXRlc3Qta2V5LW5vdC1mb3ItcHJvZC0zMmI=")

from temporalio.client import Client  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from motcua.audit import archive  # noqa: E402
from motcua.audit.evidence import export_case  # noqa: E402
from motcua.audit.store import get_archive  # noqa: E402
from motcua.smtp_sink import running_sink  # noqa: E402
from motcua.temporal import data_converter  # noqa: E402
from motcua.worker import build_worker  # noqa: E402
from motcua.workflows.contracts import SEARCH_ATTRIBUTES  # noqa: E402
from tests.birth_bundle import MEMBERS, run_birth_bundle  # noqa: E402
from tests.sandbox_server import sandbox_server  # noqa: E402

BIN = Path(sys.executable).parent
ARCHIVE_FILES = ("history.json", "definition.json", "record.json")


def archive_sizes(code: str) -> dict[str, Any]:
    """Bytes of each archive file of the case tree, per kind, and its events."""
    store = get_archive()
    kinds = dict.fromkeys(ARCHIVE_FILES, 0)
    events = compact = 0
    per_case: dict[str, int] = {}
    for case in [code, *(f"{code}.{m}" for m in MEMBERS)]:
        record = archive.latest(case)
        if record is None:
            raise RuntimeError(f"case {case} was not archived; the worker stopped before it")
        events += record.history_events
        per_case[case.removeprefix(code).lstrip(".") or "bundle"] = record.history_events
        for name in ARCHIVE_FILES:
            data = store.get(f"{archive.folder(case, record.run_id)}/{name}")
            if data is None:
                raise RuntimeError(f"case {case}: archive file {name} is missing")
            kinds[name] += len(data)
            if name == "history.json":
                compact += len(json.dumps(json.loads(data), separators=(",", ":")).encode())
    return {
        "cases": 1 + len(MEMBERS),
        "events": events,
        "events_per_case": per_case,
        **kinds,
        "total": sum(kinds.values()),
        "history.json if compact": compact,
    }


def bundle_kind(name: str) -> str:
    if name.endswith(".pdf"):
        return "pdf"
    if name.startswith("cases/"):
        return name.rsplit("/", 1)[-1]  # history.json, definition.json, record.json
    return name  # timeline.json, timeline.txt, manifest.json, manifest.sig, signer.pem


async def bundle_sizes(client: Client, code: str) -> dict[str, Any]:
    """The evidence bundle of `code`: zip bytes, uncompressed total, per kind, PDFs' share."""
    out = WORK / "exports" / f"{code}.zip"
    began = time.perf_counter()
    await export_case(client, code, out)
    seconds = time.perf_counter() - began
    with zipfile.ZipFile(out) as z:
        infos = z.infolist()
    per_kind: dict[str, int] = {}
    for info in infos:
        kind = bundle_kind(info.filename)
        per_kind[kind] = per_kind.get(kind, 0) + info.file_size
    pdfs = [i for i in infos if i.filename.endswith(".pdf")]
    pdfs_per_case: dict[str, int] = {}
    for info in pdfs:  # documents/<code>/<verification code>.pdf
        case = info.filename.split("/")[1].removeprefix(code).lstrip(".") or "bundle"
        pdfs_per_case[case] = pdfs_per_case.get(case, 0) + 1
    zip_bytes = out.stat().st_size
    uncompressed = sum(i.file_size for i in infos)
    return {
        "zip": zip_bytes,
        "uncompressed": uncompressed,
        "files": len(infos),
        "pdfs": len(pdfs),
        "pdfs_per_case": pdfs_per_case,
        "pdf_in_zip": sum(i.compress_size for i in pdfs),
        "pdf_share_of_zip": round(sum(i.compress_size for i in pdfs) / zip_bytes, 3),
        "pdf_share_uncompressed": round(sum(i.file_size for i in pdfs) / uncompressed, 3),
        "uncompressed_per_kind": dict(sorted(per_kind.items())),
        "export_seconds": round(seconds, 2),
    }


def median_of(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The median of each number over the cases (nested dicts alike; a missing key is 0)."""
    out: dict[str, Any] = {}
    for key in dict.fromkeys(k for r in rows for k in r):
        values = [r.get(key, 0) for r in rows]
        if any(isinstance(v, dict) for v in values):
            out[key] = median_of([v or {} for v in values])
        else:
            out[key] = statistics.median(values)
    return out


def kib(n: float) -> str:
    return f"{n / 1024:.1f} KiB"


def describe(label: str, a: dict[str, Any], b: dict[str, Any]) -> str:
    kinds = ", ".join(f"{k} {kib(a[k])}" for k in ARCHIVE_FILES)
    kinds += f"; history.json as compact JSON {kib(a['history.json if compact'])}"
    return (
        f"{label}: archive {kib(a['total'])} for {a['cases']} cases, {a['events']} events "
        f"({kinds}); evidence zip {kib(b['zip'])} ({b['files']} files, "
        f"{kib(b['uncompressed'])} uncompressed), {b['pdfs']} PDFs {kib(b['pdf_in_zip'])} = "
        f"{b['pdf_share_of_zip']:.0%} of the zip, {b['pdf_share_uncompressed']:.0%} "
        f"uncompressed; export {b['export_seconds']} s"
    )


async def one_case(client: Client) -> str:
    """One bundle on a sandbox of its own (the same mother's birth certificate cannot be
    registered twice in one), by a worker that finishes the archiving before it stops."""
    with sandbox_server() as sandbox:
        os.environ["MOTCUA_SANDBOX_URL"] = sandbox
        for name in ("POPULATION", "CIVIL_STATUS", "RESIDENCE", "SOCIAL_INSURANCE", "HEALTH"):
            os.environ.pop(f"MOTCUA_{name}_URL", None)
        task_queue = f"bench-sizes-{uuid.uuid4()}"
        async with build_worker(client, task_queue=task_queue, short_lived=True) as worker:
            bundle = await run_birth_bundle(
                client, worker, sandbox, comment="Hồ sơ của chị đầy đủ", wait=90
            )
            return bundle.code


async def measure(cases: int) -> dict[str, Any]:
    with running_sink(WORK / "mail") as (host, port):
        os.environ.update(MOTCUA_SMTP_HOST=host, MOTCUA_SMTP_PORT=str(port))
        env = await WorkflowEnvironment.start_local(
            data_converter=data_converter(),
            dev_server_existing_path=str(BIN / "temporal"),
            search_attributes=SEARCH_ATTRIBUTES,
            dev_server_log_level="error",
        )
        try:
            rows: list[dict[str, Any]] = []
            for i in range(cases):
                began = time.perf_counter()
                code = await one_case(env.client)
                ran = time.perf_counter() - began
                print(f"case {i + 1}: completed and archived in {ran:.1f} s", flush=True)
                archived, bundle = archive_sizes(code), await bundle_sizes(env.client, code)
                print(describe(f"case {i + 1}", archived, bundle), flush=True)
                rows.append({"archive": archived, "bundle": bundle, "run_seconds": round(ran, 1)})
        finally:
            await env.shutdown()
    median = {
        "archive": median_of([r["archive"] for r in rows]),
        "bundle": median_of([r["bundle"] for r in rows]),
    }
    text = describe(f"median of {cases}", median["archive"], median["bundle"])
    print(text)
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "cases": cases,
        "per_case": rows,
        "median": median,
        "summary": text,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=3, help="birth bundles, one after another")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/audit_sizes.json")
    args = parser.parse_args()
    try:
        result = asyncio.run(measure(args.cases))
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
