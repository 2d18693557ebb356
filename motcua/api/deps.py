"""Dependencies shared by the routers: the Temporal client the app holds, and who is
calling (`Caller`, verified from the bearer token by `motcua.api.identity`).

Every endpoint declares who may call it: `Depends(require("citizen"))`, or `Caller` for
any logged-in role; an endpoint with neither is public (see routers/public.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from temporalio.client import Client

from motcua.api.identity import IdentityError, Principal, verify_token


def temporal_client(request: Request) -> Client:
    """The app's Temporal client, connected at start-up (503 while it is not)."""
    client: Client | None = getattr(request.app.state, "temporal", None)
    if client is None:
        raise HTTPException(503, "Temporal is not reachable yet; try again shortly")
    return client


TemporalClient = Annotated[Client, Depends(temporal_client)]


# ---------------------------------------------------------------- who is calling

_bearer = HTTPBearer(auto_error=False, description="A token from `motcua token` or the login")


def current_principal(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The verified caller; 401 with the reason when there is no trustworthy token."""
    if credentials is None:
        raise HTTPException(401, "log in first: send `Authorization: Bearer <token>`", _CHALLENGE)
    try:
        return verify_token(credentials.credentials)
    except IdentityError as e:
        raise HTTPException(401, str(e), _CHALLENGE) from None


Caller = Annotated[Principal, Depends(current_principal)]
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def require(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency admitting only callers with one of `roles` (403 saying who may)."""
    allowed = ", ".join(roles)

    def check(caller: Caller) -> Principal:
        if caller.role not in roles:
            raise HTTPException(403, f"only {allowed} may do this; your role is {caller.role}")
        return caller

    return check
