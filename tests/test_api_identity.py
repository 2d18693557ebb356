"""Identity: tokens from the development issuer, or from a configured provider's key or
JWKS; a refusal is a 401 or 403 with its reason, never a 500."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from motcua.api.app import create_app
from motcua.api.deps import require
from motcua.api.identity import Principal, issue_token
from motcua.cli.token import token


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MOTCUA_DATA_DIR", str(tmp_path))
    for name in ("MOTCUA_JWKS_URL", "MOTCUA_JWT_PUBLIC_KEY", "MOTCUA_JWT_ISSUER"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def app_with_guarded_route() -> FastAPI:
    app = create_app(connect_temporal=False)

    @app.get("/only-officers")
    def only_officers(caller: Principal = Depends(require("officer"))) -> dict[str, str]:
        return {"agency": caller.agency or ""}

    return app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_dev_login_token_says_who_is_calling(data_dir: Path) -> None:
    client = TestClient(create_app(connect_temporal=False))
    body = {"sub": "cb01", "role": "officer", "agency": "UBND-00070",
            "officer_roles": ["civil_status_officer"]}  # fmt: skip
    token = client.post("/auth/dev-login", json=body).json()["access_token"]
    me = client.get("/auth/me", headers=bearer(token)).json()
    assert me == {"sub": "cb01", "role": "officer", "agency": "UBND-00070",
                  "officer_roles": ["civil_status_officer"], "permissions": []}  # fmt: skip
    assert (data_dir / "identity" / "dev-signing-key.pem").stat().st_mode & 0o077 == 0


def test_untrustworthy_tokens_are_401_with_the_reason(data_dir: Path) -> None:
    client = TestClient(create_app(connect_temporal=False))
    assert "log in first" in client.get("/auth/me").json()["detail"]
    expired = issue_token("001203000123", "citizen", ttl=-10)
    assert "expired" in client.get("/auth/me", headers=bearer(expired)).json()["detail"]
    other = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    claims = {"iss": "motcua-dev", "aud": "motcua", "sub": "x", "role": "admin",
              "iat": now, "exp": now + 60}  # fmt: skip
    forged = jwt.encode(claims, other, algorithm="ES256")
    reply = client.get("/auth/me", headers=bearer(forged))
    assert reply.status_code == 401 and "signature" in reply.json()["detail"]
    foreign = jwt.encode({**claims, "iss": "someone"}, other, algorithm="ES256")
    assert client.get("/auth/me", headers=bearer(foreign)).status_code == 401
    garbage = client.get("/auth/me", headers=bearer("not-a-token"))
    assert garbage.status_code == 401 and "not valid" in garbage.json()["detail"]


def test_a_role_that_may_not_is_403_naming_who_may(data_dir: Path) -> None:
    client = TestClient(app_with_guarded_route())
    citizen = issue_token("001203000123", "citizen")
    reply = client.get("/only-officers", headers=bearer(citizen))
    assert reply.status_code == 403
    assert reply.json()["detail"] == "only officer may do this; your role is citizen"
    officer = issue_token("cb01", "officer", agency="UBND-00070")
    assert client.get("/only-officers", headers=bearer(officer)).json() == {"agency": "UBND-00070"}


def _provider() -> tuple[ec.EllipticCurvePrivateKey, dict[str, Any]]:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return key, {"keys": [{**jwk, "kid": "idp-1", "use": "sig", "alg": "ES256"}]}


def _provider_token(key: ec.EllipticCurvePrivateKey, **extra: Any) -> str:
    now = int(time.time())
    claims = {"iss": "https://id.example.vn", "aud": "motcua", "sub": "001203000123",
              "role": "citizen", "iat": now, "exp": now + 300, **extra}  # fmt: skip
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": "idp-1"})


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, dict[str, Any], ec.EllipticCurvePrivateKey]]:
    key, jwks = _provider()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = json.dumps(jwks).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/jwks.json", jwks, key
    server.shutdown()


def test_a_real_provider_replaces_the_dev_issuer_by_configuration(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, jwks_server: Any
) -> None:
    url, _, key = jwks_server
    monkeypatch.setenv("MOTCUA_JWT_ISSUER", "https://id.example.vn")
    monkeypatch.setenv("MOTCUA_JWKS_URL", url)
    client = TestClient(create_app(connect_temporal=False))
    assert client.get("/auth/me", headers=bearer(_provider_token(key))).json()["role"] == "citizen"
    # The development issuer no longer signs, and its login is gone.
    body = {"sub": "x", "role": "admin"}
    assert client.post("/auth/dev-login", json=body).status_code == 404
    with pytest.raises(Exception, match="identity provider"):
        issue_token("x", "admin")


def test_a_provider_public_key_file_works_too(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, _ = _provider()
    pem = data_dir / "idp.pem"
    pem.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    monkeypatch.setenv("MOTCUA_JWT_ISSUER", "https://id.example.vn")
    monkeypatch.setenv("MOTCUA_JWT_PUBLIC_KEY", str(pem))
    client = TestClient(create_app(connect_temporal=False))
    assert client.get("/auth/me", headers=bearer(_provider_token(key))).status_code == 200
    bad = _provider_token(key, role="emperor")
    assert "no known role" in client.get("/auth/me", headers=bearer(bad)).json()["detail"]


def test_motcua_token_prints_a_token_the_api_accepts(data_dir: Path) -> None:
    result = CliRunner().invoke(token, ["citizen", "--sub", "001203000123"])
    assert result.exit_code == 0, result.output
    client = TestClient(create_app(connect_temporal=False))
    me = client.get("/auth/me", headers=bearer(result.output.strip())).json()
    assert me["sub"] == "001203000123"
    refused = CliRunner().invoke(token, ["officer", "--sub", "cb01"])
    assert refused.exit_code != 0 and "needs an agency" in refused.output
