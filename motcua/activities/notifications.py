"""Notifications to citizens: a Vietnamese template rendered and put in the outbox.

`notify.send` renders `procedure_defs/templates/notifications/{template}.j2`:
    line 1              the subject (e-mail subject, app notification title)
    a blank line
    the body            the e-mail / app text, up to an optional line `=== sms ===`
    after `=== sms ===` the short SMS text; without it the SMS text is the subject
Jinja2 in an immutable sandbox; undefined values are errors (use `| default(...)` for optional
ones). Context: `dossier_code`, `data` (the step's data, its keys also at the top level),
`recipient` (the citizen record, or {} for a bare address) and `recipient_name`.

Recipients: `to` is a citizen record (a dict with `email`, `phone`, optionally `full_name`
or `name`, and `account_id` or `pid` for app push), or a bare address string (an e-mail
address or a phone number). A channel the recipient has no address for is recorded as
`no_address` rather than failing the step.

Outbox: one row per (idempotency_key, channel), all channels written in one transaction
BEFORE any delivery is attempted, status `queued` (or `no_address`). Then every row not yet
`sent` is delivered (`delivery.py`), each row through this state machine, every transition
committed before the next step:

    queued ──claim──▶ sending ──▶ sent     (provider id / SMTP reply, time)   final
    failed ──claim──▶ sending ──▶ failed   (short error, no personal data)   retried
    sending (found on a repeat, its lease of SEND_LEASE_SECONDS run out: the worker died
             mid-send) ──claim, resends+1──▶ sending ──▶ ...
    no_address                                                              final

The claim is a compare-and-set on (status, attempts): of two attempts racing on one row only
one sends; the other reports the row as still in progress. A `sending` row is taken over
only once its lease has run out, so an attempt that is merely slow (it ran past its
timeout under load) is never doubled by its retry; and a claimed send always finishes and
records its outcome, even when its attempt is cancelled. A repeat with the same key
(a Temporal retry, a replayed step) never sends a `sent` row again, and re-attempts the rest.
If any channel is left `failed`, the activity raises a retryable `DeliveryFailed` naming the
channel(s), so Temporal retries it and only the unsent channels go again. Duplicates on a
re-attempt of a row found `sending`: SMS and push cannot duplicate (the gateway refuses a
repeated `Idempotency-Key`, 409, recorded as `sent`); e-mail can (SMTP has no such guard),
but every copy carries the same `Message-ID`, derived from key and channel, so the receiver
can drop it. The outbox table is where delivery status is read later.

`MOTCUA_NOTIFY_DELIVERY=off` records the outbox and delivers nothing (rows stay `queued`), for
environments that must not message anyone; the default is `on`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
import weakref
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Column, DateTime, Text, UniqueConstraint, inspect, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel, col, select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from motcua import db
from motcua.activities import delivery
from motcua.activities.base import ActivityInput
from motcua.activities.templates import TemplateFolder, invalid, nfc
from motcua.settings import get_settings

CHANNELS = ("email", "sms", "app")
TEMPLATE_SUFFIX = ".j2"
SMS_MARKER = "=== sms ==="
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9][0-9 .\-]{7,14}$")
# Rows a delivery pass picks up; `sent` and `no_address` are final.
DELIVERABLE = ("queued", "failed", "sending")
log = logging.getLogger(__name__)


class OutboxRow(SQLModel, table=True):
    __tablename__ = "notification_outbox"
    __table_args__ = (UniqueConstraint("idempotency_key", "channel", name="uq_outbox_key_channel"),)

    id: int | None = SQLField(default=None, primary_key=True)
    idempotency_key: str = SQLField(index=True, max_length=300)
    channel: str = SQLField(max_length=16)
    dossier_code: str = SQLField(default="", index=True, max_length=200)
    template: str = SQLField(max_length=100)
    address: str | None = SQLField(default=None, max_length=320)
    subject: str
    body: str = SQLField(sa_column=Column(Text, nullable=False))
    # queued | no_address | sending | sent | failed (see the module docstring)
    status: str = SQLField(index=True, max_length=16)
    attempts: int = 0
    last_error: str | None = None  # short, without personal data
    created_at: datetime = SQLField(sa_column=Column(DateTime(timezone=True), nullable=False))
    sent_at: datetime | None = SQLField(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    # The provider's reference: the gateway's message_id, or Message-ID + the SMTP reply.
    provider_id: str | None = SQLField(default=None, max_length=300)
    attempted_at: datetime | None = SQLField(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    # Times the row was sent again after an attempt was lost mid-send (its worker died):
    # each may have put a duplicate e-mail, with the same Message-ID, in the citizen's box.
    resends: int = 0


# Columns added after the table first shipped: added in place to an existing database.
_ADDED_COLUMNS = {
    "provider_id": "VARCHAR(300)",
    "attempted_at": "TIMESTAMP WITH TIME ZONE",
    "resends": "INTEGER NOT NULL DEFAULT 0",
}
# How long a claimed (`sending`) row belongs to the attempt that claimed it. Longer than any
# one delivery can take (the SMTP and gateway timeouts), so an attempt still sending is
# never doubled by its own retry; only a row whose sender is gone is taken over.
SEND_LEASE_SECONDS = 60.0
_upgraded: weakref.WeakSet[Engine] = weakref.WeakSet()
_upgrade_lock = threading.Lock()


def _upgrade(engine: Engine) -> None:
    with _upgrade_lock:
        if engine in _upgraded:
            return
        have = {c["name"] for c in inspect(engine).get_columns(OutboxRow.__tablename__)}
        for name, sql_type in _ADDED_COLUMNS.items():
            if name in have:
                continue
            try:
                with engine.begin() as conn:
                    conn.execute(
                        text(f"ALTER TABLE {OutboxRow.__tablename__} ADD COLUMN {name} {sql_type}")
                    )
            except SQLAlchemyError:
                # Another process added it first; anything else shows on the next query.
                pass
        _upgraded.add(engine)


def _session() -> Any:
    engine = db.get_engine()
    _upgrade(engine)
    return db.session()


# ---------------------------------------------------------------- inputs and results


class NotifyInput(ActivityInput):
    to: Any = Field(description="A citizen record (dict with email/phone) or an address")
    template: str
    channels: list[str] = Field(default_factory=lambda: ["email"])
    data: dict[str, Any] = Field(default_factory=dict)


class Delivery(BaseModel):
    channel: str
    status: str = Field(description="queued | no_address | sending | sent | failed")
    address: str | None = Field(None, description="Masked address")
    outbox_id: int
    at: datetime | None = Field(None, description="When it was sent (or last attempted)")
    provider_id: str | None = Field(
        None, description="Gateway message_id, or Message-ID and the SMTP relay's reply"
    )
    attempts: int = 0
    error: str | None = Field(None, description="Last failure, without personal data")


class NotifyResult(BaseModel):
    template: str
    subject: str
    deliveries: list[Delivery]
    replayed: bool = Field(description="True when this key had already been recorded")


# ---------------------------------------------------------------- rendering


FOLDER = TemplateFolder("notification", "notifications", TEMPLATE_SUFFIX)


def available_templates() -> list[str]:
    return FOLDER.available()


def _finalize(value: Any) -> str:
    if value is None:
        return ""
    return nfc(value if isinstance(value, str) else str(value))


def render(name: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, body, sms) of template `name`; errors name the template, never data."""
    path = FOLDER.path(name)
    text = FOLDER.render(name, path.read_text(encoding="utf-8"), context, finalize=_finalize)
    text = text.strip("\n")
    subject, _, rest = text.partition("\n")
    subject = subject.strip()
    if not subject:
        raise invalid(f"notification template {name!r} renders an empty subject line")
    body, _, sms = rest.partition(SMS_MARKER)
    body = re.sub(r"\n{3,}", "\n\n", body.strip("\n")).strip()
    sms = " ".join(sms.split()) or subject
    return subject, body, sms


# ---------------------------------------------------------------- recipients


def _addresses(to: Any) -> tuple[dict[str, str | None], dict[str, Any]]:
    """Channel -> address (None when unknown), and the recipient record for templates."""
    if isinstance(to, dict):
        record = to
        email, phone = to.get("email"), to.get("phone")
        app = to.get("account_id") or to.get("pid")
    elif isinstance(to, str) and EMAIL.match(to.strip()):
        record, email, phone, app = {}, to.strip(), None, None
    elif isinstance(to, str) and PHONE.match(to.strip()):
        record, email, phone, app = {}, None, to.strip(), None
    else:
        raise invalid(
            "notify.send: `to` must be a citizen record (with email or phone) or an e-mail "
            f"address or phone number, got a {type(to).__name__} that is neither"
        )
    return {
        "email": str(email) if email else None,
        "sms": str(phone) if phone else None,
        "app": str(app) if app else None,
    }, record


def mask(channel: str, address: str | None) -> str | None:
    """Enough of an address to recognise it, not enough to reuse it."""
    if not address:
        return None
    if channel == "email" and "@" in address:
        local, domain = address.split("@", 1)
        return f"{local[:1]}***@{domain}"
    return f"***{address[-3:]}"


# ---------------------------------------------------------------- outbox


def _rows(key: str) -> list[OutboxRow]:
    with _session() as s:
        return list(
            s.exec(
                select(OutboxRow).where(OutboxRow.idempotency_key == key).order_by(OutboxRow.id)  # type: ignore[arg-type]
            ).all()
        )


def _result(req: NotifyInput, rows: list[OutboxRow], replayed: bool) -> NotifyResult:
    return NotifyResult(
        template=rows[0].template if rows else req.template,
        subject=rows[0].subject if rows else "",
        deliveries=[
            Delivery(
                channel=r.channel,
                status=r.status,
                address=mask(r.channel, r.address),
                outbox_id=r.id or 0,
                at=db.utc(at) if (at := r.sent_at or r.attempted_at) else None,
                provider_id=r.provider_id,
                attempts=r.attempts,
                error=r.last_error if r.status != "sent" else None,
            )
            for r in rows
        ],
        replayed=replayed,
    )


def outbox(dossier_code: str | None = None) -> list[OutboxRow]:
    """Outbox rows (all, or one dossier's), oldest first: the delivery status, for anyone."""
    with _session() as s:
        query = select(OutboxRow).order_by(OutboxRow.id)  # type: ignore[arg-type]
        if dossier_code is not None:
            query = query.where(OutboxRow.dossier_code == dossier_code)
        return list(s.exec(query).all())


def record_sync(req: NotifyInput) -> tuple[list[OutboxRow], bool]:
    """Write the outbox rows for `req` (once per key and channel); (rows, replayed)."""
    if not req.idempotency_key:
        raise invalid("notify.send needs an idempotency_key (the workflow fills it in)")
    channels = list(dict.fromkeys(req.channels))
    unknown = [c for c in channels if c not in CHANNELS]
    if unknown or not channels:
        raise invalid(
            f"notify.send: unknown channel(s) {unknown}; expected some of {list(CHANNELS)}"
        )
    recorded = _rows(req.idempotency_key)
    if recorded and {r.channel for r in recorded} >= set(channels):
        return [r for r in recorded if r.channel in channels], True

    addresses, record = _addresses(req.to)
    context: dict[str, Any] = dict(req.data)
    context.update(
        data=req.data,
        dossier_code=req.dossier_code,
        recipient=record,
        recipient_name=record.get("full_name") or record.get("name"),
    )
    subject, body, sms = render(req.template, context)
    now = datetime.now(UTC)
    have = {r.channel for r in recorded}
    new = [
        OutboxRow(
            idempotency_key=req.idempotency_key,
            channel=channel,
            dossier_code=req.dossier_code,
            template=req.template,
            address=addresses[channel],
            subject=subject,
            body=sms if channel == "sms" else body,
            status="queued" if addresses[channel] else "no_address",
            created_at=now,
        )
        for channel in channels
        if channel not in have
    ]
    with _session() as s:
        s.add_all(new)
        try:
            s.commit()
            replayed = False
        except IntegrityError:
            # A concurrent attempt with the same key recorded them first.
            s.rollback()
            replayed = True
    return [r for r in _rows(req.idempotency_key) if r.channel in channels], replayed


def send_sync(req: NotifyInput) -> NotifyResult:
    """Record the outbox rows only (no delivery); the activity is `send`."""
    rows, replayed = record_sync(req)
    return _result(req, rows, replayed=replayed)


# ---------------------------------------------------------------- delivery


def delivery_enabled() -> bool:
    value = os.environ.get("MOTCUA_NOTIFY_DELIVERY", "on").strip().lower()
    return value not in ("off", "0", "false", "no")


def _claim(row: OutboxRow) -> bool:
    """queued/failed -> sending, or a `sending` row whose lease ran out (its attempt was
    lost) -> sending again; committed. False when another attempt holds or moved it."""
    now = datetime.now(UTC)
    taken_over = row.status == "sending"
    if taken_over and row.attempted_at is not None:
        claimed_at = db.utc(row.attempted_at)
        if (now - claimed_at).total_seconds() < SEND_LEASE_SECONDS:
            return False  # its attempt may still be sending: never send beside it
    stmt = (
        update(OutboxRow)
        .where(
            col(OutboxRow.id) == row.id,
            col(OutboxRow.status) == row.status,
            col(OutboxRow.attempts) == row.attempts,
        )
        .values(
            status="sending",
            attempts=row.attempts + 1,
            attempted_at=now,
            last_error=None,
            resends=row.resends + (1 if taken_over else 0),
        )
    )
    with _session() as s:
        claimed = s.exec(stmt).rowcount == 1
        s.commit()
    if claimed and taken_over:
        log.warning(
            "notification %s on %s: its earlier attempt was lost mid-send; sending again "
            "(an e-mail may arrive twice, with the same Message-ID)",
            row.id,
            row.channel,
        )
    return claimed


def _finish(row: OutboxRow, sent: delivery.Sent | None, error: str | None) -> None:
    """sending -> sent (always: it went) or -> failed (only if our claim still holds)."""
    with _session() as s:
        if sent is not None:
            stmt = (
                update(OutboxRow)
                .where(col(OutboxRow.id) == row.id)
                .values(
                    status="sent", sent_at=sent.at, provider_id=sent.provider_id, last_error=None
                )
            )
        else:
            stmt = (
                update(OutboxRow)
                .where(
                    col(OutboxRow.id) == row.id,
                    col(OutboxRow.status) == "sending",
                    col(OutboxRow.attempts) == row.attempts + 1,
                )
                .values(status="failed", last_error=(error or "failed")[:300])
            )
        s.exec(stmt)
        s.commit()


async def _deliver_row(row: OutboxRow) -> str | None:
    """Deliver one row; None when it is sent, else the short reason it is not."""
    if not await db.run_sync(_claim, row):
        return f"{row.channel}: being delivered by another attempt"
    # Once claimed, the send and its record finish even if this attempt is cancelled (it
    # timed out and Temporal told it at its heartbeat): a message that went out is always
    # recorded `sent`, so the retry does not send it again.
    return await asyncio.shield(_send_and_record(row))


async def _send_and_record(row: OutboxRow) -> str | None:
    settings = get_settings()
    message = delivery.Message(
        key=f"{row.idempotency_key}:{row.channel}",
        channel=row.channel,
        address=row.address or "",
        subject=row.subject,
        body=row.body,
        dossier_code=row.dossier_code,
    )
    try:
        sent = await delivery.deliver(message, settings)
    except delivery.DeliveryError as err:
        await db.run_sync(_finish, row, None, str(err))
        log.warning(
            "notification %s not delivered on %s (attempt %d): %s",
            row.id,
            row.channel,
            row.attempts + 1,
            err,
        )
        return str(err)
    await db.run_sync(_finish, row, sent, None)
    log.info(
        "notification %s sent on %s%s",
        row.id,
        row.channel,
        " (the gateway had it already)" if sent.duplicate else "",
    )
    return None


async def deliver_rows(rows: list[OutboxRow]) -> dict[str, str]:
    """Deliver every row not yet sent; channel -> reason for the ones still unsent."""
    pending = [r for r in rows if r.status in DELIVERABLE and r.address]
    outcomes = await asyncio.gather(*(_deliver_row(r) for r in pending))
    return {r.channel: why for r, why in zip(pending, outcomes, strict=True) if why}


@activity.defn(name="notify.send")
async def send(req: NotifyInput) -> NotifyResult:
    """Render `template` for `to`, record one outbox row per channel, then deliver them.

    Raises a retryable `DeliveryFailed` (naming channels, never addresses) when a channel
    is left unsent; the retry delivers only what is still unsent.
    """
    rows, replayed = await db.run_sync(record_sync, req)
    if delivery_enabled():
        failed = await deliver_rows(rows)
        if failed:
            channels = ", ".join(sorted(failed))
            reasons = "; ".join(failed[c] for c in sorted(failed))
            raise ApplicationError(
                f"notification not delivered on {channels}: {reasons}",
                {"channels": sorted(failed), "reasons": failed},
                type="DeliveryFailed",
                non_retryable=False,
            )
        wanted = {r.channel for r in rows}
        rows = [r for r in await db.run_sync(_rows, req.idempotency_key) if r.channel in wanted]
    return _result(req, rows, replayed=replayed)


ACTIVITIES: list[Any] = [send]
