"""The codec endpoint (Temporal's remote codec protocol): staff read payloads in plain text
through it, from the Temporal CLI and the Web UI; nobody else does."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from temporalio.testing import WorkflowEnvironment

from motcua.api.app import create_app
from motcua.api.identity import issue_token
from motcua.temporal import data_converter
from motcua.workflows.contracts import CaseStatus
from motcua.workflows.dsl.compile import load_bundle
from tests.conftest import BIN
from tests.demo_case import DOSSIER, EXAMPLE
from tests.helpers import new_worker, start_case, state_when
from tests.test_devstack import free_port

UI = "http://localhost:8233"
PLAIN = {"full_name": "Nguyễn Thị Hoa", "applicant_pid": "001203000123"}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MOTCUA_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MOTCUA_CODEC_CORS_ORIGINS", raising=False)
    for name in ("MOTCUA_JWKS_URL", "MOTCUA_JWT_PUBLIC_KEY", "MOTCUA_JWT_ISSUER"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@pytest.fixture
def client(data_dir: Path) -> TestClient:
    return TestClient(create_app(connect_temporal=False))


def bearer(role: str, **claims: Any) -> dict[str, str]:
    if role in ("officer", "supervisor"):
        claims.setdefault("agency", "UBND-00001")
    return {"Authorization": f"Bearer {issue_token(f'demo.{role}', role, **claims)}"}


def history_payload() -> dict[str, Any]:
    """A payload as a history holds it: the product's converter, then the codec."""
    converter = data_converter()
    [payload] = asyncio.run(converter.encode([PLAIN]))
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


def plain_json(payload: dict[str, Any]) -> Any:
    metadata = {k: base64.b64decode(v) for k, v in payload["metadata"].items()}
    assert metadata["encoding"] == b"json/plain"
    return json.loads(base64.b64decode(payload["data"]))


def test_staff_decode_what_the_workers_encrypted(client: TestClient) -> None:
    stored = history_payload()
    assert base64.b64decode(stored["metadata"]["encoding"]) == b"binary/encrypted"
    for role in ("officer", "supervisor", "auditor", "admin"):
        reply = client.post("/codec/decode", json={"payloads": [stored]}, headers=bearer(role))
        assert reply.status_code == 200, (role, reply.text)
        assert plain_json(reply.json()["payloads"][0]) == PLAIN


def test_encode_then_decode_gives_the_payload_back(client: TestClient) -> None:
    plain = {
        "metadata": {"encoding": base64.b64encode(b"json/plain").decode()},
        "data": base64.b64encode(json.dumps(PLAIN).encode()).decode(),
    }
    encoded = client.post("/codec/encode", json={"payloads": [plain]}, headers=bearer("auditor"))
    assert encoded.status_code == 200
    [sealed] = encoded.json()["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
    assert PLAIN["full_name"].encode() not in base64.b64decode(sealed["data"])
    decoded = client.post("/codec/decode", json=encoded.json(), headers=bearer("officer"))
    assert decoded.json() == {"payloads": [plain]}

    # An altered ciphertext is refused with the reason, not a 500.
    data = bytearray(base64.b64decode(sealed["data"]))
    data[-1] ^= 1
    tampered = {**sealed, "data": base64.b64encode(bytes(data)).decode()}
    refused = client.post("/codec/decode", json={"payloads": [tampered]}, headers=bearer("admin"))
    assert refused.status_code == 422 and "failed authentication" in refused.json()["detail"]


def test_only_staff_who_read_cases_may_decode(client: TestClient) -> None:
    body = {"payloads": [history_payload()]}
    for path in ("/codec/decode", "/codec/encode"):
        none = client.post(path, json=body)
        assert none.status_code == 401 and none.headers["www-authenticate"] == "Bearer"
        assert none.json()["detail"].startswith("log in first")
        for role in ("citizen", "analyst"):
            refused = client.post(path, json=body, headers=bearer(role))
            assert refused.status_code == 403
            assert refused.json()["detail"] == (
                f"only officer, supervisor, auditor, admin may do this; your role is {role}"
            )
    expired = {"Authorization": f"Bearer {issue_token('a', 'admin', ttl=-5)}"}
    assert client.post("/codec/decode", json=body, headers=expired).status_code == 401


def test_the_web_ui_calls_it_with_a_login_cookie(client: TestClient) -> None:
    stored = {"payloads": [history_payload()]}
    # The browser's preflight from the Web UI's origin, as the UI sends its request.
    preflight = client.options(
        "/codec/decode",
        headers={"Origin": UI, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type,x-namespace"},
    )  # fmt: skip
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == UI
    assert preflight.headers["access-control-allow-credentials"] == "true"
    stranger = client.options(
        "/codec/decode",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in stranger.headers

    ui = {"Origin": UI, "X-Namespace": "default"}
    before = client.post("/codec/decode", json=stored, headers=ui)
    assert before.status_code == 401  # readable by the UI: CORS headers on the refusal too
    assert before.headers["access-control-allow-origin"] == UI

    assert "Include cross-origin credentials" in client.get("/codec/login").text
    token = bearer("officer")["Authorization"].removeprefix("Bearer ")
    citizen = bearer("citizen")["Authorization"].removeprefix("Bearer ")
    refused = client.post("/codec/login", data={"token": citizen})
    assert refused.status_code == 403 and "your role is citizen" in refused.text
    assert "motcua_codec" not in refused.headers.get("set-cookie", "")

    page = client.post("/codec/login", data={"token": token})
    assert page.status_code == 200 and "Đã đăng nhập" in page.text
    cookie = page.headers["set-cookie"]
    for attribute in ("motcua_codec=", "HttpOnly", "Path=/codec", "SameSite=lax", "Max-Age="):
        assert attribute in cookie, cookie
    after = client.post("/codec/decode", json=stored, headers=ui)  # the cookie jar sends it
    assert after.status_code == 200
    assert plain_json(after.json()["payloads"][0]) == PLAIN

    client.post("/codec/logout")
    assert client.post("/codec/decode", json=stored, headers=ui).status_code == 401


@pytest.fixture
def api_server(data_dir: Path) -> Iterator[str]:
    """The API served over HTTP on a free port, for the Temporal CLI to call."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(connect_temporal=False), host="127.0.0.1", port=port,
                       log_level="warning")
    )  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        thread.join(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


async def test_the_temporal_cli_shows_a_case_decoded(
    local_env: WorkflowEnvironment, api_server: str
) -> None:
    procedure, members = load_bundle(EXAMPLE)
    code = f"UBND-00001-261123-{uuid.uuid4().hex[:6]}"
    async with new_worker(local_env.client) as worker:
        handle = await start_case(
            local_env.client, worker, procedure, DOSSIER, members=members, code=code
        )
        await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        await handle.terminate("test finished")

    def show(*codec: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "temporal"), "workflow", "show", "--workflow-id", code, "--output",
             "json", "--address", local_env.client.service_client.config.target_host,
             *codec],
            capture_output=True, text=True, encoding="utf-8", timeout=60,
        )  # fmt: skip

    plain = payloads_shown(show())
    assert b"binary/encrypted" in {encoding for encoding, _ in plain}
    assert not any(DOSSIER["full_name"] in data for _, data in plain)
    token = bearer("auditor")["Authorization"]
    decoded = payloads_shown(show("--codec-endpoint", f"{api_server}/codec", "--codec-auth", token))
    start = [data for encoding, data in decoded if DOSSIER["full_name"] in data]
    assert start and all(DOSSIER["applicant_pid"] in data for data in start)
    assert b"binary/encrypted" not in {encoding for encoding, _ in decoded}
    # A citizen's token is refused (the CLI retries, then gives up): nothing in plain text.
    citizen = show("--codec-endpoint", f"{api_server}/codec", "--command-timeout", "3s",
                   "--codec-auth", bearer("citizen")["Authorization"])  # fmt: skip
    assert citizen.returncode != 0 and DOSSIER["full_name"] not in citizen.stdout


def payloads_shown(shown: subprocess.CompletedProcess[str]) -> list[tuple[bytes, str]]:
    """(encoding, data as text) of every payload in `temporal workflow show --output json`."""
    assert shown.returncode == 0, shown.stderr
    found: list[tuple[bytes, str]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("metadata"), dict) and "encoding" in node["metadata"]:
                data = base64.b64decode(node.get("data", ""))
                encoding = base64.b64decode(node["metadata"]["encoding"])
                found.append((encoding, data.decode("utf-8", errors="replace")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(shown.stdout))
    return found
