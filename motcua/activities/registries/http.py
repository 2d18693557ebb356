"""The one HTTP client the registry adapters share, and how answers become Temporal errors.

`request(...)` returns the JSON body of a 2xx answer. Everything else is an
`ApplicationError` whose type the workflow (and an officer reading a stall) can act on:

| answer                                   | type                 | retried |
|------------------------------------------|----------------------|---------|
| 404                                      | NotFound             | no      |
| 422 `not_eligible`                       | NotEligible          | no      |
| 422 `idempotency_conflict`               | IdempotencyConflict  | no      |
| 422 `invalid` (or any other 422)         | InvalidInput         | no      |
| 409 `duplicate` (details: first msg id)  | Duplicate            | no      |
| 408, 429, 5xx, timeout, connection error | Unavailable          | yes     |
| any other status                         | Refused              | no      |
| 2xx whose body breaks the contract       | InvalidAnswer        | no      |

Messages name the registry, the operation and the status, never the request: a path holds
personal ids, so it is never echoed (and httpx's own request log is turned down to WARNING
for the same reason). The registry's own `message` is promised free of personal data by the
contract (docs/sandbox-api.md); it is still cut short and its long digit runs masked.

Base URLs come from settings at call time; timeouts from MOTCUA_HTTP_TIMEOUT, either
"READ" or "CONNECT,READ" in seconds (default 3 s to connect, 10 s to read).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import weakref
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError
from temporalio.exceptions import ApplicationError

from motcua.activities.base import IMPLICIT_FIELDS, ActivityInput
from motcua.settings import get_settings

DEFAULT_CONNECT_TIMEOUT = 3.0
DEFAULT_READ_TIMEOUT = 10.0
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_UNPROCESSABLE = {
    "not_eligible": "NotEligible",
    "idempotency_conflict": "IdempotencyConflict",
    "invalid": "InvalidInput",
}
_LONG_DIGITS = re.compile(r"\d{6,}")
M = TypeVar("M", bound=BaseModel)

# One client (connection pool) per base URL, per event loop: a pool cannot cross loops.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary()
)


def seg(value: str) -> str:
    """`value` as one path segment (a slash or '?' in an id cannot change the route)."""
    return quote(str(value), safe="")


def payload(req: ActivityInput, *, without: tuple[str, ...] = ()) -> dict[str, Any]:
    """The JSON body of a write: the input's fields minus what the workflow adds."""
    return req.model_dump(mode="json", exclude={*IMPLICIT_FIELDS, *without})


def timeout() -> httpx.Timeout:
    """MOTCUA_HTTP_TIMEOUT, read now: "READ" or "CONNECT,READ" seconds."""
    raw = os.environ.get("MOTCUA_HTTP_TIMEOUT", "").strip()
    if not raw:
        return httpx.Timeout(DEFAULT_READ_TIMEOUT, connect=DEFAULT_CONNECT_TIMEOUT)
    parts = [float(p) for p in raw.split(",")]
    read = parts[-1]
    connect = parts[0] if len(parts) > 1 else min(DEFAULT_CONNECT_TIMEOUT, read)
    return httpx.Timeout(read, connect=connect)


def _client(base_url: str) -> httpx.AsyncClient:
    pools = _clients.setdefault(asyncio.get_running_loop(), {})
    client = pools.get(base_url)
    if client is None or client.is_closed:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # its INFO log prints URLs
        client = pools[base_url] = httpx.AsyncClient(base_url=base_url)
    return client


def _error(label: str, status: int, body: Any) -> ApplicationError:
    body = body if isinstance(body, dict) else {}
    code = str(body.get("error", ""))
    said = _LONG_DIGITS.sub("…", str(body.get("message", "")))[:200]
    text = f"{label}: {code or 'error'} (HTTP {status})" + (f": {said}" if said else "")
    if status == 404:
        return ApplicationError(text, type="NotFound", non_retryable=True)
    if status == 422:
        kind = _UNPROCESSABLE.get(code, "InvalidInput")
        return ApplicationError(text, type=kind, non_retryable=True)
    if status == 409 and code == "duplicate":
        first = {"message_id": body.get("message_id")}
        return ApplicationError(text, first, type="Duplicate", non_retryable=True)
    if status in (408, 429) or status >= 500:
        return ApplicationError(text, type="Unavailable")
    return ApplicationError(text, type="Refused", non_retryable=True)


async def request(
    registry: str,
    method: str,
    path: str,
    *,
    operation: str,
    json: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Send one request to `registry` (a settings name); the JSON body of a 2xx answer.

    `operation` ("citizen look-up") is what error messages say instead of the path.
    Writes must carry the workflow's idempotency key; it goes in the `Idempotency-Key` header.
    """
    label = f"{registry} {operation}"
    method = method.upper()
    headers = {"Accept": "application/json"}
    if method in _WRITES:
        if not idempotency_key:
            raise ApplicationError(
                f"{label}: a write needs an idempotency_key (the workflow fills it in)",
                type="InvalidInput",
                non_retryable=True,
            )
        headers["Idempotency-Key"] = idempotency_key
    client = _client(get_settings().registry_url(registry))
    try:
        answer = await client.request(
            method, path.lstrip("/"), json=json, headers=headers, timeout=timeout()
        )
    except httpx.TimeoutException as e:
        raise ApplicationError(
            f"{label}: timed out ({type(e).__name__})", type="Unavailable"
        ) from None
    except httpx.TransportError as e:
        raise ApplicationError(
            f"{label}: unreachable ({type(e).__name__})", type="Unavailable"
        ) from None
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not answer.is_success:
        raise _error(label, answer.status_code, body)
    if not isinstance(body, dict):
        raise ApplicationError(
            f"{label}: answer is not a JSON object (HTTP {answer.status_code})",
            type="Unavailable",
        )
    return body


async def call(
    model: type[M],
    registry: str,
    method: str,
    path: str,
    *,
    operation: str,
    json: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> M:
    """`request(...)`, its answer checked against `model` (the contract's shape)."""
    body = await request(
        registry, method, path, operation=operation, json=json, idempotency_key=idempotency_key
    )
    try:
        return model.model_validate(body)
    except ValidationError as e:
        # Field locations and error kinds only: the values are personal data.
        wrong = "; ".join(f"{'.'.join(map(str, x['loc']))} {x['type']}" for x in e.errors())
        raise ApplicationError(
            f"{registry} {operation}: answer breaks the contract ({wrong})",
            type="InvalidAnswer",
            non_retryable=True,
        ) from None
