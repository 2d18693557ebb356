"""The case checks an officer's token itself, in its Update validators (ADR 0013).

A case started with `CaseStart.trust` (the issuer, audience and public keys the starter
trusted) refuses a decision or a resume unless it carries a token that
- is signed by one of those keys, for that issuer and audience, and not expired at the
  workflow's clock;
- names the actor (`sub`), a staff role, and, for a decision, the task's agency and one of
  the roles that may decide the task (`officer_roles`).

So a client that reaches Temporal directly cannot decide with any role and agency it types.
Deterministic: no I/O (the keys are pinned with the case), time from `workflow.now()`.
Validators do not run on replay, so a key rotated later does not affect old histories.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import jwt

from motcua.workflows.contracts import TokenTrust

DECIDING_ROLES = frozenset({"officer", "supervisor"})
RESUMING_ROLES = frozenset({"officer", "supervisor", "admin"})


class TokenRefused(ValueError):
    """Why a token does not allow the act (no claim values in the message)."""


def claims_of(token: str | None, trust: TokenTrust, now: datetime) -> dict[str, Any]:
    """The verified claims of `token`, or TokenRefused."""
    if not token:
        raise TokenRefused("this case needs the officer's token (motcua token, or the login)")
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        keys = [k for k in trust.jwks.get("keys", []) if kid is None or k.get("kid") == kid]
        if not keys:
            raise TokenRefused("the token is signed with a key this case does not trust")
        key = jwt.PyJWK.from_json(json.dumps(keys[0]))
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[key.algorithm_name],
            issuer=trust.issuer,
            audience=trust.audience,
            # The expiry is checked against the workflow's clock below, not the host's.
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except TokenRefused:
        raise
    except jwt.InvalidSignatureError:
        raise TokenRefused(
            "the token's signature does not verify with the keys this case trusts"
        ) from None
    except jwt.InvalidTokenError as e:
        raise TokenRefused(f"the token is not valid: {type(e).__name__}") from None
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp < now.timestamp():
        raise TokenRefused("the token has expired: log in again")
    return claims


def check_decision(
    token: str | None, trust: TokenTrust, now: datetime, *,
    actor: str, role: str, agency: str, task_agency: str,
) -> None:  # fmt: skip
    claims = claims_of(token, trust, now)
    if claims.get("role") not in DECIDING_ROLES:
        raise TokenRefused("only an officer or a supervisor may decide")
    if claims.get("sub") != actor:
        raise TokenRefused("the decision's actor is not the token's holder")
    if claims.get("agency") != task_agency or agency != task_agency:
        raise TokenRefused(f"the token is not for {task_agency}, whose task this is")
    if role not in (claims.get("officer_roles") or []):
        raise TokenRefused(f"the token does not carry the role {role}")


def check_assignment(
    token: str | None, trust: TokenTrust, now: datetime, *, actor: str, task_agency: str
) -> None:
    claims = claims_of(token, trust, now)
    if claims.get("role") != "supervisor":
        raise TokenRefused("only a supervisor may assign a task")
    if claims.get("sub") != actor:
        raise TokenRefused("the assignment's actor is not the token's holder")
    if claims.get("agency") != task_agency:
        raise TokenRefused(f"the token is not for {task_agency}, whose task this is")


def check_resume(
    token: str | None, trust: TokenTrust, now: datetime, *, actor: str, dossier_code: str
) -> None:
    claims = claims_of(token, trust, now)
    role = claims.get("role")
    if role not in RESUMING_ROLES:
        raise TokenRefused("only an officer, a supervisor or an admin may resume a case")
    if claims.get("sub") != actor:
        raise TokenRefused("the resume's actor is not the token's holder")
    # UBND-00070-261123-0001(.member): the agency's code, then the date and the number.
    received_by = dossier_code.split(".")[0].rsplit("-", 2)[0]
    if role != "admin" and claims.get("agency") != received_by:
        raise TokenRefused("the token is not for the agency that received this dossier")
