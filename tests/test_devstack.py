"""`python -m motcua.devstack` (make run): starts, serves, prints instructions, stops cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from motcua import devstack
from tests.helpers import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead too: it only waits for its parent to read its status.
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def launch(tmp_path: Path, port: int, ui_port: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "MOTCUA_DATA_DIR": str(tmp_path / "data"),
        "TEMPORAL_PORT": str(port),
        "TEMPORAL_UI_PORT": str(ui_port),
        "MOTCUA_SANDBOX_PORT": str(free_port()),
        "MOTCUA_SMTP_PORT": str(free_port()),
        "MOTCUA_API_PORT": str(free_port()),
        "MOTCUA_WORKER_METRICS_PORT": str(free_port()),
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("MOTCUA_PUBLIC_URL", "MOTCUA_CODEC_CORS_ORIGINS", "MOTCUA_JWKS_URL",
                 "MOTCUA_JWT_PUBLIC_KEY", "MOTCUA_JWT_ISSUER", "DATABASE_URL"):  # fmt: skip
        env.pop(name, None)
    return subprocess.Popen(
        [sys.executable, "-m", "motcua.devstack"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


class Output:
    """Everything the launcher prints, read by one thread for the life of the process."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        self.proc = proc
        self.lines: list[str] = []
        stdout = proc.stdout
        threading.Thread(
            target=lambda: self.lines.extend(iter(stdout.readline, "")), daemon=True
        ).start()

    def until(self, marker: str, timeout: float, since: int = 0) -> str:
        """The output from line `since` on, once it holds `marker`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = "".join(self.lines[since:])
            if marker in seen:
                return seen
            if self.proc.poll() is not None:
                time.sleep(1)
                break
            time.sleep(0.1)
        raise AssertionError(
            f"{marker!r} not printed (exit {self.proc.poll()}); output:\n{''.join(self.lines)}"
        )


def read_until(proc: subprocess.Popen[str], marker: str, timeout: float) -> str:
    return Output(proc).until(marker, timeout)


@pytest.mark.timeout(150)
def test_devstack_starts_serves_and_stops_all_children(tmp_path: Path) -> None:
    port, ui_port = free_port(), free_port()
    proc = launch(tmp_path, port, ui_port)
    output = Output(proc)
    try:
        out = output.until("Ctrl-C stops everything.", timeout=120)
        assert f"Temporal      localhost:{port}" in out
        assert f"http://localhost:{ui_port}/" in out
        assert "start procedure_defs/examples/every_step.yaml" in out
        assert "decide $CODE review approve" in out
        assert "--role civil_status_officer --agency UBND-00001" in out
        assert "decide $CODE.confirmation confirm approve" in out
        assert "--role police_officer --agency CA-00001" in out
        pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", out)]
        assert len(pids) == 5, out  # temporal, sandbox, smtp-sink, worker, api
        sandbox = re.search(r"registries    (http://\S+)", out)
        assert sandbox is not None
        health = httpx.get(f"{sandbox.group(1)}/healthz", timeout=10)
        assert health.status_code == 200 and health.json()["citizens"] >= 10_000

        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
        ui = httpx.get(f"http://127.0.0.1:{ui_port}/", timeout=10, follow_redirects=True)
        assert ui.status_code == 200 and "<html" in ui.text.lower()
        assert (tmp_path / "data" / "logs" / "worker.log").exists()
        assert (tmp_path / "data" / "temporal.db").exists()
        check_api(out, sandbox.group(1), ui_port, tmp_path / "data" / "logs" / "api.log")

        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
        assert proc.returncode == 0
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in pids)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def check_api(out: str, sandbox: str, ui_port: int, log: Path) -> None:
    """The API as `make run` prints it: ready, its OpenAPI page, one working token per role,
    the codec endpoint given to the Web UI, metrics of the API and of the worker."""
    found = re.search(r"API           (http://localhost:(\d+)) \(OpenAPI: (\S+)\)", out)
    assert found is not None, out
    base, port, docs = found.group(1), found.group(2), found.group(3)
    api = f"http://127.0.0.1:{port}"
    assert docs == f"{base}/docs"
    assert httpx.get(f"{api}/readyz", timeout=10).json() == {"status": "ready"}
    assert httpx.get(f"{api}/docs", timeout=10).status_code == 200

    tokens = dict(re.findall(r"^  (\w+) +.*\n    (eyJ\S+)$", out, re.M))
    assert sorted(tokens) == sorted(["citizen", "officer", "supervisor", "analyst", "auditor",
                                     "admin"]), out  # fmt: skip
    who = {
        role: httpx.get(f"{api}/auth/me", headers={"Authorization": f"Bearer {token}"},
                        timeout=10).json()
        for role, token in tokens.items()
    }  # fmt: skip
    assert {role: me["role"] for role, me in who.items()} == {role: role for role in tokens}
    assert who["officer"]["agency"] == "UBND-00001"
    assert who["officer"]["officer_roles"] == ["civil_status_officer"]
    citizen = httpx.get(f"{sandbox}/population/citizens/{who['citizen']['sub']}", timeout=10)
    assert citizen.status_code == 200  # a person the sandbox registries know

    # The dev server's Web UI was given the codec endpoint; the endpoint answers staff.
    settings = httpx.get(f"http://127.0.0.1:{ui_port}/api/v1/settings", timeout=10).json()
    assert settings["Codec"]["Endpoint"] == f"{base}/codec"
    plain = {"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "eyJhIjogMX0="}
    auditor = {"Authorization": f"Bearer {tokens['auditor']}"}
    sealed = httpx.post(f"{api}/codec/encode", json={"payloads": [plain]}, headers=auditor)
    back = httpx.post(f"{api}/codec/decode", json=sealed.json(), headers=auditor)
    assert back.json() == {"payloads": [plain]}

    assert "motcua_api_requests_total" in httpx.get(f"{api}/metrics", timeout=10).text
    worker = re.search(r"metrics       .* (http://\S+/metrics) \(worker\)", out)
    assert worker is not None, out
    assert "temporal_" in httpx.get(worker.group(1), timeout=10).text
    lines = [line for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(json.loads(line).get("route") == "/codec/decode" for line in lines), lines
    assert "127.0.0.1:" not in "".join(line for line in lines if '"request"' in line)


def test_the_api_is_one_of_the_services(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MOTCUA_PUBLIC_URL", raising=False)
    monkeypatch.setenv("MOTCUA_API_PORT", "8010")
    monkeypatch.setenv("TEMPORAL_UI_PORT", "8243")
    cfg = devstack.config()
    planned = {service.name: service for service in devstack.services(cfg)}
    assert list(planned) == ["temporal", "sandbox", "smtp-sink", "worker", "api"]
    api = planned["api"]
    assert api.argv[1:] == ["-m", "motcua.api", "--host", "127.0.0.1", "--port", "8010"]
    assert api.ports == {"MOTCUA_API_PORT": 8010}
    assert api.env["MOTCUA_CODEC_CORS_ORIGINS"] == "http://localhost:8243,http://127.0.0.1:8243"
    temporal = planned["temporal"].argv
    assert temporal[temporal.index("--ui-codec-endpoint") + 1] == "http://localhost:8010/codec"
    # Documents print the verification URL of this API.
    assert planned["worker"].env["MOTCUA_PUBLIC_URL"] == "http://localhost:8010"
    assert "MOTCUA_WORKER_METRICS_PORT" in planned["worker"].ports


@pytest.mark.timeout(60)
def test_devstack_says_when_a_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = launch(tmp_path, port, free_port())
        out, _ = proc.communicate(timeout=45)
    assert proc.returncode == 1
    assert f"port {port} (TEMPORAL_PORT, for temporal) is already in use" in out
