"""Published versions of procedure definitions: immutable, content-hashed, recorded with
who published them and when (ADR 0018).

One row per (procedure, version), never updated or deleted: the YAML as the analyst wrote
it (for diffs), the compiled definition's canonical JSON (what cases run) and its SHA-256,
the `hash` every case pins (motcua.workflows.contracts.CompiledProcedure). Publishing the
same content again answers the version it already has; a new content needs a `version:`
greater than every published one. The database is motcua.db's (SQLite file by default,
PostgreSQL by DATABASE_URL).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Column, DateTime, Text, UniqueConstraint, func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer
from sqlmodel import Field, SQLModel, col, select

from motcua import db

if TYPE_CHECKING:
    from motcua.workflows.contracts import CompiledProcedure


class PublishedDefinition(SQLModel, table=True):
    __tablename__ = "published_definition"
    __table_args__ = (UniqueConstraint("procedure_id", "hash", name="uq_published_content"),)

    procedure_id: str = Field(primary_key=True, max_length=200)
    version: int = Field(primary_key=True)
    hash: str = Field(max_length=64)
    title: str = Field(sa_column=Column(Text, nullable=False))
    source: str = Field(sa_column=Column(Text, nullable=False))  # the YAML as written
    definition: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON
    published_by: str = Field(max_length=200)
    published_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


@dataclass(frozen=True)
class Published:
    """A published version without its texts (for listings)."""

    procedure_id: str
    version: int
    hash: str
    title: str
    published_by: str
    published_at: datetime


class VersionTaken(Exception):
    """The definition's `version:` is not above every published version of the procedure."""

    def __init__(self, procedure_id: str, version: int, latest: Published) -> None:
        self.latest = latest
        same = "is already published with other content" if version == latest.version else ""
        taken = f"version {version} of {procedure_id} {same}".rstrip()
        super().__init__(
            f"{taken}: the latest published is version {latest.version} "
            f"(sha256 {latest.hash[:12]}…); publish this one as `version: {latest.version + 1}`"
            " or more"
        )


class Corrupt(Exception):
    """A stored version whose content no longer matches its hash."""


def published(found: PublishedDefinition) -> Published:
    """A row's version without its texts."""
    return Published(
        found.procedure_id, found.version, found.hash, found.title, found.published_by,
        db.utc(found.published_at),
    )  # fmt: skip


_TEXTS = (PublishedDefinition.source, PublishedDefinition.definition)


def _meta(*where: Any) -> list[Published]:
    """Versions matching `where`, oldest first, without loading their texts."""
    stmt = (
        select(PublishedDefinition)
        .options(*(defer(cast(Any, c)) for c in _TEXTS))
        .where(*where)
        .order_by(col(PublishedDefinition.procedure_id), col(PublishedDefinition.version))
    )
    with db.session() as s:
        return [published(r) for r in s.exec(stmt)]


def versions(procedure_id: str | None = None) -> list[Published]:
    """The published versions of `procedure_id` (of every procedure), oldest first."""
    if procedure_id is None:
        return _meta()
    return _meta(col(PublishedDefinition.procedure_id) == procedure_id)


def row(procedure_id: str, version: int) -> PublishedDefinition | None:
    """Version `version` of `procedure_id`, with its texts."""
    with db.session() as s:
        return s.get(PublishedDefinition, (procedure_id, version))


# hash -> its definition, parsed once: every case start reads the latest versions, and a
# version's content never changes (its text is checked against the hash on every read).
PARSED = 256
_parsed: dict[str, CompiledProcedure] = {}
_parsed_lock = threading.Lock()


def compiled(found: PublishedDefinition) -> CompiledProcedure:
    """The compiled procedure a published row holds, checked against its hash (Corrupt)."""
    from motcua.workflows.contracts import CompiledProcedure
    from motcua.workflows.dsl.model import ProcedureDefinition

    if hashlib.sha256(found.definition.encode()).hexdigest() != found.hash:
        raise Corrupt(
            f"published version {found.version} of {found.procedure_id} does not match its "
            f"hash {found.hash[:12]}…: the database row was altered"
        )
    hit = _parsed.get(found.hash)
    if hit is None:
        definition = ProcedureDefinition.model_validate_json(found.definition)
        hit = CompiledProcedure(definition=definition, hash=found.hash)
        with _parsed_lock:  # API requests run in several threads
            _parsed[found.hash] = hit
            while len(_parsed) > PARSED:
                _parsed.pop(next(iter(_parsed)))
    return hit


def latest_of(procedure_ids: Iterable[str] | None = None) -> dict[str, CompiledProcedure]:
    """The latest published version of each of `procedure_ids` (every procedure when None)
    that has one (Corrupt if one was altered)."""
    newest = select(
        PublishedDefinition.procedure_id, func.max(PublishedDefinition.version).label("v")
    )
    if procedure_ids is not None:
        wanted = list(dict.fromkeys(procedure_ids))
        if not wanted:
            return {}
        newest = newest.where(col(PublishedDefinition.procedure_id).in_(wanted))
    top = newest.group_by(col(PublishedDefinition.procedure_id)).subquery()
    stmt = select(PublishedDefinition).join(
        top,
        (col(PublishedDefinition.procedure_id) == top.c.procedure_id)
        & (col(PublishedDefinition.version) == top.c.v),
    )
    with db.session() as s:
        rows = list(s.exec(stmt))
    return {r.procedure_id: compiled(r) for r in rows}


def latest(procedure_id: str) -> CompiledProcedure | None:
    """The version new cases of `procedure_id` start on, or None if none is published."""
    return latest_of([procedure_id]).get(procedure_id)


def publish(procedure: CompiledProcedure, *, source: str, by: str) -> tuple[Published, bool]:
    """Record `procedure` (compiled from `source`) as published by `by`: (its version, True
    when recorded now; False when this content was published before). VersionTaken when
    its version is not above the latest published one."""
    from motcua.workflows.contracts import canonical

    definition = procedure.definition
    pid = definition.id
    for _ in range(2):  # a second pass sees a row a concurrent publisher just wrote
        known = versions(pid)  # one read: a concurrent publisher's row is in it, or not
        same = [v for v in known if v.hash == procedure.hash]
        if same:
            return same[0], False
        if known and definition.version <= known[-1].version:
            raise VersionTaken(pid, definition.version, known[-1])
        new = PublishedDefinition(
            procedure_id=pid, version=definition.version, hash=procedure.hash,
            title=definition.title, source=source, definition=canonical(definition).decode(),
            published_by=by, published_at=datetime.now(UTC),
        )  # fmt: skip
        if hashlib.sha256(new.definition.encode()).hexdigest() != procedure.hash:
            raise ValueError(f"{pid}: the hash was not taken of this definition")
        with db.session() as s:
            s.add(new)
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                continue
        return published(new), True
    known = versions(pid)
    same = [v for v in known if v.hash == procedure.hash]
    if same:
        return same[0], False
    raise VersionTaken(pid, definition.version, known[-1])
