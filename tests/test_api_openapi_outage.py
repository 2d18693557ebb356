"""The API against its OpenAPI document with nothing it depends on reachable: Temporal gone
after the app connected, the registries refusing connections. Every answer is a refusal or
a 503 its operation declares, never a 500, and matches the document
(tests/test_api_openapi.py says how; this module needs its own environment, hence its own
file)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from temporalio.client import Client
from temporalio.service import RetryConfig
from temporalio.testing import WorkflowEnvironment

from motcua.api.app import create_app
from motcua.temporal import data_converter
from tests.openapi_requests import (
    BY_OPERATION,
    EXAMPLES,
    KNOWN,
    TEXTS,
    Stack,
    as_caller,
    holds,
    isolate,
    tokens,
)


async def _temporal_gone() -> Client:
    """A client connected to a dev server that has stopped since (each call: UNAVAILABLE,
    after one quick retry instead of the default ten seconds of them)."""
    server = await WorkflowEnvironment.start_local(
        data_converter=data_converter(),
        dev_server_existing_path=str(Path(sys.executable).parent / "temporal"),
        dev_server_log_level="error",
    )
    client = await Client.connect(
        server.client.service_client.config.target_host,
        data_converter=data_converter(),
        retry_config=RetryConfig(max_retries=1, max_elapsed_time_millis=1000),
    )
    await server.shutdown()
    return client


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture(scope="module")
def stranded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The app with nothing it depends on reachable: Temporal went away after the app
    connected, and the registries' address refuses connections."""
    with pytest.MonkeyPatch.context() as env:
        isolate(env, tmp_path_factory.mktemp("stranded"), f"http://127.0.0.1:{_closed_port()}")
        app = create_app(connect_temporal=False)
        with TestClient(app, follow_redirects=False) as http:
            app.state.temporal = http.portal.call(_temporal_gone)  # in the app's event loop
            code = "UBND-00001-261123-000001"
            known = {"code": [code], "dossier_code": [code], "verification_code": ["0" * 12],
                     "document_ref": ["0" * 64 + ".pdf"], "birth_certificate_no": ["1"],
                     "dossier": [{"birth_certificate_no": "1", "child_name": "Lê An"}]}  # fmt: skip
            yield Stack(http, tokens("001203000123", "UBND-00001"), {**KNOWN, **known}, TEXTS)


@pytest.mark.timeout(600)
@BY_OPERATION
def test_with_nothing_reachable_every_answer_still_matches(
    stranded: Stack, method: str, path: str, op: dict[str, Any]
) -> None:
    """Temporal gone, registries gone: refusals and documented 503s, never a 500."""
    holds(stranded, method, path, op, max(5, EXAMPLES // 3))


def test_a_decision_or_a_resume_while_temporal_is_down_is_503(stranded: Stack) -> None:
    """They answered 500: an RPCError other than not-found or a deadline went through."""
    code = stranded.known["code"][0]
    for url, body in [
        (f"/cases/{code}/tasks/review/decide", {"action": "approve"}),
        (f"/cases/{code}/resume", {"step": "mother", "action": "retry", "reason": "thử lại"}),
    ]:
        answer = stranded.http.post(url, json=body, headers=as_caller(stranded, "officer"))
        assert answer.status_code == 503, answer.text
        assert answer.json() == {
            "detail": "Temporal could not answer (UNAVAILABLE); try again shortly"
        }
