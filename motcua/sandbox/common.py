"""What every service shares: errors, JSON answers, idempotent writes, ledgers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

from motcua.sandbox.state import Sandbox, Stored


class Body(BaseModel):
    """Request bodies: unknown fields are refused, so a contract drift shows at once."""

    model_config = ConfigDict(extra="forbid")


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.extra = extra


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def invalid(message: str) -> ApiError:
    return ApiError(422, "invalid", message)


def not_eligible(message: str) -> ApiError:
    return ApiError(422, "not_eligible", message)


def error_body(error: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": error, "message": message, **extra}


def answer(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers)


def sandbox_of(request: Request) -> Sandbox:
    sb: Sandbox = request.app.state.sandbox
    return sb


def install_error_handlers(app: FastAPI) -> None:
    async def api_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return answer(exc.status, error_body(exc.error, exc.message, **exc.extra))

    async def validation_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        # Field locations and messages only, never the submitted values (personal data).
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        ]
        return answer(422, error_body("invalid", "; ".join(problems)[:500] or "bad request"))

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return answer(404, error_body("not_found", "no such resource"))
        if exc.status_code == 405:
            return answer(405, error_body("invalid", "method not allowed"))
        return answer(exc.status_code, error_body("error", str(exc.detail)))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)


def idempotency_key(request: Request) -> str:
    key = request.headers.get("idempotency-key", "").strip()
    if not key:
        raise invalid("a write needs the Idempotency-Key header")
    if len(key) > 255:
        raise invalid("Idempotency-Key is longer than 255 characters")
    return key


def fingerprint(request: Request, body: BaseModel | None) -> str:
    doc = {
        "path": request.url.path,
        "body": body.model_dump(mode="json") if body is not None else None,
    }
    raw = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def sent_path(request: Request) -> str:
    """The path as the client sent it, still quoted: a replay of it reaches the same route
    with the same ids, even one holding a slash or a '?' ("12/2001" sent as "12%2F2001")."""
    raw = request.scope.get("raw_path")
    return raw.decode("ascii") if isinstance(raw, bytes) else quote(request.url.path)


def write(
    request: Request,
    service: str,
    operation: str,
    body: BaseModel | None,
    apply: Callable[[Sandbox], tuple[int, Any]],
) -> Response:
    """Apply a registry write at most once per `Idempotency-Key`.

    The same key with the same body (and path) returns the stored answer with
    `Idempotent-Replayed: true`; with another body it is 422 `idempotency_conflict`.
    Only applied writes (2xx) are stored: a refusal (404, 422) applies nothing and stores
    nothing, so the same key may be tried again once the refusal's cause is gone.
    """
    sb = sandbox_of(request)
    key = idempotency_key(request)
    fp = fingerprint(request, body)
    with sb.lock:
        book = sb.books[service]
        seen = book.keys.get(key)
        if seen is not None:
            if seen.fingerprint != fp:
                raise ApiError(
                    422,
                    "idempotency_conflict",
                    "this Idempotency-Key was used with another request",
                )
            return answer(seen.status, seen.body, {"Idempotent-Replayed": "true"})
        status, response = apply(sb)
        payload = body.model_dump(mode="json") if body is not None else None
        sb.journal_write(request.method, sent_path(request), key, payload)
        book.keys[key] = Stored(fp, status, response)
        record(sb, service, key, operation, response)
    return answer(status, response)


def record(sb: Sandbox, service: str, key: str, operation: str, response: Any) -> None:
    book = sb.books[service]
    book.ledger.append(
        {
            "seq": len(book.ledger) + 1,
            "key": key,
            "operation": operation,
            "at": sb.now().isoformat(),
            "response": response,
        }
    )


def add_ledger(router: APIRouter, service: str) -> None:
    @router.get("/_ledger")
    async def ledger(request: Request) -> Response:
        sb = sandbox_of(request)
        with sb.lock:
            return answer(200, list(sb.books[service].ledger))
