"""SMS and app-push gateways: record what was sent; a repeated key is refused with 409."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field
from starlette.responses import Response

from motcua.sandbox.common import (
    ApiError,
    Body,
    add_ledger,
    answer,
    idempotency_key,
    record,
    sandbox_of,
)

SERVICE = "gateways"
router = APIRouter(prefix="/gateways")
add_ledger(router, SERVICE)

PHONE = r"^(0|\+84)[1-9][0-9]{8}$"


class SmsIn(Body):
    to: str = Field(pattern=PHONE)
    text: str = Field(min_length=1, max_length=1600)


class PushIn(Body):
    account_id: str = Field(min_length=1)
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=4000)


def send(request: Request, channel: str, content: dict[str, Any]) -> Response:
    sb = sandbox_of(request)
    key = idempotency_key(request)
    with sb.lock:
        first = sb.message_keys[channel].get(key)
        if first is not None:
            raise ApiError(
                409,
                "duplicate",
                "a message was already sent with this Idempotency-Key",
                message_id=first,
            )
        message_id = f"{channel.upper()}{sb.next_seq(channel):08d}"
        at = sb.now().isoformat()
        sb.message_keys[channel][key] = message_id
        sb.messages[channel].append(
            {"message_id": message_id, "idempotency_key": key, "status": "delivered", "at": at}
            | content
        )
        response = {"message_id": message_id, "status": "delivered", "at": at}
        record(sb, SERVICE, key, channel, response)
        sb.journal_write(request.method, request.url.path, key, content)
    return answer(201, response)


@router.post("/sms/messages")
async def send_sms(body: SmsIn, request: Request) -> Response:
    return send(request, "sms", body.model_dump())


@router.post("/push/messages")
async def send_push(body: PushIn, request: Request) -> Response:
    return send(request, "push", body.model_dump())


@router.get("/sms/messages")
async def list_sms(request: Request) -> Response:
    return answer(200, list(sandbox_of(request).messages["sms"]))


@router.get("/push/messages")
async def list_push(request: Request) -> Response:
    return answer(200, list(sandbox_of(request).messages["push"]))
