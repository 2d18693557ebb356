"""One open dossier per subject: the same birth is not registered twice because it was
submitted twice.

A definition names what its dossier is about (`subject: {kind: birth, fields:
[birth_certificate_no]}`); a bundle and the procedure it contains name the same kind, so a
standalone birth registration and a bundle for the same birth certificate exclude each
other too. Before a case starts (and before it draws a dossier number) the subject is
claimed in the `open_dossier` table, whose unique key makes two concurrent submissions race
on one row: one wins, the other is refused with the code of the dossier already open.

The subject is stored as an HMAC of its values under the codec's active key, never as the
values themselves (personal ids). A claim whose case has closed is taken over by the next
submission; so is a claim left without a code by a submission that died before it started
its case (after CLAIM_GRACE). A key rotation starts the table afresh.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, col, select

from motcua import db
from motcua.codec import load_keyring
from motcua.workflows.dsl.model import ProcedureDefinition

CLAIM_GRACE = 60.0  # seconds a claim may stay without a dossier code (its start in flight)


class OpenDossier(SQLModel, table=True):
    __tablename__ = "open_dossier"

    subject: str = Field(primary_key=True, max_length=80)  # kind:hmac
    dossier_code: str | None = Field(default=None, max_length=200)
    claimed_at: datetime


class DossierOpen(Exception):
    """The subject already has an open dossier; the message is for the applicant."""

    def __init__(self, dossier_code: str | None) -> None:
        self.dossier_code = dossier_code
        where = f"dossier {dossier_code}" if dossier_code else "a dossier being submitted now"
        super().__init__(
            f"this subject already has an open dossier: {where}; follow it up instead "
            "of submitting again"
        )


def subject_key(definition: ProcedureDefinition, dossier: dict[str, Any]) -> str | None:
    """`kind:hmac` of the dossier's subject, or None when the definition names none."""
    spec = definition.subject
    if spec is None:
        return None
    values = json.dumps([dossier.get(f) for f in spec.fields], ensure_ascii=False)
    ring = load_keyring()
    digest = hmac.new(ring.keys[ring.active_id], values.encode(), hashlib.sha256).hexdigest()
    return f"{spec.kind}:{digest[:64]}"


def _try_claim(subject: str) -> OpenDossier | None:
    """Claim `subject`; None when claimed, else the row that holds it."""
    with db.session() as s:
        s.add(OpenDossier(subject=subject, claimed_at=datetime.now(UTC)))
        try:
            s.commit()
            return None
        except IntegrityError:
            s.rollback()
        return s.exec(select(OpenDossier).where(col(OpenDossier.subject) == subject)).first()


def _take_over(held: OpenDossier) -> bool:
    """Replace a stale claim with ours, if nobody changed it meanwhile."""
    stmt = (
        update(OpenDossier)
        .where(
            col(OpenDossier.subject) == held.subject,
            col(OpenDossier.claimed_at) == held.claimed_at,
        )
        .values(dossier_code=None, claimed_at=datetime.now(UTC))
    )
    with db.session() as s:
        taken = s.exec(stmt).rowcount == 1
        s.commit()
    return taken


async def claim(subject: str, is_open: Callable[[str], Awaitable[bool]]) -> None:
    """Claim `subject` for a new dossier, or raise DossierOpen. `is_open(code)` tells
    whether the case holding an older claim is still open."""
    for _ in range(3):
        held = await db.run_sync(_try_claim, subject)
        if held is None:
            return
        if held.dossier_code is None:
            age = (datetime.now(UTC) - db.utc(held.claimed_at)).total_seconds()
            if age < CLAIM_GRACE:
                raise DossierOpen(None)
        elif await is_open(held.dossier_code):
            raise DossierOpen(held.dossier_code)
        if await db.run_sync(_take_over, held):
            return
    raise DossierOpen(None)


def _set_code(subject: str, code: str) -> None:
    with db.session() as s:
        s.exec(
            update(OpenDossier).where(col(OpenDossier.subject) == subject).values(dossier_code=code)
        )
        s.commit()


def _release(subject: str) -> None:
    with db.session() as s:
        s.exec(delete(OpenDossier).where(col(OpenDossier.subject) == subject))
        s.commit()


async def opened(subject: str, code: str) -> None:
    """The claimed subject's case started as `code`."""
    await db.run_sync(_set_code, subject, code)


async def release(subject: str) -> None:
    """The claimed subject's case did not start after all."""
    await db.run_sync(_release, subject)
