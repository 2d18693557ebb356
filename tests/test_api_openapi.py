"""The API against its own OpenAPI document, Schemathesis-style (Schemathesis is not
installable here; tests/openapi_checks.py is the small equivalent): for every operation,
Hypothesis generates requests (path and query parameters and headers from their schemas,
mixed with values that exist on the server; JSON bodies from the request schema, and
deliberately malformed ones) with a token of every role, none, a garbage one, an expired
one and a forged one, and sends them through FastAPI's TestClient to the app on the real
stack: Temporal's dev server, a worker process and the sandbox registries.

Every answer must be below 500 (a 503 only where the operation declares it), and match
the schema its document declares for that status; an undeclared refusal must be the
house's `{"detail": "<reason>"}`.

The same property holds with nothing reachable (tests/test_api_openapi_outage.py).

`MOTCUA_OPENAPI_EXAMPLES` sets the examples per operation (default 15, about a minute in
all on a shared machine; a third of them with nothing reachable); e.g. 1000 for a long run
(about 20 minutes). `MOTCUA_OPENAPI_TALLY=<file>` appends one line per request (operation,
status, the start of the answer, the URL), to see how deep a run reached.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from temporalio.testing import WorkflowEnvironment

from motcua.api.app import create_app
from tests.helpers import ROOT
from tests.openapi_requests import (
    BIRTH,
    BY_OPERATION,
    EXAMPLES,
    KNOWN,
    OPERATIONS,
    TEXTS,
    Stack,
    as_caller,
    holds,
    isolate,
    tokens,
    wait_for,
)
from tests.sandbox_server import sandbox_fixture

sandbox = sandbox_fixture(seed=42, citizens=2_000)


@pytest.fixture(scope="module")
def stack(
    local_env: WorkflowEnvironment, sandbox: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """A fresh data dir, a worker process, the app (connecting to the dev server itself, in
    TestClient's event loop), and one real dossier with its signed receipt."""
    data = tmp_path_factory.mktemp("openapi")
    with pytest.MonkeyPatch.context() as env:
        isolate(env, data, sandbox)
        env.setenv("TEMPORAL_ADDRESS", local_env.client.service_client.config.target_host)
        env.setenv("MOTCUA_TASK_QUEUE", f"openapi-{uuid.uuid4()}")
        with (
            (data / "worker.log").open("wb") as log,
            subprocess.Popen(
                [sys.executable, "-m", "tests.worker_proc"], cwd=ROOT, env=dict(os.environ),
                stdout=log, stderr=subprocess.STDOUT,
            ) as worker,
        ):  # fmt: skip
            try:
                with TestClient(create_app(), follow_redirects=False) as http:
                    yield _seeded(http, sandbox)
            finally:
                worker.kill()


def _seeded(http: TestClient, sandbox: str) -> Stack:
    mothers = httpx.get(
        f"{sandbox}/_admin/samples", params={"kind": "mother_with_birth_certificate"}
    ).json()["mother_with_birth_certificate"]
    mother, second = mothers[0], mothers[1]
    stack = Stack(http, tokens(mother["mother_pid"], f"UBND-{mother['commune_code']}"))
    owner = {"Authorization": f"Bearer {stack.tokens['citizen'][1]}"}
    dossier = {"birth_certificate_no": mother["certificate_no"], "child_name": "Lê An"}
    body = {"procedure_id": BIRTH, "dossier": dossier}
    submitted = http.post("/dossiers", json=body, headers={**owner, "Idempotency-Key": "seed"})
    assert submitted.status_code == 201, submitted.text
    code = submitted.json()["dossier_code"]

    def receipt() -> dict[str, Any] | None:
        listed = http.get(f"/dossiers/{code}/documents", headers=owner).json()
        return listed[0] if listed else None

    document = wait_for(receipt, "the seeded dossier's receipt")
    verification = document["verification_url"].rstrip("/").rsplit("/", 1)[-1]
    stack.texts = TEXTS
    analyst = {"Authorization": f"Bearer {stack.tokens['analyst'][1]}"}
    published = http.post(
        "/definitions/publish", content=TEXTS[0], headers={**analyst, "Content-Type": "text/yaml"}
    )
    assert published.status_code in (200, 201), published.text
    version = str(published.json()["version"])
    stack.known = KNOWN | {
        "version": [version, "1"],
        "a": [version],
        "b": [version, "1"],
        "code": [code, f"{code}.review", "UBND-00001-261123-000001"],
        "dossier_code": [code],
        "verification_code": [verification, verification.lower(), "0000-0000-0000"],
        "document_ref": [document["document_ref"]],
        "sha256": [document["sha256"]],
        "birth_certificate_no": [mother["certificate_no"]],
        "dossier": [dossier, {"birth_certificate_no": second["certificate_no"]}, {}],
    }
    return stack


@pytest.mark.timeout(600)
@BY_OPERATION
def test_every_answer_matches_the_openapi_document(
    stack: Stack, method: str, path: str, op: dict[str, Any]
) -> None:
    holds(stack, method, path, op, EXAMPLES)


# ---------------------------------------------------------------- what it found, pinned


def test_an_inbox_due_before_a_moment_without_zone_is_utc(stack: Stack) -> None:
    """It answered 500 with `overdue` too: a naive moment compared with an aware one."""
    for moment in ("2000-01-01T00:00:00", "2000-01-01T07:00:00+07:00"):
        params = {"due_before": moment, "overdue": "true"}
        answer = stack.http.get("/inbox", params=params, headers=as_caller(stack, "officer"))
        assert answer.status_code == 200, answer.text
        assert answer.json()["tasks"] == []


def test_a_citizen_pages_only_as_far_as_the_database_counts(stack: Stack) -> None:
    """An offset past SQLite's integers answered 500."""
    answer = stack.http.get(
        "/dossiers", params={"offset": 2**63}, headers=as_caller(stack, "citizen")
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"] == ["query", "offset"]
    far = stack.http.get(
        "/dossiers", params={"offset": 1_000_000}, headers=as_caller(stack, "citizen")
    )
    assert far.status_code == 200 and far.json() == []


def test_a_body_that_is_not_utf8_is_refused_with_the_problems() -> None:
    """FastAPI's own handler answered 500 here (fastapi/fastapi#13111): it echoes the
    input, and could not encode bytes that are not UTF-8."""
    with TestClient(create_app(connect_temporal=False)) as http:
        answer = http.post(
            "/auth/dev-login", content=b"\x80\xff", headers={"Content-Type": "text/plain"}
        )
        assert answer.status_code == 422
        [problem] = answer.json()["detail"]
        assert problem["loc"] == ["body"] and problem["input"] == "\ufffd\ufffd"
        # A lone surrogate is valid JSON (`"\\ud800"`) but not encodable as UTF-8.
        lone = http.post("/auth/dev-login", content=b'{"sub": "a", "role": "\\ud800"}',
                         headers={"Content-Type": "application/json"})  # fmt: skip
        assert lone.status_code == 422
        assert [(p["loc"], p["input"]) for p in lone.json()["detail"]] == [(["body", "role"], "?")]


def test_the_document_declares_what_the_app_refuses() -> None:
    """Every 422 may be either shape; a token's operations declare 401 and 403; those that
    need Temporal declare 503 (motcua.api.errors)."""
    responses = {(m, p): op["responses"] for m, p, op in OPERATIONS}
    invalid = responses[("POST", "/dossiers")]["422"]["content"]["application/json"]["schema"]
    assert invalid == {"anyOf": [{"$ref": "#/components/schemas/HTTPValidationError"},
                                 {"$ref": "#/components/schemas/Refusal"}]}  # fmt: skip
    assert {"401", "403", "503"} <= set(responses[("GET", "/stalled")])
    assert "503" not in responses[("GET", "/inbox")]  # the read model, not Temporal
    assert {"401", "403"} <= set(responses[("GET", "/auth/me")])
    assert "503" not in responses[("GET", "/auth/me")]
    assert not {"401", "403", "503"} & set(responses[("GET", "/procedures")])
    assert set(responses[("GET", "/readyz")]) == {"200", "503"}
