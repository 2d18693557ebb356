"""The archive of closed cases: each case's full history, its definition and its facts.

As a case closes, its last act starts its archiving workflow (`archive.start`,
motcua.workflows.archiving), whose activity `archive.write_case` writes, under
`<dossier code>/<run id>/` of the archive (motcua.audit.store):
- `history.json`: the full history in Temporal's JSON history format, as Temporal keeps it
  (payloads still encrypted: the archive holds no personal data in plain text);
- `definition.json`: the definition the case ran, as the canonical JSON its hash is taken of;
- `record.json` (last, so its presence means the rest is there): an `ArchiveRecord` naming
  the procedure, the definition hash, the status, the documents (hashes, verification
  codes), the officers' decisions and the member cases, with the hashes of both files.

Writing is idempotent: a second archiving of the same run finds its record and writes
nothing. `motcua archive` archives cases closed before archiving existed, or whose
archiving child was lost (a terminated case never starts one).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ValidationError
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHistory
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError

from motcua.activities import definitions
from motcua.activities.documents import IssuedDocument
from motcua.activities.store import StoreError
from motcua.audit.history import DecisionFact, MemberFact, read_facts
from motcua.audit.store import ArchiveStore, get_archive, segment
from motcua.workflows.archiving import (
    ARCHIVE_ACTIVITY,
    ARCHIVE_START_ACTIVITY,
    ArchiveInput,
    ArchiveReceipt,
    CaseArchiveWorkflow,
    archive_workflow_id,
)
from motcua.workflows.contracts import canonical

POLL = 0.05  # seconds between two looks at a case that is closing
FORMAT: Literal["motcua-archive/1"] = "motcua-archive/1"


class ArchivedFile(BaseModel):
    key: str
    sha256: str
    size: int


class ArchiveRecord(BaseModel):
    format: Literal["motcua-archive/1"] = FORMAT
    dossier_code: str
    run_id: str
    parent: str | None = None
    procedure_id: str
    procedure_version: int
    definition_hash: str
    status: str
    started_at: datetime
    closed_at: datetime | None
    archived_at: datetime
    history: ArchivedFile
    history_events: int
    definition: ArchivedFile
    documents: list[IssuedDocument] = []
    decisions: list[DecisionFact] = []
    members: list[MemberFact] = []


class CaseStillOpen(Exception):
    """The case has not closed yet; its history is not complete."""


class ArchiveMissing(Exception):
    """Neither Temporal nor the archive has the case; the message says what was looked for."""


def folder(code: str, run_id: str) -> str:
    return f"{segment(code)}/{segment(run_id)}"


def _file(key: str, data: bytes) -> ArchivedFile:
    return ArchivedFile(key=key, sha256=hashlib.sha256(data).hexdigest(), size=len(data))


async def archive_case(
    client: Client,
    code: str,
    run_id: str | None = None,
    *,
    archive: ArchiveStore | None = None,
    wait: float = 0.0,
) -> tuple[ArchiveRecord, bool]:
    """Archive the closed case `code` (its latest run, or `run_id`): (record, written).
    CaseStillOpen if it still runs after `wait` seconds."""
    store = archive or get_archive()
    handle = client.get_workflow_handle(code, run_id=run_id)
    described = await handle.describe()
    for _ in range(int(wait / POLL)):
        if described.status != WorkflowExecutionStatus.RUNNING:
            break
        await asyncio.sleep(POLL)
        described = await handle.describe()
    if described.status == WorkflowExecutionStatus.RUNNING:
        raise CaseStillOpen(f"case {code} is still running; it is archived once it closes")
    base = folder(code, described.run_id)
    found = store.get(f"{base}/record.json")
    if found is not None:
        return ArchiveRecord.model_validate_json(found), False
    history = await client.get_workflow_handle(code, run_id=described.run_id).fetch_history()
    record = await write(history, store)
    return record, True


@dataclass(frozen=True)
class CaseFiles:
    """A case's archive entry before it is stored: its record and the bytes it names."""

    record: ArchiveRecord
    history: bytes
    definition: bytes


async def case_files(history: WorkflowHistory) -> CaseFiles:
    """The archive entry of a case's `history` (read and decoded, nothing written)."""
    facts = await read_facts(history)
    start = facts.start
    if start.procedure is not None:
        compiled = start.procedure
    elif start.procedure_ref is not None:  # a member: its definition is in the store
        compiled = definitions.get(start.procedure_ref.hash)
    else:
        raise ArchiveMissing(f"case {facts.dossier_code}: its start input names no definition")
    base = folder(facts.dossier_code, facts.run_id)
    # Compact (a quarter smaller than protobuf's indented JSON, the same format) and with
    # sorted keys: protobuf maps (search attributes, headers) come in no given order, and
    # the same history must give the same bytes when it is archived again.
    history_json = json.dumps(history.to_json_dict(), separators=(",", ":"), sort_keys=True)
    history_bytes = history_json.encode()
    definition_bytes = canonical(compiled.definition)
    record = ArchiveRecord(
        dossier_code=facts.dossier_code,
        run_id=facts.run_id,
        parent=start.parent,
        procedure_id=compiled.definition.id,
        procedure_version=compiled.definition.version,
        definition_hash=compiled.hash,
        status=facts.status,
        started_at=facts.started_at,
        closed_at=facts.closed_at,
        archived_at=datetime.now(UTC),
        history=_file(f"{base}/history.json", history_bytes),
        history_events=len(history.events),
        definition=_file(f"{base}/definition.json", definition_bytes),
        documents=facts.documents,
        decisions=facts.decisions,
        members=facts.members,
    )
    return CaseFiles(record, history_bytes, definition_bytes)


async def write(history: WorkflowHistory, store: ArchiveStore) -> ArchiveRecord:
    """Write the archive entry of a closed case's `history` (idempotent)."""
    files = await case_files(history)
    record = files.record
    store.put(record.history.key, files.history)
    store.put(record.definition.key, files.definition)
    store.put(f"{folder(record.dossier_code, record.run_id)}/record.json", record_bytes(record))
    return record


def record_bytes(record: ArchiveRecord) -> bytes:
    return record.model_dump_json(indent=2).encode()


# ---------------------------------------------------------------- reading


def records(code: str, archive: ArchiveStore | None = None) -> list[ArchiveRecord]:
    """Every archived run of case `code`, the latest closed last."""
    store = archive or get_archive()
    found: list[ArchiveRecord] = []
    for key in store.keys(segment(code)):
        if key.endswith("/record.json"):
            data = store.get(key)
            if data is not None:
                found.append(ArchiveRecord.model_validate_json(data))
    return sorted(found, key=lambda r: r.closed_at or r.started_at)


def latest(code: str, archive: ArchiveStore | None = None) -> ArchiveRecord | None:
    found = records(code, archive)
    return found[-1] if found else None


def read_history(record: ArchiveRecord, archive: ArchiveStore | None = None) -> WorkflowHistory:
    """The archived history of `record`, checked against the hash the record holds."""
    data = _read(record.history, archive)
    return WorkflowHistory.from_json(record.dossier_code, json.loads(data))


def read_definition(record: ArchiveRecord, archive: ArchiveStore | None = None) -> bytes:
    return _read(record.definition, archive)


def _read(file: ArchivedFile, archive: ArchiveStore | None) -> bytes:
    data = (archive or get_archive()).get(file.key)
    if data is None:
        raise ArchiveMissing(f"archive entry {file.key} is missing")
    if hashlib.sha256(data).hexdigest() != file.sha256:
        raise ArchiveMissing(f"archive entry {file.key} does not match the hash its record holds")
    return data


def all_records(archive: ArchiveStore | None = None) -> list[ArchiveRecord]:
    store = archive or get_archive()
    found = []
    for key in store.keys():
        if key.endswith("/record.json"):
            data = store.get(key)
            try:
                found.append(ArchiveRecord.model_validate_json(data or b""))
            except ValidationError:
                continue  # not ours; `motcua replay --all` reports what it cannot read
    return found


# ---------------------------------------------------------------- the activity


@activity.defn(name=ARCHIVE_ACTIVITY)
async def write_case(case: ArchiveInput) -> ArchiveReceipt:
    """Archive the case once it has closed (retried until it has, and until it is written)."""
    try:
        # The case is closing as this runs: a few looks spare it a failed attempt (and the
        # warning the SDK logs for it) in nearly every case.
        client = activity.client()
        record, written = await archive_case(client, case.dossier_code, case.run_id, wait=2.0)
    except CaseStillOpen as e:
        raise ApplicationError(
            str(e), type="CaseStillOpen", next_retry_delay=timedelta(milliseconds=200)
        ) from None
    except StoreError as e:  # a member's definition missing from the store: an operator's job
        raise ApplicationError(f"case {case.dossier_code}: {e}", type="DefinitionMissing") from e
    return ArchiveReceipt(
        dossier_code=record.dossier_code,
        run_id=record.run_id,
        written=written,
        history_sha256=record.history.sha256,
        events=record.history_events,
    )


@activity.defn(name=ARCHIVE_START_ACTIVITY)
async def start_archiving(case: ArchiveInput) -> None:
    """Start the case's archiving workflow (a local activity, the case's last act). Not a
    child of the case: its parent closing first would leave Temporal's time-skipping test
    server waiting on it, and it needs nothing from the case but its id."""
    await activity.client().start_workflow(
        CaseArchiveWorkflow.run,
        case,
        id=archive_workflow_id(case.dossier_code),
        task_queue=activity.info().task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,  # a retry of this start
    )


ACTIVITIES = [start_archiving, write_case]


class ArchiveWaiter:
    """Lets a short-lived worker on a task queue of its own (a test, `motcua simulate`)
    finish the archiving of the cases it closed before it stops: nothing else polls its
    queue, so an archiving left behind would wait forever (and hold a time-skipping test
    server's clock still). `activity` replaces `archive.start` on that worker."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def activity(self) -> Callable[[ArchiveInput], Awaitable[None]]:
        @activity.defn(name=ARCHIVE_START_ACTIVITY)
        async def start_archiving_here(case: ArchiveInput) -> None:
            await start_archiving(case)
            self.started.append(archive_workflow_id(case.dossier_code))

        return start_archiving_here

    async def settled(self, client: Client, timeout: float = 30.0) -> None:
        """Wait for the archivings started here (each at most `timeout` seconds)."""
        for workflow_id in self.started:
            with contextlib.suppress(Exception):  # a failed archiving is its own test's concern
                await asyncio.wait_for(client.get_workflow_handle(workflow_id).result(), timeout)
        self.started.clear()
