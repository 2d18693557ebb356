"""The worker's Temporal SDK metrics on their own port, for Prometheus."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from motcua.worker import metrics_runtime
from tests.test_devstack import free_port


async def test_sdk_metrics_are_served_on_their_port(
    local_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    monkeypatch.setenv("MOTCUA_WORKER_METRICS_PORT", str(port))
    runtime = metrics_runtime()
    assert runtime is not None
    client = await Client.connect(
        local_env.client.service_client.config.target_host, runtime=runtime
    )
    await client.count_workflows()
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    assert "temporal_request" in text, text


def test_a_taken_port_leaves_the_worker_without_metrics(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("MOTCUA_WORKER_METRICS_PORT", str(taken.getsockname()[1]))
        with caplog.at_level(logging.WARNING, logger="motcua.worker"):
            assert metrics_runtime() is None
    assert "no worker metrics on 127.0.0.1:" in caplog.text
    monkeypatch.setenv("MOTCUA_WORKER_METRICS_PORT", "0")
    assert metrics_runtime() is None
    monkeypatch.setenv("MOTCUA_WORKER_METRICS_PORT", "metrics")
    with pytest.raises(ValueError, match="is not a port number"):
        metrics_runtime()
