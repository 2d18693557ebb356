"""notify.send delivers: e-mail to a real SMTP sink, SMS and push to a gateway, exactly once.

The SMTP server is the project's own sink (`motcua.smtp_sink`) on a free port. The gateway
follows docs/sandbox-api.md (`/gateways`: 201 with message_id, 409 `duplicate` on a repeated
Idempotency-Key, `PUT /_admin/faults/gateways` for an outage); see `gateway` below for
which implementation runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import unicodedata
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from sqlmodel import col, update
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from motcua import db
from motcua.activities import delivery, notifications
from motcua.settings import get_settings
from motcua.smtp_sink import messages, running_sink

CITIZEN = {
    "full_name": "Trần Thị Hoa",
    "email": "hoa.tran@example.vn",
    "phone": "0912345678",
    "account_id": "acc-001203000123",
}
PERSONAL = ("hoa.tran", "example.vn", "0912345678", "345678", "acc-001203000123", "Trần Thị Hoa")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("MOTCUA_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("MOTCUA_NOTIFY_DELIVERY", raising=False)
    monkeypatch.setenv("MOTCUA_SMTP_HOST", "127.0.0.1")
    # Nothing listens here unless a test starts the sink on it.
    monkeypatch.setenv("MOTCUA_SMTP_PORT", str(_free_port()))
    yield tmp_path
    db.dispose_engines()


@pytest.fixture
def mail_dir(data_dir: Path) -> Path:
    return data_dir / "mail"


@pytest.fixture
def sink(mail_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, int]]:
    with running_sink(mail_dir) as (host, port):
        monkeypatch.setenv("MOTCUA_SMTP_HOST", host)
        monkeypatch.setenv("MOTCUA_SMTP_PORT", str(port))
        yield host, port


def _request(template: str = "received", channels: list[str] | None = None, **data: Any) -> Any:
    code = f"UBND-00001-261123-{uuid.uuid4().hex[:6]}"
    return notifications.NotifyInput(
        idempotency_key=f"{code}:tell",
        dossier_code=code,
        to=CITIZEN,
        template=template,
        channels=channels or ["email"],
        data=data or {"due_date": "25/11/2026", "procedure_title": "Đăng ký khai sinh"},
    )


def _row(req: Any, channel: str) -> notifications.OutboxRow:
    [row] = [r for r in notifications.outbox(req.dossier_code) if r.channel == channel]
    return row


def _sender_logs(caplog: pytest.LogCaptureFixture) -> str:
    """Everything logged on the sending side (the sink is the receiver: it sees addresses)."""
    return "\n".join(
        f"{r.name} {r.getMessage()}"
        for r in caplog.records
        if not r.name.startswith(("mail.log", "motcua.smtp_sink"))
    )


def _assert_no_personal_data(text: str) -> None:
    for value in PERSONAL:
        assert value not in text, f"personal data {value!r} leaked"


# ---------------------------------------------------------------- the gateway


class ContractGateway:
    """The /gateways part of docs/sandbox-api.md, in-process, for while the sandbox is not.

    Exactly the contract: POST without Idempotency-Key 422; a repeated key 409 `duplicate`
    with the first message_id; outage through `PUT /_admin/faults/gateways` -> 503.
    """

    def __init__(self) -> None:
        self.sent: dict[str, list[dict[str, Any]]] = {"sms": [], "push": []}
        self.keys: dict[str, str] = {}
        self.outage = False
        self.app = FastAPI()
        app = self.app

        def post(kind: str, fields: tuple[str, ...]) -> Any:
            async def handler(
                request: Request, idempotency_key: str | None = Header(None)
            ) -> JSONResponse:
                if self.outage:
                    return JSONResponse(
                        {"error": "unavailable", "message": "gateway outage"}, status_code=503
                    )
                body = await request.json()
                if not idempotency_key:
                    return JSONResponse(
                        {"error": "invalid", "message": "Idempotency-Key required"},
                        status_code=422,
                    )
                if not isinstance(body, dict) or any(
                    not isinstance(body.get(f), str) for f in fields
                ):
                    return JSONResponse(
                        {"error": "invalid", "message": "bad body"}, status_code=422
                    )
                if idempotency_key in self.keys:
                    return JSONResponse(
                        {
                            "error": "duplicate",
                            "message": "this Idempotency-Key was already sent",
                            "message_id": self.keys[idempotency_key],
                        },
                        status_code=409,
                    )
                message_id = f"{kind}-{uuid.uuid4().hex[:12]}"
                self.keys[idempotency_key] = message_id
                at = datetime.now(UTC).isoformat()
                self.sent[kind].append({**body, "message_id": message_id, "at": at})
                return JSONResponse(
                    {"message_id": message_id, "status": "delivered", "at": at}, status_code=201
                )

            return handler

        app.post("/gateways/sms/messages")(post("sms", ("to", "text")))
        app.post("/gateways/push/messages")(post("push", ("account_id", "title", "body")))
        app.get("/gateways/sms/messages")(lambda: self.sent["sms"])
        app.get("/gateways/push/messages")(lambda: self.sent["push"])

        @app.put("/_admin/faults/{service}")
        async def faults(service: str, request: Request) -> dict[str, Any]:
            self.outage = bool((await request.json()).get("outage"))
            return {"outage": self.outage}

        @app.delete("/_admin/faults")
        async def clear() -> dict[str, Any]:
            self.outage = False
            return {}


def _real_sandbox() -> Any:
    """tests/sandbox_server.start_sandbox when the project's sandbox is there, else None."""
    try:
        import motcua.sandbox.__main__  # noqa: F401
        from tests.sandbox_server import start_sandbox
    except ImportError:
        return None
    return start_sandbox


@contextmanager
def _contract_gateway() -> Iterator[str]:
    gw = ContractGateway()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(gw.app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "in-test gateway did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()


@pytest.fixture(scope="module")
def gateway_base() -> Iterator[str]:
    """Base URL of a running gateway: the project's sandbox as a real subprocess
    (tests/sandbox_server.py) when it is there, else the in-test `ContractGateway`.
    The tests only use the HTTP contract, so they run unchanged on either."""
    start_sandbox = _real_sandbox()
    if start_sandbox is None:
        with _contract_gateway() as base:
            yield base
        return
    base, stop = start_sandbox(seed=7, citizens=50)
    try:
        yield base
    finally:
        stop()


@pytest.fixture
def gateway(gateway_base: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("MOTCUA_GATEWAYS_URL", f"{gateway_base}/gateways")
    httpx.delete(f"{gateway_base}/_admin/faults").raise_for_status()
    yield gateway_base
    httpx.delete(f"{gateway_base}/_admin/faults").raise_for_status()


def _gateway_sent(base: str, kind: str, **match: str) -> list[dict[str, Any]]:
    sent = httpx.get(f"{base}/gateways/{kind}/messages").json()
    return [m for m in sent if all(m.get(k) == v for k, v in match.items())]


def _outage(base: str, on: bool) -> None:
    fault = {"latency_ms": 0, "error_rate": 0.0, "outage": on}
    httpx.put(f"{base}/_admin/faults/gateways", json=fault).raise_for_status()


# ---------------------------------------------------------------- e-mail


async def test_email_arrives_once_with_exact_vietnamese(
    sink: tuple[str, int], mail_dir: Path
) -> None:
    req = _request()
    first = await ActivityEnvironment().run(notifications.send, req)
    again = await ActivityEnvironment().run(notifications.send, req)

    [mail] = messages(mail_dir)
    row = _row(req, "email")
    subject = f"Tiếp nhận hồ sơ {req.dossier_code}"
    assert row.subject == subject and mail.subject == subject
    assert unicodedata.is_normalized("NFC", mail.subject)
    assert mail.body.rstrip("\n") == row.body
    assert unicodedata.is_normalized("NFC", mail.body)
    assert "Kính gửi Trần Thị Hoa," in mail.body
    assert "Ngày hẹn trả kết quả: 25/11/2026" in mail.body
    assert mail.to == ["hoa.tran@example.vn"]
    assert mail.headers["From"] == "Một cửa điện tử <khong-tra-loi@motcua.gov.vn>"
    # RFC 2047 on the wire, not raw UTF-8 in the header.
    raw_subject = next(
        line for line in mail.raw.decode("ascii").splitlines() if line.startswith("Subject:")
    )
    assert "=?utf-8?" in raw_subject
    assert mail.message_id == delivery.message_id(f"{req.idempotency_key}:email", "motcua.gov.vn")

    [d] = first.deliveries
    assert (d.channel, d.status, d.attempts, d.error) == ("email", "sent", 1, None)
    assert d.provider_id and d.provider_id.startswith(mail.message_id)
    assert d.at is not None and d.at.tzinfo is not None
    assert not first.replayed and again.replayed
    assert again.deliveries == first.deliveries
    assert (row.status, row.attempts, row.provider_id) == ("sent", 1, d.provider_id)


async def test_email_failed_before_sink_runs_is_sent_once_on_retry(
    mail_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    req = _request("supplement_requested", reason="Bản sao giấy chứng sinh", due_date="01/12/2026")

    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(notifications.send, req)
    assert err.value.type == "DeliveryFailed" and not err.value.non_retryable
    assert "email" in str(err.value)
    _assert_no_personal_data(str(err.value) + repr(err.value.details))
    _assert_no_personal_data(_sender_logs(caplog))
    row = _row(req, "email")
    assert (row.status, row.attempts, row.sent_at) == ("failed", 1, None)
    assert row.last_error == "smtp: cannot connect to the mail relay"
    assert messages(mail_dir) == []

    port = int(os.environ["MOTCUA_SMTP_PORT"])
    with running_sink(mail_dir, port=port):
        result = await notifications.send(req)
        again = await notifications.send(req)
    [mail] = messages(mail_dir)
    assert mail.subject == f"Yêu cầu bổ sung hồ sơ {req.dossier_code}"
    assert "Nội dung cần bổ sung: Bản sao giấy chứng sinh" in mail.body
    assert mail.body.rstrip("\n") == _row(req, "email").body
    assert result.replayed and again.replayed  # the outbox row was written by the first try
    assert [(d.status, d.attempts) for d in result.deliveries] == [("sent", 2)]
    assert again.deliveries == result.deliveries
    row = _row(req, "email")
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)
    _assert_no_personal_data(_sender_logs(caplog))


def _crash_mid_send(req: Any, channel: str, ago: float = 90.0) -> None:
    """What a worker that died after claiming a row leaves behind: the row `sending`,
    claimed `ago` seconds back (past the send lease: its attempt is gone)."""
    claimed = datetime.now(UTC) - timedelta(seconds=ago)
    with db.session() as s:
        s.exec(
            update(notifications.OutboxRow)
            .where(
                col(notifications.OutboxRow.idempotency_key) == req.idempotency_key,
                col(notifications.OutboxRow.channel) == channel,
            )
            .values(status="sending", attempts=1, attempted_at=claimed)
        )
        s.commit()


async def test_email_row_found_sending_is_attempted_again(
    sink: tuple[str, int], mail_dir: Path
) -> None:
    req = _request("result_ready", result="Giấy khai sinh bản điện tử")
    notifications.record_sync(req)
    _crash_mid_send(req, "email")

    result = await notifications.send(req)
    [mail] = messages(mail_dir)
    assert "Kết quả: Giấy khai sinh bản điện tử" in mail.body
    assert [(d.status, d.attempts) for d in result.deliveries] == [("sent", 2)]
    assert _row(req, "email").resends == 1  # counted: the lost attempt may have sent it


async def test_row_still_being_sent_is_not_sent_beside_its_attempt(
    sink: tuple[str, int], mail_dir: Path
) -> None:
    # An attempt ran past its timeout under load and is still sending; its retry arrives.
    req = _request("result_ready", result="Giấy khai sinh bản điện tử")
    notifications.record_sync(req)
    _crash_mid_send(req, "email", ago=5.0)
    with pytest.raises(ApplicationError, match="being delivered by another attempt"):
        await notifications.send(req)
    assert messages(mail_dir) == []
    row = _row(req, "email")
    assert (row.status, row.attempts, row.resends) == ("sending", 1, 0)


async def test_delivery_off_records_only(
    sink: tuple[str, int], mail_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTCUA_NOTIFY_DELIVERY", "off")
    req = _request()
    result = await notifications.send(req)
    assert [d.status for d in result.deliveries] == ["queued"]
    assert messages(mail_dir) == []


def test_sink_command_line(tmp_path: Path) -> None:
    port = _free_port()
    folder = tmp_path / "sink"
    proc = subprocess.Popen(
        [sys.executable, "-m", "motcua.smtp_sink", "--port", str(port), "--dir", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
                assert time.monotonic() < deadline, "sink did not start"
                time.sleep(0.1)
        msg = delivery.Message(
            key="X:1:email",
            channel="email",
            address="an.nguyen@example.vn",
            subject="Thông báo — hồ sơ đã được tiếp nhận",
            body="Kính gửi Ông/Bà,\n.\nTrân trọng.",
        )
        settings = dataclasses.replace(get_settings(), smtp_host="127.0.0.1", smtp_port=port)
        asyncio.run(delivery.deliver(msg, settings))
        [mail] = messages(folder)
        assert mail.subject == "Thông báo — hồ sơ đã được tiếp nhận"
        assert mail.body == "Kính gửi Ông/Bà,\n.\nTrân trọng.\n"
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


# ---------------------------------------------------------------- SMS and push


async def test_sms_and_push_once_per_key(gateway: str, sink: tuple[str, int]) -> None:
    req = _request("received", channels=["email", "sms", "app"])
    first = await ActivityEnvironment().run(notifications.send, req)
    again = await notifications.send(req)

    sms_key = f"{req.idempotency_key}:sms"
    [sms] = _gateway_sent(gateway, "sms", to="0912345678")
    [push] = _gateway_sent(gateway, "push", account_id="acc-001203000123")
    assert sms["text"] == _row(req, "sms").body and req.dossier_code in sms["text"]
    assert sms.get("idempotency_key", sms_key) == sms_key  # the sandbox lists the key
    assert unicodedata.is_normalized("NFC", sms["text"])
    assert push["title"] == f"Tiếp nhận hồ sơ {req.dossier_code}"
    assert push["body"] == _row(req, "app").body
    by_channel = {d.channel: d for d in first.deliveries}
    assert {c: d.status for c, d in by_channel.items()} == {
        "email": "sent",
        "sms": "sent",
        "app": "sent",
    }
    assert by_channel["sms"].provider_id == sms["message_id"]
    assert by_channel["app"].provider_id == push["message_id"]
    assert again.deliveries == first.deliveries
    # The key the gateway saw is the notification's key and channel.
    response = httpx.post(
        f"{gateway}/gateways/sms/messages",
        json={"to": "0912345678", "text": "x"},
        headers={"Idempotency-Key": sms_key},
    )
    assert response.status_code == 409 and response.json()["message_id"] == sms["message_id"]


async def test_gateway_duplicate_after_crash_records_sent(gateway: str) -> None:
    """The worker died after the gateway took the SMS but before `sent` was committed."""
    req = _request("rejected", channels=["sms"], reason="Hồ sơ không hợp lệ")
    notifications.record_sync(req)
    row = _row(req, "sms")
    earlier = httpx.post(
        f"{gateway}/gateways/sms/messages",
        json={"to": row.address, "text": row.body},
        headers={"Idempotency-Key": f"{req.idempotency_key}:sms"},
    )
    assert earlier.status_code == 201
    _crash_mid_send(req, "sms")

    result = await notifications.send(req)
    [d] = result.deliveries
    assert (d.status, d.provider_id, d.attempts) == ("sent", earlier.json()["message_id"], 2)
    assert len(_gateway_sent(gateway, "sms", text=row.body)) == 1


async def test_only_the_failed_channel_goes_again(
    gateway: str, sink: tuple[str, int], mail_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    req = _request("overdue_apology", channels=["email", "sms"], new_due_date="05/12/2026")
    _outage(gateway, True)
    with pytest.raises(ApplicationError) as err:
        await notifications.send(req)
    assert err.value.type == "DeliveryFailed" and not err.value.non_retryable
    assert "on sms:" in str(err.value) and "email" not in str(err.value)
    assert "503 unavailable" in str(err.value)
    _assert_no_personal_data(str(err.value) + repr(err.value.details) + _sender_logs(caplog))
    assert (_row(req, "email").status, _row(req, "sms").status) == ("sent", "failed")
    assert len(messages(mail_dir)) == 1

    _outage(gateway, False)
    result = await notifications.send(req)
    assert {d.channel: (d.status, d.attempts) for d in result.deliveries} == {
        "email": ("sent", 1),
        "sms": ("sent", 2),
    }
    assert len(messages(mail_dir)) == 1
    [sms] = _gateway_sent(gateway, "sms", text=_row(req, "sms").body)
    assert "Hẹn lại ngày 05/12/2026" in sms["text"]
    _assert_no_personal_data(_sender_logs(caplog))


async def test_gateway_unreachable_is_retryable_without_addresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MOTCUA_GATEWAYS_URL", f"http://127.0.0.1:{_free_port()}/gateways")
    req = _request("received", channels=["sms", "app"])
    with pytest.raises(ApplicationError) as err:
        await notifications.send(req)
    assert err.value.type == "DeliveryFailed" and not err.value.non_retryable
    assert err.value.message.startswith("notification not delivered on app, sms:")
    _assert_no_personal_data(str(err.value) + repr(err.value.details))
    assert {r.status for r in notifications.outbox(req.dossier_code)} == {"failed"}
