"""Who is calling: signed JWT bearer tokens carrying a subject and a role.

A token's claims: `sub` (a citizen's personal id, or a staff account), `role` (one of
ROLES), and for staff `agency` (e.g. UBND-00070) and `officer_roles` (the task roles they
may decide, e.g. civil_status_officer); `permissions`, a list of what the caller may do
beyond their role (PERMISSIONS: `personal_data`, to read personal data unmasked in
auditors' timelines and evidence; names this service does not know are ignored, so a
provider may carry others'); `iss`, `aud`, `iat`, `exp` as usual.

Verification trusts one issuer, configured without code changes:
- `MOTCUA_JWT_ISSUER` (default `motcua-dev`) and `MOTCUA_JWT_AUDIENCE` (default `motcua`);
- the issuer's key: `MOTCUA_JWKS_URL` (a real OIDC provider's JWKS, e.g. VNeID's or the
  agencies' identity provider), else `MOTCUA_JWT_PUBLIC_KEY` (a PEM file), else the
  development issuer's own key.

The development issuer stands in for those providers on one machine: an ES256 key pair
under `<data dir>/identity/`, made on first use, that `motcua token` and the development
login sign with. It only signs when no external issuer is configured.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from motcua.settings import get_settings

if TYPE_CHECKING:
    from motcua.workflows.contracts import TokenTrust

Role = Literal["citizen", "officer", "supervisor", "analyst", "auditor", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
STAFF: frozenset[str] = frozenset(ROLES) - {"citizen"}
AGENCY_ROLES = frozenset({"officer", "supervisor"})  # they act within one agency
DEV_ISSUER = "motcua-dev"
ALGORITHMS = ["ES256", "RS256", "EdDSA"]
DEFAULT_TTL = 8 * 3600  # a working day
# What a token may grant beyond its role: `personal_data`, to read personal data unmasked
# (auditors' timelines and evidence bundles; motcua.audit.masking).
Permission = Literal["personal_data"]
PERMISSIONS: tuple[str, ...] = get_args(Permission)
PERSONAL_DATA: Permission = "personal_data"


class IdentityError(Exception):
    """A token that cannot be trusted; the message says why (and holds no claim values)."""


@dataclass(frozen=True)
class Principal:
    """The verified caller."""

    sub: str
    role: str
    agency: str | None = None
    officer_roles: tuple[str, ...] = ()
    permissions: tuple[str, ...] = ()  # known ones only (PERMISSIONS)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF

    def may(self, permission: str) -> bool:
        return permission in self.permissions


@dataclass(frozen=True)
class Trust:
    issuer: str
    audience: str
    jwks_url: str | None
    public_key_file: Path | None

    @property
    def is_dev(self) -> bool:
        return self.jwks_url is None and self.public_key_file is None


def trust() -> Trust:
    env = os.environ
    key_file = env.get("MOTCUA_JWT_PUBLIC_KEY")
    return Trust(
        issuer=env.get("MOTCUA_JWT_ISSUER", DEV_ISSUER),
        audience=env.get("MOTCUA_JWT_AUDIENCE", "motcua"),
        jwks_url=env.get("MOTCUA_JWKS_URL") or None,
        public_key_file=Path(key_file) if key_file else None,
    )


# ---------------------------------------------------------------- the development issuer


def _dev_key_path() -> Path:
    return get_settings().data_dir / "identity" / "dev-signing-key.pem"


def dev_private_key() -> ec.EllipticCurvePrivateKey:
    """The development issuer's key, made on first use (file mode 0600)."""
    path = _dev_key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        try:
            os.link(tmp, path)  # another process may have made one first: keep theirs
        except FileExistsError:
            pass
        tmp.unlink(missing_ok=True)
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise IdentityError(f"{path} does not hold an EC private key")
    return loaded


def dev_jwks() -> dict[str, Any]:
    """The development issuer's public key as a JWKS (served at /.well-known/jwks.json)."""
    public = dev_private_key().public_key()
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(public, as_dict=True)
    return {"keys": [{**jwk, "kid": "dev", "use": "sig", "alg": "ES256"}]}


def issue_token(
    sub: str,
    role: str,
    *,
    agency: str | None = None,
    officer_roles: tuple[str, ...] | list[str] = (),
    permissions: Sequence[str] = (),
    ttl: int = DEFAULT_TTL,
) -> str:
    """A token from the development issuer (refused when an external issuer is trusted)."""
    t = trust()
    if not t.is_dev:
        raise IdentityError("tokens come from the configured identity provider, not from here")
    if role not in ROLES:
        raise IdentityError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    if role in AGENCY_ROLES and not agency:
        raise IdentityError(f"a {role} token needs an agency (e.g. UBND-00070)")
    for permission in permissions:
        if permission not in PERMISSIONS:
            raise IdentityError(
                f"unknown permission {permission!r}; permissions: {', '.join(PERMISSIONS)}"
            )
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": t.issuer, "aud": t.audience, "sub": sub, "role": role, "iat": now, "exp": now + ttl,
    }  # fmt: skip
    if agency:
        claims["agency"] = agency
    if officer_roles:
        claims["officer_roles"] = list(officer_roles)
    if permissions:
        claims["permissions"] = sorted(set(permissions))
    return jwt.encode(claims, dev_private_key(), algorithm="ES256", headers={"kid": "dev"})


# ---------------------------------------------------------------- verification


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True, lifespan=300)


def _key_for(token: str, t: Trust) -> Any:
    if t.jwks_url:
        return _jwks_client(t.jwks_url).get_signing_key_from_jwt(token).key
    if t.public_key_file:
        return serialization.load_pem_public_key(t.public_key_file.read_bytes())
    return dev_private_key().public_key()


def verify_token(token: str) -> Principal:
    """The principal a token names; IdentityError says why a token is not trusted."""
    t = trust()
    try:
        key = _key_for(token, t)
        claims = jwt.decode(
            token,
            key,
            algorithms=ALGORITHMS,
            issuer=t.issuer,
            audience=t.audience,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.ExpiredSignatureError:
        raise IdentityError("the token has expired: log in again") from None
    except jwt.InvalidIssuerError:
        raise IdentityError(f"the token was not issued by {t.issuer}") from None
    except jwt.InvalidAudienceError:
        raise IdentityError(f"the token is not meant for {t.audience}") from None
    except jwt.InvalidSignatureError:
        raise IdentityError("the token's signature does not verify") from None
    except (jwt.PyJWKClientError, OSError) as e:
        raise IdentityError(f"the issuer's keys cannot be read: {type(e).__name__}") from None
    except jwt.InvalidTokenError as e:
        raise IdentityError(f"the token is not valid: {type(e).__name__}") from None
    role = claims.get("role")
    if role not in ROLES:
        raise IdentityError("the token names no known role")
    officer_roles = claims.get("officer_roles") or []
    if not isinstance(officer_roles, list) or not all(isinstance(r, str) for r in officer_roles):
        raise IdentityError("the token's officer_roles must be a list of role names")
    permissions = claims.get("permissions", [])
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise IdentityError("the token's permissions must be a list of names (e.g. personal_data)")
    agency = claims.get("agency")
    return Principal(
        sub=str(claims["sub"]),
        role=role,
        agency=agency if isinstance(agency, str) else None,
        officer_roles=tuple(officer_roles),
        permissions=tuple(p for p in PERMISSIONS if p in permissions),
    )


# ---------------------------------------------------------------- what a case trusts


def case_trust() -> TokenTrust:
    """The issuer, audience and public keys pinned into a case at its start, so the case
    can check officers' tokens itself (motcua.workflows.tokens, ADR 0013)."""
    from motcua.workflows.contracts import TokenTrust

    t = trust()
    if t.jwks_url:
        import httpx

        jwks = httpx.get(t.jwks_url, timeout=10).raise_for_status().json()
    elif t.public_key_file:
        public = serialization.load_pem_public_key(t.public_key_file.read_bytes())
        if isinstance(public, ec.EllipticCurvePublicKey):
            jwk = jwt.algorithms.ECAlgorithm.to_jwk(public, as_dict=True)
            alg = "ES256"
        elif isinstance(public, rsa.RSAPublicKey):
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(public, as_dict=True)
            alg = "RS256"
        else:
            raise IdentityError(f"{t.public_key_file}: an EC or RSA public key is expected")
        jwks = {"keys": [{**jwk, "use": "sig", "alg": alg}]}
    else:
        jwks = dev_jwks()
    return TokenTrust(issuer=t.issuer, audience=t.audience, jwks=jwks)
