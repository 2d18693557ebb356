"""The agency's own register book (sổ đăng ký): a durable record a procedure writes to.

Each book (e.g. `khai_sinh`, the birth register) numbers its entries 1, 2, 3, ... in the
order they are written; a number is never reused, and a voided entry keeps its number
(as in a paper register, it is struck through, not torn out).

Idempotency: every write carries the workflow's idempotency key (dossier code + ":" + step
id), stored under a UNIQUE constraint. A repeated call with the same key (an activity retry,
a worker crash after the write, a replay) returns the stored result with `replayed=True`
and writes nothing. Two attempts racing each other both try to insert; the database keeps
one, and the loser catches the IntegrityError and reads the winner's row. Entry numbers are
`max + 1` per book under a UNIQUE (book, entry_no) constraint, retried on collision, so
concurrent writers to one book never share a number. The same key sent again with a
different entry is refused (IdempotencyConflict): that is a bug, never a retry.

`register.void` (what `compensate` calls) marks an entry voided; it is idempotent too:
voiding an already voided entry returns the recorded void.

The book lives in the SQL database (`motcua.db`): SQLite under the data dir by default,
PostgreSQL through DATABASE_URL. `ledger(book)` reads a whole book, for tests and audits.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy import JSON, Column, DateTime, UniqueConstraint, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from motcua import db
from motcua.activities.base import ActivityInput

BOOK_PATTERN = r"^[a-z0-9][a-z0-9_.\-]{0,99}$"
_NUMBERING_ATTEMPTS = 20


class RegisterEntryRow(SQLModel, table=True):
    __tablename__ = "register_entry"
    __table_args__ = (UniqueConstraint("book", "entry_no", name="uq_register_book_entry_no"),)

    id: int | None = SQLField(default=None, primary_key=True)
    book: str = SQLField(index=True, max_length=100)
    entry_no: int
    idempotency_key: str = SQLField(unique=True, max_length=300)
    dossier_code: str = SQLField(default="", index=True, max_length=200)
    entry: dict[str, Any] = SQLField(default_factory=dict, sa_column=Column(JSON, nullable=False))
    fingerprint: str = SQLField(max_length=64)
    written_at: datetime = SQLField(sa_column=Column(DateTime(timezone=True), nullable=False))
    voided_at: datetime | None = SQLField(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    void_reason: str | None = None
    void_key: str | None = SQLField(default=None, max_length=300)


# ---------------------------------------------------------------- inputs and results


class WriteInput(ActivityInput):
    book: str = Field(description="Register book name, e.g. 'khai_sinh'")
    entry: dict[str, Any] = Field(description="What the register records (JSON values)")


class WriteResult(BaseModel):
    entry_no: int
    book: str
    written_at: AwareDatetime
    idempotency_key: str
    replayed: bool = Field(description="True when this key had already written the entry")


class VoidInput(ActivityInput):
    book: str
    of_key: str = Field(description="Idempotency key of the register.write to void")
    reason: str = Field(min_length=1)


class VoidResult(BaseModel):
    book: str
    entry_no: int
    of_key: str
    voided_at: AwareDatetime
    reason: str
    idempotency_key: str = Field(description="Key of the void that took effect")
    replayed: bool = Field(description="True when the entry had already been voided")


class GetInput(ActivityInput):
    book: str
    entry_no: int = Field(ge=1)


class RegisterEntry(BaseModel):
    book: str
    entry_no: int
    entry: dict[str, Any]
    idempotency_key: str
    dossier_code: str
    written_at: AwareDatetime
    voided: bool
    voided_at: AwareDatetime | None = None
    void_reason: str | None = None


# ---------------------------------------------------------------- helpers


def _check_book(book: str) -> None:
    if not re.match(BOOK_PATTERN, book):
        raise ApplicationError(
            "invalid register book name: lower-case letters, digits, '_', '.', '-' (at most 100)",
            type="InvalidInput",
            non_retryable=True,
        )


def _require_key(key: str, what: str) -> None:
    if not key:
        raise ApplicationError(
            f"{what} needs an idempotency_key (the workflow fills it in)",
            type="InvalidInput",
            non_retryable=True,
        )


def _fingerprint(book: str, entry: dict[str, Any]) -> str:
    try:
        canonical = json.dumps(
            {"book": book, "entry": entry}, sort_keys=True, ensure_ascii=False, default=str
        )
    except (TypeError, ValueError) as err:
        raise ApplicationError(
            f"register entry is not JSON data: {type(err).__name__}",
            type="InvalidInput",
            non_retryable=True,
        ) from err
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _by_key(s: Any, key: str) -> RegisterEntryRow | None:
    row: RegisterEntryRow | None = s.exec(
        select(RegisterEntryRow).where(RegisterEntryRow.idempotency_key == key)
    ).first()
    return row


def _write_result(row: RegisterEntryRow, replayed: bool) -> WriteResult:
    return WriteResult(
        entry_no=row.entry_no,
        book=row.book,
        written_at=db.utc(row.written_at),
        idempotency_key=row.idempotency_key,
        replayed=replayed,
    )


def _replay(row: RegisterEntryRow, book: str, fingerprint: str) -> WriteResult:
    if row.book != book or row.fingerprint != fingerprint:
        raise ApplicationError(
            "idempotency key already wrote a different register entry "
            f"(book {row.book!r}, entry {row.entry_no})",
            type="IdempotencyConflict",
            non_retryable=True,
        )
    return _write_result(row, replayed=True)


# ---------------------------------------------------------------- blocking work


def _write(req: WriteInput) -> WriteResult:
    fingerprint = _fingerprint(req.book, req.entry)
    for _ in range(_NUMBERING_ATTEMPTS):
        with db.session() as s:
            found = _by_key(s, req.idempotency_key)
            if found is not None:
                return _replay(found, req.book, fingerprint)
            last = s.exec(
                select(func.max(RegisterEntryRow.entry_no)).where(RegisterEntryRow.book == req.book)
            ).one()
            row = RegisterEntryRow(
                book=req.book,
                entry_no=(last or 0) + 1,
                idempotency_key=req.idempotency_key,
                dossier_code=req.dossier_code,
                entry=req.entry,
                fingerprint=fingerprint,
                written_at=datetime.now(UTC),
            )
            s.add(row)
            try:
                s.commit()
            except IntegrityError:
                # Either another attempt with our key won (read it next time round), or
                # another writer took the number (take the next one).
                s.rollback()
                continue
            return _write_result(row, replayed=False)
    raise RuntimeError(f"register book {req.book!r}: could not allocate an entry number")


def _void(req: VoidInput) -> VoidResult:
    with db.session() as s:
        row = _by_key(s, req.of_key)
        if row is None or row.book != req.book:
            raise ApplicationError(
                f"register book {req.book!r} has no entry written with that key",
                type="NotFound",
                non_retryable=True,
            )
        replayed = row.voided_at is not None
        if not replayed:
            # Conditional update: of two concurrent voids only one changes the row.
            result = s.connection().execute(
                RegisterEntryRow.__table__.update()  # type: ignore[attr-defined]
                .where(RegisterEntryRow.__table__.c.id == row.id)  # type: ignore[attr-defined]
                .where(RegisterEntryRow.__table__.c.voided_at.is_(None))  # type: ignore[attr-defined]
                .values(
                    voided_at=datetime.now(UTC),
                    void_reason=req.reason,
                    void_key=req.idempotency_key or None,
                )
            )
            s.commit()
            replayed = result.rowcount == 0
            s.refresh(row)
        assert row.voided_at is not None
        return VoidResult(
            book=row.book,
            entry_no=row.entry_no,
            of_key=row.idempotency_key,
            voided_at=db.utc(row.voided_at),
            reason=row.void_reason or "",
            idempotency_key=row.void_key or "",
            replayed=replayed,
        )


def _entry(row: RegisterEntryRow) -> RegisterEntry:
    return RegisterEntry(
        book=row.book,
        entry_no=row.entry_no,
        entry=row.entry,
        idempotency_key=row.idempotency_key,
        dossier_code=row.dossier_code,
        written_at=db.utc(row.written_at),
        voided=row.voided_at is not None,
        voided_at=db.utc(row.voided_at) if row.voided_at is not None else None,
        void_reason=row.void_reason,
    )


def _get(req: GetInput) -> RegisterEntry:
    with db.session() as s:
        row = s.exec(
            select(RegisterEntryRow).where(
                RegisterEntryRow.book == req.book, RegisterEntryRow.entry_no == req.entry_no
            )
        ).first()
    if row is None:
        raise ApplicationError(
            f"register book {req.book!r} has no entry {req.entry_no}",
            type="NotFound",
            non_retryable=True,
        )
    return _entry(row)


def ledger(book: str) -> list[RegisterEntry]:
    """Every entry of `book` in entry order, voided ones included."""
    with db.session() as s:
        rows = s.exec(
            select(RegisterEntryRow)
            .where(RegisterEntryRow.book == book)
            .order_by(RegisterEntryRow.entry_no)  # type: ignore[arg-type]
        ).all()
    return [_entry(r) for r in rows]


# ---------------------------------------------------------------- activities


@activity.defn(name="register.write")
async def write(req: WriteInput) -> WriteResult:
    """Write `entry` to `book` once per idempotency key; the next entry number is its own."""
    _check_book(req.book)
    _require_key(req.idempotency_key, "register.write")
    return await db.run_sync(_write, req)


@activity.defn(name="register.void")
async def void(req: VoidInput) -> VoidResult:
    """Mark the entry written under `of_key` voided, with `reason`; idempotent."""
    _check_book(req.book)
    return await db.run_sync(_void, req)


@activity.defn(name="register.get")
async def get(req: GetInput) -> RegisterEntry:
    """Entry `entry_no` of `book`; ApplicationError type NotFound (non-retryable) if none."""
    _check_book(req.book)
    return await db.run_sync(_get, req)


ACTIVITIES: list[Any] = [write, void, get]
