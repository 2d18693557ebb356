"""Log-in stand-ins for one machine, and who the caller is.

`POST /auth/dev-login` issues a token for any subject and role, like `motcua token`. It
exists only while the development issuer is the one trusted (no MOTCUA_JWKS_URL or
MOTCUA_JWT_PUBLIC_KEY) and MOTCUA_DEV_LOGIN is not `0`: with a real identity provider
configured, tokens come from it and this endpoint answers 404.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from motcua.api.deps import Caller
from motcua.api.identity import IdentityError, Permission, Role, dev_jwks, issue_token, trust

router = APIRouter(tags=["identity"])


def _dev_login_open() -> bool:
    return trust().is_dev and os.environ.get("MOTCUA_DEV_LOGIN", "1") != "0"


class DevLogin(BaseModel):
    sub: str = Field(min_length=1, max_length=64, description="Personal id or staff account")
    role: Role
    agency: str | None = Field(None, max_length=32)
    officer_roles: list[str] = Field(default_factory=list, max_length=20)
    permissions: list[Permission] = Field(
        default_factory=list, max_length=5, description="Beyond the role: personal_data"
    )


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"


class Me(BaseModel):
    sub: str
    role: str
    agency: str | None
    officer_roles: list[str]
    permissions: list[str]


@router.post("/auth/dev-login", response_model=TokenOut)
def dev_login(body: DevLogin) -> TokenOut:
    """A development token (stands in for VNeID and the agencies' identity provider)."""
    if not _dev_login_open():
        raise HTTPException(404, "no development login here: log in with the identity provider")
    try:
        token = issue_token(
            body.sub, body.role, agency=body.agency, officer_roles=body.officer_roles,
            permissions=body.permissions,
        )  # fmt: skip
    except IdentityError as e:
        raise HTTPException(422, str(e)) from None
    return TokenOut(access_token=token)


@router.get("/.well-known/jwks.json")
def jwks() -> dict[str, Any]:
    """The development issuer's public key (for tools that verify its tokens)."""
    if not trust().is_dev:
        raise HTTPException(404, "this service does not issue tokens")
    return dev_jwks()


@router.get("/auth/me", response_model=Me)
def me(caller: Caller) -> Me:
    """Who the token says the caller is."""
    return Me(
        sub=caller.sub, role=caller.role, agency=caller.agency,
        officer_roles=list(caller.officer_roles), permissions=list(caller.permissions),
    )  # fmt: skip
