"""Processes a benchmark measures: Temporal's dev server and worker subprocesses.

Each is a child process of the benchmark, so its CPU time (user + system, all threads)
and resident memory are read from /proc/<pid>, before and after what is measured.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from motcua.devstack import temporal_serving
from motcua.workflows.contracts import SEARCH_ATTRIBUTES

BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
TICKS = os.sysconf("SC_CLK_TCK")
READY = "worker ready"  # what bench/bench_worker.py prints once it polls
_SA_TYPES = {"KEYWORD": "Keyword", "DATETIME": "Datetime"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid`, all its threads, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After the command name: state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / TICKS


def memory_kib(pid: int, field: str = "VmRSS") -> int:
    """A /proc/<pid>/status figure in KiB: VmRSS (resident now) or VmHWM (its peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class Child:
    """A subprocess with its log in `logs`; ready when `ready_text` is in its log."""

    def __init__(self, name: str, argv: list[str], logs: Path, env: dict[str, str]) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **env}
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log_path.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not start; see {self.log_path}")
            time.sleep(0.1)

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 20.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


def start_server(data_dir: Path | None, logs: Path) -> tuple[Child, str]:
    """Temporal's dev server on free ports, headless, with motcua's search attributes (as
    motcua.devstack starts it), its SQLite file in `data_dir` (None: in memory). Returns it
    and its address."""
    port = free_port()
    attributes = [
        arg
        for key in SEARCH_ATTRIBUTES
        for arg in ("--search-attribute", f"{key.name}={_SA_TYPES[key.indexed_value_type.name]}")
    ]
    argv = [str(BIN / "temporal"), "server", "start-dev", "--headless", "--ip", "127.0.0.1"]
    argv += ["--port", str(port), "--http-port", str(free_port())]
    argv += ["--metrics-port", str(free_port())]
    if data_dir is not None:
        argv += ["--db-filename", str(data_dir / "temporal.db")]
    argv += [*attributes, "--log-level", "warn"]
    server = Child("temporal", argv, logs, {})
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not temporal_serving(address):
        if server.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"Temporal's dev server did not start; see {server.log_path}")
        time.sleep(0.2)
    return server, address


def start_worker(
    kind: str, address: str, queue: str, logs: Path, profile: Path | None = None
) -> Child:
    """bench/bench_worker.py for `kind` ('engine' or 'twin'), polling `queue`; call
    `wait_for(READY)` on it before use (so that several start side by side)."""
    argv = [sys.executable, str(BENCH / "bench_worker.py"), kind, "--address", address]
    argv += ["--task-queue", queue]
    if profile is not None:
        argv += ["--profile", str(profile)]
    return Child(f"worker-{kind}{'-profiled' if profile else ''}", argv, logs, {})
