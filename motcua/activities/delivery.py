"""Channel senders: e-mail over SMTP, SMS and app push through the gateway adapters.

Each sender takes one outbox message and either returns a `Sent` (the provider's reference)
or raises `DeliveryError` whose text is short and carries no personal data: never the
address, the body, or a provider's free-text message (which may echo either). The outbox
bookkeeping around them (queued -> sending -> sent | failed) is in `notifications.py`.

What each channel guarantees against duplicates when an attempt is repeated:
- SMS, app push: every request carries `Idempotency-Key: <notification key>:<channel>`; the
  gateway refuses a repeated key with 409 `duplicate` and the first `message_id`, which we
  record as `sent`. A repeat after a crash mid-send therefore never reaches the citizen twice.
- E-mail: SMTP has no such guard. If the worker dies after the relay accepted the message
  but before `sent` was committed, the repeat sends it again. The `Message-ID` is derived
  from the same key and channel, so every copy carries the same id and a receiver (mail
  client, archive, the development sink's reader) can drop the copy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

import aiosmtplib
import httpx

from motcua.settings import Settings

SMTP_TIMEOUT = 20.0  # under the notify step's 30 s activity timeout
GATEWAY_TIMEOUT = httpx.Timeout(15.0, connect=5.0)


class DeliveryError(Exception):
    """A delivery attempt failed; the text is safe to store and to log."""


@dataclass(frozen=True)
class Message:
    """One outbox row to deliver (the address is personal data: never put it in errors)."""

    key: str  # "<notification idempotency key>:<channel>"
    channel: str
    address: str
    subject: str
    body: str
    dossier_code: str = ""


@dataclass(frozen=True)
class Sent:
    provider_id: str | None
    at: datetime
    duplicate: bool = False  # the gateway had it already (409): delivered by an earlier try


# ---------------------------------------------------------------- e-mail


def sender_domain(sender: str) -> str:
    _, addr = parseaddr(sender)
    domain = addr.rpartition("@")[2]
    return domain or "motcua.local"


def message_id(key: str, domain: str) -> str:
    """The same `Message-ID` for every attempt of one notification on one channel."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}.notify@{domain}>"


def build_email(msg: Message, sender: str, now: datetime | None = None) -> EmailMessage:
    """A MIME message: UTF-8 text body, RFC 2047 encoded Vietnamese subject and sender name."""
    mail = EmailMessage()
    name, addr = parseaddr(sender)
    if addr and "@" in addr:
        local, _, domain = addr.partition("@")
        mail["From"] = Address(display_name=name, username=local, domain=domain)
    else:
        mail["From"] = sender
    mail["To"] = msg.address
    mail["Subject"] = msg.subject
    mail["Date"] = format_datetime(now or datetime.now(UTC))
    mail["Message-ID"] = message_id(msg.key, sender_domain(sender))
    mail["Auto-Submitted"] = "auto-generated"
    # Quoted-printable keeps the message 7-bit clean for relays without 8BITMIME.
    mail.set_content(msg.body + "\n", charset="utf-8", cte="quoted-printable")
    mail["Content-Language"] = "vi"  # after set_content, which resets Content-* headers
    return mail


def _smtp_error(err: Exception) -> str:
    if isinstance(err, aiosmtplib.SMTPRecipientsRefused) and err.recipients:
        return f"smtp: recipient refused ({err.recipients[0].code})"
    if isinstance(err, aiosmtplib.SMTPResponseException):
        return f"smtp: {type(err).__name__} ({err.code})"
    if isinstance(err, aiosmtplib.SMTPConnectError | ConnectionError | OSError):
        return "smtp: cannot connect to the mail relay"
    if isinstance(err, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return "smtp: timed out"
    return f"smtp: {type(err).__name__}"


async def send_email(msg: Message, settings: Settings) -> Sent:
    mail = build_email(msg, settings.smtp_sender)
    try:
        errors, response = await aiosmtplib.send(
            mail,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            timeout=SMTP_TIMEOUT,
            # STARTTLS when the relay offers it; a local sink does not.
            start_tls=None,
        )
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as err:
        raise DeliveryError(_smtp_error(err)) from None
    if errors:
        codes = sorted({str(code) for code, _ in errors.values()})
        raise DeliveryError(f"smtp: recipient refused ({', '.join(codes)})")
    # The relay's reply ("250 Message accepted ...") identifies the queued message there.
    accepted = " ".join(response.split())[:200]
    return Sent(provider_id=f"{mail['Message-ID']} {accepted}".strip(), at=datetime.now(UTC))


# ---------------------------------------------------------------- gateways


def _gateway_error(channel: str, response: httpx.Response) -> str:
    code = ""
    try:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            code = body["error"][:40]
    except ValueError:
        pass
    return f"{channel}: gateway answered {response.status_code}" + (f" {code}" if code else "")


async def _post_gateway(
    msg: Message, settings: Settings, path: str, payload: dict[str, Any]
) -> Sent:
    url = settings.registry_url("gateways").rstrip("/") + path
    headers = {"Idempotency-Key": msg.key}
    try:
        async with httpx.AsyncClient(timeout=GATEWAY_TIMEOUT) as client:
            response = await client.post(url, json=payload, headers=headers)
    except httpx.TimeoutException:
        raise DeliveryError(f"{msg.channel}: gateway timed out") from None
    except httpx.HTTPError as err:
        raise DeliveryError(f"{msg.channel}: gateway unreachable ({type(err).__name__})") from None
    if response.status_code in (200, 201):
        body = _json(response)
        return Sent(provider_id=_str(body.get("message_id")), at=_at(body.get("at")))
    if response.status_code == 409:
        body = _json(response)
        if body.get("error") == "duplicate":
            # Already accepted under this key by an earlier attempt: that one delivered it.
            return Sent(
                provider_id=_str(body.get("message_id")), at=datetime.now(UTC), duplicate=True
            )
    raise DeliveryError(_gateway_error(msg.channel, response))


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _str(value: Any) -> str | None:
    return None if value is None else str(value)[:300]


def _at(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return at if at.tzinfo else at.replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.now(UTC)


async def send_sms(msg: Message, settings: Settings) -> Sent:
    return await _post_gateway(
        msg, settings, "/sms/messages", {"to": msg.address, "text": msg.body}
    )


async def send_push(msg: Message, settings: Settings) -> Sent:
    payload = {"account_id": msg.address, "title": msg.subject, "body": msg.body}
    return await _post_gateway(msg, settings, "/push/messages", payload)


SENDERS = {"email": send_email, "sms": send_sms, "app": send_push}


async def deliver(msg: Message, settings: Settings) -> Sent:
    """Send one message on its channel; `DeliveryError` (safe text) when it did not go."""
    try:
        return await SENDERS[msg.channel](msg, settings)
    except DeliveryError:
        raise
    except Exception as err:  # noqa: BLE001 - anything else: name the type, never the data
        raise DeliveryError(f"{msg.channel}: {type(err).__name__}") from None
