"""Run the sandbox registries as a subprocess: for tests, simulations and benchmarks.

    base_url, stop = start_sandbox(seed=42, citizens=2_000)   # http://127.0.0.1:<port>
    ...
    stop()

    with SandboxProcess() as sandbox:                          # restarts only when needed
        url = sandbox.ensure(seed=7, today=date(2027, 3, 1))   # a fresh world for that seed/day

The socket is bound here (port 0) and handed to the child, so there is no port race; the
call returns once `/healthz` answers. Point the adapters at it with
`MOTCUA_SANDBOX_URL=base_url`. Every service is under `base_url + "/<prefix>"`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from types import TracebackType

import httpx

ROOT = Path(__file__).resolve().parent.parent.parent


def start_sandbox(
    seed: int = 42,
    citizens: int = 2_000,
    today: date | None = None,
    *,
    timeout: float = 30.0,
    cpu: int | None = None,
) -> tuple[str, Callable[[], None]]:
    """Start `python -m motcua.sandbox` on a free loopback port; (base_url, stop)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    cmd = [sys.executable, "-m", "motcua.sandbox", "--fd", str(sock.fileno())]
    cmd += ["--seed", str(seed), "--citizens", str(citizens)]
    if today is not None:
        cmd += ["--today", today.isoformat()]
    if cpu is not None and hasattr(os, "sched_setaffinity") and _has_taskset():
        cmd = ["taskset", "-c", str(cpu), *cmd]
    proc = subprocess.Popen(cmd, cwd=ROOT, pass_fds=(sock.fileno(),))
    sock.close()
    base_url = f"http://127.0.0.1:{port}"

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the sandbox exited with status {proc.returncode}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return base_url, stop
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop()
            raise RuntimeError("the sandbox did not answer /healthz in time")
        time.sleep(0.05)


def _has_taskset() -> bool:
    return any((Path(d) / "taskset").exists() for d in os.environ.get("PATH", "").split(":"))


class SandboxProcess:
    """One sandbox subprocess reused across runs: `ensure` resets it to a fresh world for the
    day asked (the reset endpoint takes a new `today`), and restarts it only for another seed
    or size."""

    def __init__(self, citizens: int = 2_000) -> None:
        self.citizens = citizens
        self.url: str | None = None
        self._stop: Callable[[], None] | None = None
        self._key: tuple[int, int] | None = None
        self.restarts = 0

    def ensure(self, seed: int = 42, today: date | None = None, citizens: int | None = None) -> str:
        """A running sandbox with a fresh world for (seed, citizens, today); its base URL."""
        key = (seed, citizens or self.citizens)
        if self.url is not None and self._key == key:
            params = {"today": today.isoformat()} if today is not None else {}
            try:
                reply = httpx.post(f"{self.url}/_admin/reset", params=params, timeout=60.0)
                if reply.status_code == 200:
                    return self.url
            except httpx.TransportError:
                pass
        self.stop()
        self.url, self._stop = start_sandbox(seed=key[0], citizens=key[1], today=today)
        self._key = key
        self.restarts += 1
        return self.url

    def stop(self) -> None:
        if self._stop is not None:
            self._stop()
        self.url, self._stop, self._key = None, None, None

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
