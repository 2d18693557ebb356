"""`python -m motcua.devstack` (make run): starts, serves, prints instructions, stops cleanly."""

from __future__ import annotations

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
        "PYTHONUNBUFFERED": "1",
    }
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
        assert len(pids) == 4, out  # temporal, sandbox, smtp-sink, worker
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
