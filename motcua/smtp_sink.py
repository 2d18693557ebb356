"""A local SMTP sink for development and tests: accepts every message, delivers none.

    python -m motcua.smtp_sink [--host 127.0.0.1] [--port 8025] [--dir DIR]

Defaults: MOTCUA_SMTP_HOST / MOTCUA_SMTP_PORT (127.0.0.1:8025) and DIR = <data dir>/mail.
Every message received is stored as it came over the wire in `DIR/<time>-<id>.eml`, and
listed in `DIR/index.json`: `[{"file", "message_id", "from", "to", "subject", "at"}]` with
the subject decoded (RFC 2047) to Vietnamese text. Duplicates are kept: the sink shows what
was sent, so a test can prove a message arrived exactly once.

For tests: `running_sink(dir)` runs it in-process on a free port and yields (host, port);
`messages(dir)` reads what arrived, subject and text body decoded (NFC).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import threading
import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from motcua.settings import get_settings

INDEX = "index.json"
log = logging.getLogger("motcua.smtp_sink")


def default_dir() -> Path:
    return get_settings().data_dir / "mail"


def _nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value)


class MailStore:
    """The sink's folder: one .eml per message plus index.json (rewritten atomically)."""

    def __init__(self, directory: Path | str) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def add(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> dict[str, Any]:
        at = datetime.now(UTC)
        name = f"{at:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}.eml"
        parsed = message_from_bytes(raw, policy=policy.default)
        entry = {
            "file": name,
            "message_id": str(parsed.get("Message-ID", "")).strip(),
            "from": mail_from,
            "to": list(rcpt_tos),
            "subject": _nfc(str(parsed.get("Subject", ""))),
            "at": at.isoformat(),
        }
        with self._lock:
            (self.dir / name).write_bytes(raw)
            index = read_index(self.dir)
            index.append(entry)
            tmp = self.dir / f".{INDEX}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(index, ensure_ascii=False, indent=1), encoding="utf-8")
            tmp.replace(self.dir / INDEX)
        return entry


class SinkHandler:
    """aiosmtpd handler: store the message and answer 250 with the stored file's name."""

    def __init__(self, store: MailStore) -> None:
        self.store = store

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        entry = self.store.add(
            raw or b"", str(envelope.mail_from or ""), [str(r) for r in envelope.rcpt_tos]
        )
        log.info("stored %s (%d recipient(s))", entry["file"], len(entry["to"]))
        return f"250 Message accepted for delivery as {entry['file']}"


def _smtp_kwargs() -> dict[str, Any]:
    # Raw bytes kept (decode_data=False); UTF-8 addresses accepted like a modern relay.
    return {"decode_data": False, "enable_SMTPUTF8": True}


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class ReceivedMail:
    file: Path
    message_id: str
    mail_from: str
    to: list[str]
    subject: str
    body: str
    at: datetime
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""


def read_index(directory: Path | str) -> list[dict[str, Any]]:
    path = Path(directory) / INDEX
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, list) else []


def _text_body(parsed: EmailMessage) -> str:
    part = parsed.get_body(preferencelist=("plain",))
    if part is None:
        return ""
    content = part.get_content()
    text = content if isinstance(content, str) else content.decode("utf-8", "replace")
    # The wire format has CRLF line ends; readers compare with ordinary text.
    return text.replace("\r\n", "\n")


def messages(directory: Path | str | None = None) -> list[ReceivedMail]:
    """What the sink received in `directory`, oldest first, decoded (NFC)."""
    folder = Path(directory) if directory is not None else default_dir()
    out = []
    for entry in read_index(folder):
        raw = (folder / entry["file"]).read_bytes()
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        out.append(
            ReceivedMail(
                file=folder / entry["file"],
                message_id=entry["message_id"],
                mail_from=entry["from"],
                to=list(entry["to"]),
                subject=_nfc(str(parsed.get("Subject", ""))),
                body=_nfc(_text_body(parsed)),
                at=datetime.fromisoformat(entry["at"]),
                headers={k: str(v) for k, v in parsed.items()},
                raw=raw,
            )
        )
    return out


# ---------------------------------------------------------------- running


class _SinkController(Controller):
    """aiosmtpd's threaded controller, able to listen on port 0 (a free port)."""

    def _trigger_server(self) -> None:
        if isinstance(self.server, asyncio.Server) and not self.port:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


@contextmanager
def running_sink(
    directory: Path | str | None = None, port: int = 0, host: str = "127.0.0.1"
) -> Iterator[tuple[str, int]]:
    """Run the sink in a background thread; yields (host, port) until the block ends."""
    store = MailStore(directory if directory is not None else default_dir())
    controller = _SinkController(SinkHandler(store), hostname=host, port=port, **_smtp_kwargs())
    controller.start()
    try:
        yield host, int(controller.port)
    finally:
        controller.stop()


async def serve(host: str, port: int, directory: Path) -> None:
    store = MailStore(directory)
    loop = asyncio.get_running_loop()
    kwargs = _smtp_kwargs()
    server = await loop.create_server(lambda: SMTP(SinkHandler(store), **kwargs), host, port)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    bound = server.sockets[0].getsockname()
    log.info("SMTP sink listening on %s:%s, mail stored in %s", bound[0], bound[1], directory)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(
        prog="python -m motcua.smtp_sink", description="Local SMTP sink: stores every message."
    )
    parser.add_argument("--host", default=settings.smtp_host)
    parser.add_argument("--port", type=int, default=settings.smtp_port)
    parser.add_argument("--dir", type=Path, default=None, help="default: <data dir>/mail")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # aiosmtpd's own log echoes the SMTP dialogue, addresses included: keep it to problems.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    directory = args.dir if args.dir is not None else settings.data_dir / "mail"
    asyncio.run(serve(args.host, args.port, directory))


if __name__ == "__main__":
    main()
