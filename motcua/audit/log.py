"""The audit log: one entry per action that read or changed a case, each holding the hash
of the one before it, so that changing, removing or reordering an entry shows.

An entry is (seq, at, actor, role, action, case_code, detail, prev_hash, hash): `seq` is
its place in the chain (1, 2, ...), `detail` canonical JSON of ids, steps and counts (never
personal data: see motcua.audit.keyed), `prev_hash` the `hash` of entry seq - 1 (64 zeros
for the first) and `hash` the SHA-256 of the canonical JSON of every other field. A
citizen is recorded by a keyed pseudonym of their personal id; staff accounts, and the OS
user of a CLI command (role "cli"), as they are.

Actions in use: decide, assign, resume, supplement, download, decode, view, publish (this
module's callers in motcua.api.routers and motcua.cli), and replay, timeline, export.
Changes are recorded once they took effect, reads before the data is handed out.

Appending never forks the chain, whoever appends at the same moment (API workers, CLI
commands): `seq` is the primary key, so of two appenders that read the same last entry
only one inserts, the other gets an IntegrityError and appends again after it. On
PostgreSQL appenders first take one transaction-scoped advisory lock, so they queue
instead of retrying; SQLite's single writer queues them at the insert.

`verify()` walks the chain in order and names the first broken entry.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import BigInteger, Column, DateTime, Text, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, col, or_, select

from motcua import db
from motcua.audit.keyed import pseudonym

GENESIS = "0" * 64
LOCK_ID = 0x61756474  # "audt": PostgreSQL's advisory lock for appenders
ATTEMPTS = 200
MAX_PROBLEMS = 20


class AuditLogRow(SQLModel, table=True):
    __tablename__ = "audit_log"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    actor: str = Field(max_length=200)
    role: str = Field(max_length=40)
    action: str = Field(max_length=40)
    case_code: str | None = Field(default=None, index=True, max_length=200)
    detail: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditEntry(BaseModel):
    """One entry, as appended or read back."""

    model_config = ConfigDict(frozen=True)

    seq: int
    at: datetime
    actor: str
    role: str
    action: str
    case_code: str | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str


class ChainReport(BaseModel):
    """What `verify()` found: `ok`, or the first broken entry and every problem in words
    (at most MAX_PROBLEMS); the head (last seq and hash) to keep outside the database."""

    ok: bool
    entries: int
    first_broken: int | None = None
    problems: list[str] = []
    head_seq: int | None = None
    head_hash: str | None = None


class AuditError(Exception):
    """An entry that cannot be appended; the message says why."""


# ---------------------------------------------------------------- hashing


def canonical(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _moment(at: datetime) -> str:
    return db.utc(at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(row: AuditLogRow) -> str:
    """SHA-256 of the canonical JSON of every field but `hash` (`prev_hash` included)."""
    fields = {
        "seq": row.seq, "at": _moment(row.at), "actor": row.actor, "role": row.role,
        "action": row.action, "case_code": row.case_code, "detail": row.detail,
        "prev_hash": row.prev_hash,
    }  # fmt: skip
    return hashlib.sha256(canonical(fields).encode("utf-8")).hexdigest()


def _entry(row: AuditLogRow) -> AuditEntry:
    return AuditEntry(
        seq=row.seq, at=db.utc(row.at), actor=row.actor, role=row.role, action=row.action,
        case_code=row.case_code, detail=json.loads(row.detail), prev_hash=row.prev_hash,
        hash=row.hash,
    )  # fmt: skip


# ---------------------------------------------------------------- appending


def _checked(name: str, value: str | None, limit: int) -> None:
    if value is not None and not (0 < len(value) <= limit):
        raise AuditError(f"an audit entry's {name} must be 1-{limit} characters")


def _append(conn: Connection, fields: dict[str, Any]) -> AuditLogRow:
    table = AuditLogRow.__table__  # type: ignore[attr-defined]
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": LOCK_ID})
    last = conn.execute(
        select(table.c.seq, table.c.hash).order_by(table.c.seq.desc()).limit(1)
    ).first()
    row = AuditLogRow(
        seq=last.seq + 1 if last else 1, at=datetime.now(UTC),
        prev_hash=last.hash if last else GENESIS, hash="", **fields,
    )  # fmt: skip
    row.hash = entry_hash(row)
    conn.execute(table.insert().values(row.model_dump()))
    return row


def record(
    action: str,
    *,
    actor: str,
    role: str,
    case: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append an entry: `actor` did `action` as `role`, on `case` if any; `detail` holds
    ids, steps and counts only. A citizen (role "citizen") is recorded by pseudonym."""
    _checked("action", action, 40)
    _checked("role", role, 40)
    _checked("actor", actor, 200)
    _checked("case code", case, 200)
    fields = {
        "actor": pseudonym(actor) if role == "citizen" else actor, "role": role,
        "action": action, "case_code": case, "detail": canonical(dict(detail or {})),
    }  # fmt: skip
    engine = db.get_engine()
    for attempt in range(ATTEMPTS):
        try:
            with engine.begin() as conn:
                return _entry(_append(conn, fields))
        except IntegrityError:
            # Another appender took this seq first: append after it.
            time.sleep(random.uniform(0, 0.001 * min(attempt + 1, 10)))
    raise AuditError(
        f"could not append to the audit log after {ATTEMPTS} attempts: other appenders kept "
        "taking the next entry first"
    )


async def arecord(
    action: str,
    *,
    actor: str,
    role: str,
    case: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """`record`, off the event loop (for the API and other async callers)."""
    return await db.run_sync(
        lambda: record(action, actor=actor, role=role, case=case, detail=detail)
    )


# ---------------------------------------------------------------- reading and verifying


def entries(*, case: str | None = None, limit: int = 50) -> list[AuditEntry]:
    """The last `limit` entries, oldest first; with `case`, those of the case and its
    member cases (`CODE.step`)."""
    stmt = select(AuditLogRow).order_by(col(AuditLogRow.seq).desc()).limit(limit)
    if case is not None:
        code = col(AuditLogRow.case_code)
        stmt = stmt.where(or_(code == case, code.startswith(f"{case}.", autoescape=True)))
    with db.session() as s:
        return [_entry(r) for r in reversed(s.exec(stmt).all())]


def _rows(batch: int = 2000) -> Iterator[AuditLogRow]:
    after = 0
    while True:
        with db.session() as s:
            stmt = (
                select(AuditLogRow)
                .where(col(AuditLogRow.seq) > after)
                .order_by(col(AuditLogRow.seq))
                .limit(batch)
            )
            rows = s.exec(stmt).all()
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1].seq


def _missing(expected: int, found: int) -> str:
    if found == expected + 1:
        return f"entry {expected} is missing"
    return f"entries {expected}-{found - 1} are missing"


def verify() -> ChainReport:
    """Walk the whole chain: every seq present from 1, every hash its contents', every
    prev_hash the hash of the entry before."""
    problems: list[str] = []
    first: int | None = None
    count, expected, prev_hash, head = 0, 1, GENESIS, None

    def broken(seq: int, problem: str) -> None:
        nonlocal first
        first = seq if first is None else first
        if len(problems) < MAX_PROBLEMS:
            problems.append(problem)

    for row in _rows():
        count += 1
        if row.seq != expected:
            broken(expected, _missing(expected, row.seq))
        elif row.prev_hash != prev_hash:
            broken(
                row.seq,
                f"entry {row.seq}: prev_hash is not the hash of entry {row.seq - 1}"
                if row.seq > 1
                else "entry 1: prev_hash is not the chain's start (64 zeros)",
            )
        if entry_hash(row) != row.hash:
            broken(row.seq, f"entry {row.seq}: its hash does not match its contents")
        expected, prev_hash, head = row.seq + 1, row.hash, row
    return ChainReport(
        ok=first is None, entries=count, first_broken=first, problems=problems,
        head_seq=head.seq if head else None, head_hash=head.hash if head else None,
    )  # fmt: skip
