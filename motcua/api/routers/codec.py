"""Temporal's remote codec protocol, for its Web UI and CLI: `POST /codec/encode` and
`POST /codec/decode`, body `{"payloads": [{"metadata": {key: base64}, "data": base64}]}` in
and out (motcua.codec does the work, with the keys of this process).

Decoding shows personal data in plain text, so only staff who may read whole cases call it:
officer, supervisor, auditor and admin (analysts and citizens are refused with 403), and
each decode is appended to the audit log (motcua.audit.log) before its plain text is
sent: who, in which role, how many payloads, which namespace. Who is calling comes from
either
- `Authorization: Bearer <token>`: the Temporal CLI (`--codec-auth "Bearer $TOKEN"`), and a
  Web UI that has its own login with the same identity provider and passes its access token
  (the UI's `codec.passAccessToken`, which it only does to an https endpoint); or
- the cookie `motcua_codec`, holding the same token, that `POST /codec/login` sets from a
  small form at `GET /codec/login`. This is how a Web UI without a login of its own (the
  dev server's under `make run`) decodes: in the UI's Codec Server settings, the browser
  setting with this endpoint and "Include cross-origin credentials" makes the browser send
  the cookie (docs/operations.md, decision 0014).

`CodecCors` answers the browser's CORS checks for /codec/ only, for the Web UI's origins
(MOTCUA_CODEC_CORS_ORIGINS, comma-separated; default http://localhost:8233 and
http://127.0.0.1:8233), with credentials allowed.
"""

from __future__ import annotations

import hashlib
import html
import logging
import os
import time
from typing import Annotated, Any
from urllib.parse import parse_qs

import jwt
from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from motcua.api.deps import current_principal, require
from motcua.api.errors import unavailable
from motcua.api.identity import Principal
from motcua.audit.log import arecord
from motcua.codec import (
    CodecKeyError,
    CodecRequestError,
    PayloadDecryptionError,
    codec_from_settings,
    decode_payloads_json,
    encode_payloads_json,
)

log = logging.getLogger(__name__)

DECODERS = ("officer", "supervisor", "auditor", "admin")
COOKIE = "motcua_codec"
PREFIX = "/codec"
DEFAULT_ORIGINS = "http://localhost:8233,http://127.0.0.1:8233"
# What the Web UI sends: its JSON body, the namespace, and (passAccessToken) its tokens.
ALLOWED_HEADERS = ["content-type", "x-namespace", "authorization", "authorization-extras"]

router = APIRouter(prefix=PREFIX, tags=["codec"])
UNUSABLE_KEYS = unavailable("The payload keys of this service are not usable")
_staff = require(*DECODERS)
_bearer = HTTPBearer(auto_error=False, description="A staff token (`motcua token officer ...`)")
_cookie = APIKeyCookie(name=COOKIE, auto_error=False, description="Set by POST /codec/login")


def codec_caller(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    cookie: Annotated[str | None, Depends(_cookie)],
) -> Principal:
    """The staff member calling, from the bearer token or the login cookie (401/403)."""
    if bearer is None and cookie:
        bearer = HTTPAuthorizationCredentials(scheme="Bearer", credentials=cookie)
    if bearer is None:
        raise HTTPException(
            401,
            "log in first: send `Authorization: Bearer <token>` (CLI: --codec-auth), "
            f"or log in at {PREFIX}/login for the Web UI",
            {"WWW-Authenticate": "Bearer"},
        )
    return _staff(current_principal(bearer))


Decoder = Annotated[Principal, Depends(codec_caller)]


class PayloadIn(BaseModel):
    metadata: dict[str, str] = Field(default_factory=dict, description="key -> base64 value")
    data: str = Field("", description="base64")


class PayloadsIn(BaseModel):
    payloads: list[PayloadIn]


class PayloadsOut(BaseModel):
    payloads: list[dict[str, Any]]


def _audit(what: str, caller: Principal, request: Request, count: int) -> None:
    # Who decoded what is worth keeping; the account itself only as a pseudonym.
    log.info(
        "codec %s", what,
        extra={"role": caller.role, "agency": caller.agency, "payloads": count,
               "namespace": request.headers.get("x-namespace"),
               "actor_ref": hashlib.sha256(caller.sub.encode()).hexdigest()[:12]},
    )  # fmt: skip


async def _run(what: str, body: PayloadsIn) -> dict[str, Any]:
    try:
        codec = codec_from_settings()
        convert = encode_payloads_json if what == "encode" else decode_payloads_json
        return await convert(body.model_dump(), codec)
    except (CodecRequestError, PayloadDecryptionError) as e:
        raise HTTPException(422, str(e)) from None
    except CodecKeyError as e:  # the server's keys, not the caller's fault
        log.error("codec keys unusable: %s", e)
        raise HTTPException(503, "the payload keys of this service are not usable") from None


@router.post("/encode", response_model=PayloadsOut, responses=UNUSABLE_KEYS)
async def encode(body: PayloadsIn, caller: Decoder, request: Request) -> dict[str, Any]:
    """Officer, supervisor, auditor, admin: encrypt payloads as the workers would."""
    _audit("encode", caller, request, len(body.payloads))
    return await _run("encode", body)


@router.post("/decode", response_model=PayloadsOut, responses=UNUSABLE_KEYS)
async def decode(body: PayloadsIn, caller: Decoder, request: Request) -> dict[str, Any]:
    """Officer, supervisor, auditor, admin: decrypt payloads (plain text: personal data)."""
    _audit("decode", caller, request, len(body.payloads))
    plain = await _run("decode", body)
    namespace = (request.headers.get("x-namespace") or "")[:100] or None
    await arecord(
        "decode", actor=caller.sub, role=caller.role,
        detail={"payloads": len(body.payloads), "namespace": namespace},
    )  # fmt: skip
    return plain


# ---------------------------------------------------------------- the Web UI's login


_STYLE = "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}"


def _page(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
        f"<title>Giải mã dữ liệu Temporal</title><style>{_STYLE}</style></head>"
        f"<body><h1>Giải mã dữ liệu cho Temporal Web UI</h1>{body}</body></html>",
        status_code=status,
    )


_FORM = (
    f'<form method="post" action="{PREFIX}/login"><p><label for="t">Mã truy cập (token) của '
    "cán bộ:</label><br><textarea id=t name=token rows=6 cols=60 required></textarea></p>"
    "<p><button>Đăng nhập</button></p></form>"
)
_HOW = (
    "<p>Trong Temporal Web UI, mở cài đặt Codec Server, chọn cài đặt của trình duyệt, nhập "
    "địa chỉ <code>{endpoint}</code> và bật <em>Include cross-origin credentials</em>.</p>"
)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    """Anyone: the form where staff paste their token for the Web UI."""
    return _page(_FORM + _HOW.format(endpoint=html.escape(_endpoint(request))))


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> HTMLResponse:
    """Officer, supervisor, auditor, admin: keep the token in an HttpOnly cookie for /codec."""
    form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
    token = (form.get("token") or [""])[0].strip()
    try:
        caller = _staff(
            current_principal(HTTPAuthorizationCredentials(scheme="Bearer", credentials=token))
            if token
            else current_principal(None)
        )
    except HTTPException as e:
        return _page(f"<p><strong>Không đăng nhập được:</strong> {html.escape(str(e.detail))}"
                     f"</p>{_FORM}", e.status_code)  # fmt: skip
    expires = int(jwt.decode(token, options={"verify_signature": False})["exp"])
    page = _page(
        f"<p>Đã đăng nhập: vai trò <strong>{html.escape(caller.role)}</strong>"
        + (f", cơ quan {html.escape(caller.agency)}" if caller.agency else "")
        + f", đến {time.strftime('%H:%M %d/%m/%Y', time.localtime(expires))}.</p>"
        + _HOW.format(endpoint=html.escape(_endpoint(request)))
        + f'<form method="post" action="{PREFIX}/logout"><button>Đăng xuất</button></form>'
    )
    secure = request.url.scheme == "https"
    page.set_cookie(
        COOKIE, token, max_age=max(0, expires - int(time.time())), path=PREFIX,
        httponly=True, secure=secure, samesite="none" if secure else "lax",
    )  # fmt: skip
    return page


@router.post("/logout", response_class=HTMLResponse)
def logout() -> HTMLResponse:
    """Anyone: forget the codec cookie."""
    page = _page("<p>Đã đăng xuất.</p>" + _FORM)
    page.delete_cookie(COOKIE, path=PREFIX)
    return page


def _endpoint(request: Request) -> str:
    return str(request.base_url).rstrip("/") + PREFIX


# ---------------------------------------------------------------- CORS for the Web UI


def cors_origins() -> list[str]:
    raw = os.environ.get("MOTCUA_CODEC_CORS_ORIGINS", DEFAULT_ORIGINS)
    return [o.strip().rstrip("/") for o in raw.split(",") if o.strip()]


class CodecCors:
    """CORS for /codec/ only: the Web UI's origins may call it, with credentials."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=cors_origins(),
            allow_methods=["POST"],
            allow_headers=ALLOWED_HEADERS,
            allow_credentials=True,
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and str(scope.get("path", "")).startswith(PREFIX + "/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
