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
BEFORE any delivery is attempted. A repeated call with the same key returns the recorded
rows (`replayed: true`) and sends nothing. Delivery is not implemented yet: every row is
recorded with status `queued`; the SMTP / SMS / push dispatchers that come later read the
outbox, deliver, and update the status (`sent`, `failed`), so a retry of the activity can
never send twice.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Column, DateTime, Text, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel, select
from temporalio import activity

from motcua import db
from motcua.activities.base import ActivityInput
from motcua.activities.templates import TemplateFolder, invalid, nfc

CHANNELS = ("email", "sms", "app")
TEMPLATE_SUFFIX = ".j2"
SMS_MARKER = "=== sms ==="
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9][0-9 .\-]{7,14}$")


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
    status: str = SQLField(index=True, max_length=16)  # queued | no_address | sent | failed
    attempts: int = 0
    last_error: str | None = None
    created_at: datetime = SQLField(sa_column=Column(DateTime(timezone=True), nullable=False))
    sent_at: datetime | None = SQLField(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


# ---------------------------------------------------------------- inputs and results


class NotifyInput(ActivityInput):
    to: Any = Field(description="A citizen record (dict with email/phone) or an address")
    template: str
    channels: list[str] = Field(default_factory=lambda: ["email"])
    data: dict[str, Any] = Field(default_factory=dict)


class Delivery(BaseModel):
    channel: str
    status: str = Field(description="queued | no_address (sent / failed once dispatched)")
    address: str | None = Field(None, description="Masked address")
    outbox_id: int


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
    with db.session() as s:
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
            )
            for r in rows
        ],
        replayed=replayed,
    )


def outbox(dossier_code: str | None = None) -> list[OutboxRow]:
    """Outbox rows (all, or one dossier's), oldest first; for dispatchers and tests."""
    with db.session() as s:
        query = select(OutboxRow).order_by(OutboxRow.id)  # type: ignore[arg-type]
        if dossier_code is not None:
            query = query.where(OutboxRow.dossier_code == dossier_code)
        return list(s.exec(query).all())


def send_sync(req: NotifyInput) -> NotifyResult:
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
        return _result(req, [r for r in recorded if r.channel in channels], replayed=True)

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
    with db.session() as s:
        s.add_all(new)
        try:
            s.commit()
            replayed = False
        except IntegrityError:
            # A concurrent attempt with the same key recorded them first.
            s.rollback()
            replayed = True
    rows = [r for r in _rows(req.idempotency_key) if r.channel in channels]
    return _result(req, rows, replayed=replayed)


@activity.defn(name="notify.send")
async def send(req: NotifyInput) -> NotifyResult:
    """Render `template` for `to` and record one outbox row per channel (status queued)."""
    return await db.run_sync(send_sync, req)


ACTIVITIES: list[Any] = [send]
