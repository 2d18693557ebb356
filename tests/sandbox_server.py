"""Start the sandbox registries as a real subprocess for tests.

    from tests.sandbox_server import start_sandbox, sandbox_server

    base_url, stop = start_sandbox(seed=42, citizens=2_000)   # http://127.0.0.1:<port>
    ...
    stop()

    with sandbox_server(seed=7) as base_url:                   # the same, as a context
        ...

    sandbox = sandbox_fixture(seed=42, citizens=2_000)         # a pytest fixture (module
                                                               # scope) yielding base_url
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


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
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        cmd = ["taskset", "-c", str(cpu), *cmd] if _has_taskset() else cmd
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


@contextmanager
def sandbox_server(**kwargs: Any) -> Iterator[str]:
    """`start_sandbox` as a context manager yielding the base URL."""
    base_url, stop = start_sandbox(**kwargs)
    try:
        yield base_url
    finally:
        stop()


def sandbox_fixture(scope: str = "module", **kwargs: Any) -> Any:
    """A pytest fixture yielding a running sandbox's base URL: `sandbox = sandbox_fixture()`."""

    @pytest.fixture(scope=scope)  # type: ignore[call-overload,misc]
    def _sandbox() -> Iterator[str]:
        with sandbox_server(**kwargs) as base_url:
            yield base_url

    return _sandbox
