"""Fault injection per service: outage (503), latency, injected failures (500).

A plain ASGI middleware (no per-request task or body buffering unless a fault needs it).
Order: an outage answers 503 at once; otherwise the latency is slept, then an injected
failure is drawn from the service's seeded RNG. With `error_after_apply` the request runs
first and its answer is replaced by the 500 (the write happened, the caller never knows):
the case idempotent retries exist for.

The endpoints tests observe with (`/<prefix>/_ledger`, `GET /gateways/sms/messages`,
`GET /gateways/push/messages`) are never faulted.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from motcua.sandbox.state import SERVICES, Sandbox

_OBSERVERS = {"/gateways/sms/messages", "/gateways/push/messages"}


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    raw = json.dumps(body, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


class FaultMiddleware:
    def __init__(self, app: ASGIApp, sandbox: Sandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        service = path.split("/", 2)[1] if path.count("/") >= 1 else ""
        if (
            service not in SERVICES
            or path.endswith("/_ledger")
            or (scope["method"] == "GET" and path.rstrip("/") in _OBSERVERS)
        ):
            await self.app(scope, receive, send)
            return
        fault = self.sandbox.faults[service]
        if fault.outage:
            await _send_json(
                send, 503, {"error": "unavailable", "message": f"{service} is unavailable"}
            )
            return
        if fault.latency_ms > 0:
            await asyncio.sleep(fault.latency_ms / 1000)
        failing = fault.error_rate > 0 and self.sandbox.fault_rngs[service].random() < (
            fault.error_rate
        )
        if not failing:
            await self.app(scope, receive, send)
            return
        if fault.error_after_apply:

            async def swallow(_: Message) -> None:
                return None

            await self.app(scope, receive, swallow)
        await _send_json(send, 500, {"error": "error", "message": "injected failure"})
