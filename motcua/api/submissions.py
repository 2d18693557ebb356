"""What citizens submitted through the API: one row per (citizen, Idempotency-Key), which
makes a repeated submit return the same dossier and records who owns each dossier; and
the citizens' ratings, one per dossier.

A submission claims its row (the primary key is the citizen and the key) *before* its case
starts: of twenty concurrent repeats one inserts the row and starts the case, the others
find the row and wait for its dossier code. Just before each start attempt the row records
the code it is tried under (`trying_code`), and the case carries the submission's mark in
its memo: a submitter that died between the start and the record leaves a row that the
next repeat completes from the case it finds, rather than starting a second one. A row
left without a case (its submitter died before starting, or the start was refused) is
taken over, or deleted, so the citizen can submit again.

The request itself is kept as an HMAC under the codec's active key (never the dossier),
to tell a repeat from another dossier sent with the same key.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Column, DateTime, delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, col, select

from motcua import db
from motcua.codec import load_keyring

CLAIM_GRACE = 60.0  # seconds a claim may stay without a dossier code (its start in flight)
WAIT_FOR_FIRST = 30.0  # seconds a repeat waits for the first submission's dossier code
POLL = 0.1


class Submission(SQLModel, table=True):
    __tablename__ = "citizen_submission"

    owner: str = Field(primary_key=True, max_length=64)  # the citizen's `sub`
    idempotency_key: str = Field(primary_key=True, max_length=200)
    request_mac: str = Field(max_length=64)
    procedure_id: str = Field(max_length=200)
    dossier_code: str | None = Field(default=None, max_length=200, unique=True, index=True)
    trying_code: str | None = Field(default=None, max_length=200)
    claimed_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    submitted_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    # For the programme's measures (motcua.readmodel.measures): how many fields the citizen
    # typed beyond what the registries filled, and when they opened the form.
    typed_fields: int | None = None
    form_opened_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class Rating(SQLModel, table=True):
    __tablename__ = "dossier_rating"

    dossier_code: str = Field(primary_key=True, max_length=200)
    owner: str = Field(max_length=64, index=True)
    procedure_id: str = Field(max_length=200, index=True)
    stars: int
    comment: str = Field(default="", max_length=1000)
    rated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class KeyReused(Exception):
    """The Idempotency-Key was used before for a different request."""


class StillSubmitting(Exception):
    """The first submission with this key has not finished in the time a repeat waits."""


class AlreadyRated(Exception):
    pass


def _mac(*parts: Any) -> str:
    ring = load_keyring()
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hmac.new(ring.keys[ring.active_id], text.encode(), hashlib.sha256).hexdigest()


def request_mac(procedure_id: str, dossier: dict[str, Any], party: str | None = None) -> str:
    """The request's HMAC; `party`: the party the citizen said they are (`as`), if any."""
    if party is None:
        return _mac("request", procedure_id, dossier)
    return _mac("request", procedure_id, dossier, party)


FORM_VALID_FOR = 7 * 86400  # seconds a form's `opened` mark counts for the measures


def form_opened_mark(owner: str, procedure_id: str, at: datetime) -> str:
    """What the form hands the citizen's client, to send back with the submission: when
    they opened it, sealed so a client cannot shorten the time it took."""
    moment = int(at.timestamp())
    return f"{moment}.{_mac('form', owner, procedure_id, moment)[:24]}"


def form_opened_at(owner: str, procedure_id: str, mark: str, now: datetime) -> datetime | None:
    """The moment in `mark` if this server sealed it for this citizen and procedure, and it
    is neither in the future nor too old to count; else None."""
    moment, _, seal = mark.partition(".")
    if not moment.isdigit() or not hmac.compare_digest(
        seal, _mac("form", owner, procedure_id, int(moment))[:24]
    ):
        return None
    age = now.timestamp() - int(moment)
    return datetime.fromtimestamp(int(moment), UTC) if 0 <= age <= FORM_VALID_FOR else None


def record_form(owner: str, key: str, typed_fields: int, opened_at: datetime | None) -> None:
    _set(owner, key, typed_fields=typed_fields, form_opened_at=opened_at)


def submission_mark(owner: str, key: str) -> str:
    """What the case's memo carries, to recognise the submission that started it."""
    return _mac("submission", owner, key)[:32]


# ---------------------------------------------------------------- rows


def _try_claim(row: Submission) -> Submission | None:
    """Insert `row`; None when inserted, else the row already there."""
    with db.session() as s:
        s.add(row.model_copy())
        try:
            s.commit()
            return None
        except IntegrityError:
            s.rollback()
        return s.get(Submission, (row.owner, row.idempotency_key))


def _where(owner: str, key: str) -> Any:
    return (col(Submission.owner) == owner) & (col(Submission.idempotency_key) == key)


def _set(owner: str, key: str, **values: Any) -> None:
    with db.session() as s:
        s.exec(update(Submission).where(_where(owner, key)).values(**values))
        s.commit()


def _take_over(held: Submission) -> bool:
    """Replace a stale claim with ours, if nobody changed it meanwhile."""
    stmt = (
        update(Submission)
        .where(_where(held.owner, held.idempotency_key))
        .where(col(Submission.claimed_at) == held.claimed_at)
        .where(col(Submission.dossier_code).is_(None))
        .values(claimed_at=datetime.now(UTC), trying_code=None)
    )
    with db.session() as s:
        taken = s.exec(stmt).rowcount == 1
        s.commit()
    return bool(taken)


def _release(owner: str, key: str) -> None:
    with db.session() as s:
        stmt = delete(Submission).where(_where(owner, key))
        s.exec(stmt.where(col(Submission.dossier_code).is_(None)))
        s.commit()


def owned(owner: str, code: str) -> Submission | None:
    """The submission of dossier `code` if `owner` made it."""
    with db.session() as s:
        row = s.exec(select(Submission).where(col(Submission.dossier_code) == code)).first()
    return row if row is not None and row.owner == owner else None


def mine(owner: str, *, limit: int, offset: int) -> list[Submission]:
    """The dossiers `owner` submitted, newest first."""
    with db.session() as s:
        stmt = (
            select(Submission)
            .where(col(Submission.owner) == owner, col(Submission.dossier_code).is_not(None))
            .order_by(col(Submission.submitted_at).desc(), col(Submission.dossier_code))
            .offset(offset)
            .limit(limit)
        )
        return list(s.exec(stmt))


# ---------------------------------------------------------------- one submission per key


@dataclass(frozen=True)
class Outcome:
    dossier_code: str
    created: bool  # False: a repeat, answered with the first submission's dossier


async def submit_once(
    *,
    owner: str,
    key: str,
    procedure_id: str,
    mac: str,
    start: Callable[[Callable[[str], Awaitable[None]]], Awaitable[str]],
    started_here: Callable[[str], Awaitable[bool]],
) -> Outcome:
    """Start at most one case for (`owner`, `key`).

    `start(on_code)` starts the case and returns its dossier code, awaiting `on_code(code)`
    before each start attempt; `started_here(code)` tells whether the case `code` exists and
    was started by this submission (its memo). KeyReused, StillSubmitting, or whatever
    `start` raises (the claim is then released).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_FOR_FIRST
    while True:
        now = datetime.now(UTC)
        claim = Submission(
            owner=owner, idempotency_key=key, request_mac=mac, procedure_id=procedure_id,
            claimed_at=now,
        )  # fmt: skip
        held = await db.run_sync(_try_claim, claim)
        if held is None:
            return Outcome(await _start_claimed(owner, key, start), True)
        if held.request_mac != mac:
            raise KeyReused
        if held.dossier_code is not None:
            return Outcome(held.dossier_code, False)
        if (now - db.utc(held.claimed_at)).total_seconds() > CLAIM_GRACE:
            # Its submitter died. Did it start the case before dying?
            if held.trying_code is not None and await started_here(held.trying_code):
                await db.run_sync(_finish, owner, key, held.trying_code)
                return Outcome(held.trying_code, False)
            if await db.run_sync(_take_over, held):
                return Outcome(await _start_claimed(owner, key, start), True)
            continue
        if loop.time() > deadline:
            raise StillSubmitting
        await asyncio.sleep(POLL)


def _finish(owner: str, key: str, code: str) -> None:
    _set(owner, key, dossier_code=code, trying_code=None, submitted_at=datetime.now(UTC))


async def _start_claimed(
    owner: str, key: str, start: Callable[[Callable[[str], Awaitable[None]]], Awaitable[str]]
) -> str:
    async def trying(code: str) -> None:
        await db.run_sync(lambda: _set(owner, key, trying_code=code))

    try:
        code = await start(trying)
    except BaseException:
        await db.run_sync(_release, owner, key)
        raise
    await db.run_sync(_finish, owner, key, code)
    return code


# ---------------------------------------------------------------- ratings


def _rate(row: Rating) -> Rating:
    with db.session() as s:
        s.add(row)
        try:
            s.commit()
        except IntegrityError:
            s.rollback()
            raise AlreadyRated from None
        s.refresh(row)
        return row


async def rate(*, code: str, owner: str, procedure_id: str, stars: int, comment: str) -> Rating:
    """Record the one rating of dossier `code` (AlreadyRated for a second)."""
    row = Rating(
        dossier_code=code, owner=owner, procedure_id=procedure_id, stars=stars,
        comment=comment, rated_at=datetime.now(UTC),
    )  # fmt: skip
    return await db.run_sync(_rate, row)


def rating_of(code: str) -> Rating | None:
    with db.session() as s:
        return s.get(Rating, code)
