"""`python -m motcua.devstack` (what `make run` runs): the whole system on one machine.

Starts, in order, the services listed in `services()`: Temporal's dev server (SQLite file
and Web UI, motcua's search attributes registered, the API's codec endpoint given to the
UI), the sandbox registries, the SMTP sink, the worker (with its SDK metrics port), then the
API, ready once its /readyz answers. Each waits until the previous one is ready. Then it
prints where everything is, a demo token per role and how to start and decide a demo case,
and watches: Ctrl-C or SIGTERM stops every service (last started first); a service that
dies is reported with the end of its log and started again.

Logs: `<data dir>/logs/<service>.log`. Ports: TEMPORAL_PORT (7233), TEMPORAL_UI_PORT
(8233), MOTCUA_SANDBOX_PORT (8100), MOTCUA_SMTP_PORT (8025), MOTCUA_API_PORT (8000),
MOTCUA_WORKER_METRICS_PORT (9464); a port already taken is reported before anything
starts. MOTCUA_PUBLIC_URL (default http://localhost:<API port>) is the API's address as
printed on documents and given to the Web UI.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from motcua import pki
from motcua.api.identity import IdentityError, issue_token
from motcua.settings import ROOT, get_settings
from motcua.workflows.contracts import SEARCH_ATTRIBUTES

BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 8.0
DEMO_FILE = "procedure_defs/examples/every_step.yaml"
DEMO_INPUT = (
    '{"applicant_pid": "001203000123", "full_name": "Nguyễn Thị Hoa", '
    '"commune_code": "00001", "email": "hoa@example.vn"}'
)
_SA_TYPES = {"KEYWORD": "Keyword", "DATETIME": "Datetime", "TEXT": "Text", "INT": "Int"}


class StartError(Exception):
    """The stack cannot start; the message says why and what to do."""


def say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


RESTART_MIN, RESTART_MAX = 1.0, 30.0  # seconds before a crashed service is started again
HEALTHY_AFTER = 60.0  # a service that ran this long before dying starts again at once


@dataclass
class Service:
    """One process of the stack: how to run it and how to know it is ready."""

    name: str
    argv: list[str]
    ready: Callable[[Service], bool]
    env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)  # what -> port it must bind
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _log: IO[bytes] | None = None
    # Supervision: a service that stops on its own is started again after `delay` seconds,
    # doubling up to RESTART_MAX while it keeps dying young (see Stack.watch).
    restarts: int = 0
    started_at: float = 0.0
    delay: float = RESTART_MIN
    restart_at: float | None = None

    def start(self, logs: Path) -> None:
        self.started_at = time.monotonic()
        self.log_path = logs / f"{self.name}.log"
        self._log = self.log_path.open("ab")
        self._log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} start\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            cwd=ROOT,
            # Own process group: a terminal's Ctrl-C reaches the launcher only, which then
            # stops the services in order instead of all of them at once.
            start_new_session=True,
        )

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def wait_or_kill(self, deadline: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 15) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


# ---------------------------------------------------------------- readiness probes


def port_open(port: int, host: str = HOST) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def port_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return not port_open(port, host)


def temporal_serving(address: str) -> bool:
    """Whether the Temporal server at `address` answers its health check."""
    host, _sep, port = address.rpartition(":")
    if not port_open(int(port), host):
        return False
    check = subprocess.run(
        [str(BIN / "temporal"), "operator", "cluster", "health", "--address", address],
        capture_output=True,
        text=True,
        timeout=10,
    )
    return check.returncode == 0 and "SERVING" in check.stdout


def temporal_healthy(address: str) -> Callable[[Service], bool]:
    return lambda _service: temporal_serving(address)


def http_ok(url: str) -> Callable[[Service], bool]:
    def probe(_service: Service) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback
                return bool(response.status == 200)
        except OSError:
            return False

    return probe


def listening(port: int) -> Callable[[Service], bool]:
    return lambda _service: port_open(port)


def log_says(text: str) -> Callable[[Service], bool]:
    def probe(service: Service) -> bool:
        return text in service.log_tail(200)

    return probe


# ---------------------------------------------------------------- the stack


@dataclass(frozen=True)
class Config:
    data_dir: Path
    temporal_port: int
    ui_port: int
    sandbox_port: int
    smtp_port: int
    api_port: int
    worker_metrics_port: int
    public_url: str  # the API as browsers and documents name it

    @property
    def address(self) -> str:
        return f"localhost:{self.temporal_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://{HOST}:{self.sandbox_port}"


def config() -> Config:
    def port(name: str, default: int) -> int:
        raw = os.environ.get(name, str(default))
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise StartError(f"{name}={raw!r} is not a port number (1-65535)")
        return int(raw)

    api_port = port("MOTCUA_API_PORT", 8000)
    public_url = os.environ.get("MOTCUA_PUBLIC_URL") or f"http://localhost:{api_port}"
    return Config(
        data_dir=get_settings().data_dir,
        temporal_port=port("TEMPORAL_PORT", 7233),
        ui_port=port("TEMPORAL_UI_PORT", 8233),
        sandbox_port=port("MOTCUA_SANDBOX_PORT", 8100),
        smtp_port=port("MOTCUA_SMTP_PORT", 8025),
        api_port=api_port,
        worker_metrics_port=port("MOTCUA_WORKER_METRICS_PORT", 9464),
        public_url=public_url.rstrip("/"),
    )


def services(cfg: Config) -> list[Service]:
    """What `make run` starts, in order. Add new services here."""
    search_attributes = [
        arg
        for key in SEARCH_ATTRIBUTES
        for arg in ("--search-attribute", f"{key.name}={_SA_TYPES[key.indexed_value_type.name]}")
    ]
    temporal = Service(
        name="temporal",
        argv=[
            str(BIN / "temporal"),
            "server",
            "start-dev",
            "--ip",
            HOST,
            "--port",
            str(cfg.temporal_port),
            "--ui-port",
            str(cfg.ui_port),
            "--db-filename",
            str(cfg.data_dir / "temporal.db"),
            "--ui-codec-endpoint",
            f"{cfg.public_url}/codec",
            *search_attributes,
            "--log-level",
            "warn",
        ],
        ready=temporal_healthy(f"{HOST}:{cfg.temporal_port}"),
        ports={"TEMPORAL_PORT": cfg.temporal_port, "TEMPORAL_UI_PORT": cfg.ui_port},
    )
    sandbox = Service(
        name="sandbox",
        argv=[sys.executable, "-m", "motcua.sandbox", "--host", HOST]
        + ["--port", str(cfg.sandbox_port), "--seed", "42", "--citizens", "10000"]
        + ["--journal", str(cfg.data_dir / "sandbox.db")],
        ready=http_ok(f"http://{HOST}:{cfg.sandbox_port}/healthz"),
        ports={"MOTCUA_SANDBOX_PORT": cfg.sandbox_port},
    )
    smtp_sink = Service(
        name="smtp-sink",
        argv=[sys.executable, "-m", "motcua.smtp_sink", "--host", HOST]
        + ["--port", str(cfg.smtp_port), "--dir", str(cfg.data_dir / "mail")],
        ready=listening(cfg.smtp_port),
        ports={"MOTCUA_SMTP_PORT": cfg.smtp_port},
    )
    common = {
        "TEMPORAL_ADDRESS": cfg.address,
        "MOTCUA_SANDBOX_URL": cfg.sandbox_url,
        "MOTCUA_PUBLIC_URL": cfg.public_url,  # printed on documents: the API's /verify
        "PYTHONUNBUFFERED": "1",
    }
    worker = Service(
        name="worker",
        argv=[sys.executable, "-m", "motcua.worker"],
        ready=log_says("worker polling task queue"),
        env={
            **common,
            "MOTCUA_SMTP_HOST": HOST,
            "MOTCUA_SMTP_PORT": str(cfg.smtp_port),
            "MOTCUA_WORKER_METRICS_HOST": HOST,
            "MOTCUA_WORKER_METRICS_PORT": str(cfg.worker_metrics_port),
        },
        ports={"MOTCUA_WORKER_METRICS_PORT": cfg.worker_metrics_port},
    )
    api = Service(
        name="api",
        argv=[sys.executable, "-m", "motcua.api", "--host", HOST, "--port", str(cfg.api_port)],
        ready=http_ok(f"http://{HOST}:{cfg.api_port}/readyz"),
        env={
            **common,
            # The Web UI calls the codec endpoint from the browser, from its own origin.
            "MOTCUA_CODEC_CORS_ORIGINS": os.environ.get("MOTCUA_CODEC_CORS_ORIGINS")
            or f"http://localhost:{cfg.ui_port},http://{HOST}:{cfg.ui_port}",
        },
        ports={"MOTCUA_API_PORT": cfg.api_port},
    )
    return [temporal, sandbox, smtp_sink, worker, api]


DEMO_STAFF: list[tuple[str, str, str | None, tuple[str, ...]]] = [
    # role, account, agency, officer roles: the demo case's commune (UBND-00001)
    ("officer", "cb.hotich.00001", "UBND-00001", ("civil_status_officer",)),
    ("supervisor", "ld.ubnd.00001", "UBND-00001", ()),
    ("analyst", "cv.phantich.01", None, ()),
    ("auditor", "kt.thanhtra.01", None, ()),
    ("admin", "qt.hethong.01", None, ()),
]


def demo_citizen(cfg: Config) -> str | None:
    """A personal id the sandbox knows (an adult with a household), or None."""
    url = f"{cfg.sandbox_url}/_admin/samples?count=1&kind=adult_with_household"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback
            found = json.load(response).get("adult_with_household") or []
    except (OSError, ValueError):
        return None
    return str(found[0]) if found else None


def demo_tokens(cfg: Config) -> list[str]:
    """One line per role: who, and a development token (valid 8 hours)."""
    people = [("citizen", demo_citizen(cfg), None, ())] + DEMO_STAFF
    lines = []
    for role, sub, agency, officer_roles in people:
        if sub is None:
            continue
        try:
            token = issue_token(sub, role, agency=agency, officer_roles=officer_roles)
        except IdentityError as e:  # an external identity provider is configured
            return [f"  (no demo tokens: {e})"]
        who = " ".join([sub, *([agency] if agency else []), *officer_roles])
        lines += [f"  {role:<11} {who}", f"    {token}"]
    return lines


def instructions(cfg: Config, running: list[Service]) -> list[str]:
    motcua = os.path.relpath(BIN / "motcua") if (BIN / "motcua").exists() else "motcua"
    env = "" if cfg.temporal_port == 7233 else f"TEMPORAL_ADDRESS={cfg.address} "
    demo = os.path.relpath(ROOT / DEMO_FILE)
    lines = [
        "motcua is running.",
        f"  Temporal      {cfg.address} (namespace default)",
        f"  Web UI        http://localhost:{cfg.ui_port}/namespaces/default/workflows",
        f"  registries    http://{HOST}:{cfg.sandbox_port} (sandbox, faults at /_admin/faults)",
        f"  SMTP sink     {HOST}:{cfg.smtp_port} (mail kept in {cfg.data_dir / 'mail'})",
        f"  API           {cfg.public_url} (OpenAPI: {cfg.public_url}/docs)",
        f"  codec         {cfg.public_url}/codec (decoding in the Web UI: docs/operations.md)",
        f"  metrics       {cfg.public_url}/metrics (API), "
        f"http://{HOST}:{cfg.worker_metrics_port}/metrics (worker)",
        f"  data          {cfg.data_dir}",
        f"  logs          {cfg.data_dir / 'logs'}",
        "  services      "
        + ", ".join(f"{s.name} (pid {s.process.pid})" for s in running if s.process),
        "",
        "Demo tokens, one per role (8 hours; `Authorization: Bearer <token>`; more with",
        f"`{motcua} token ROLE --sub ...`):",
        *demo_tokens(cfg),
        "",
        "Demo case (in another terminal):",
        f"  CODE=$({env}{motcua} start {demo} --quiet \\",
        f"      --input '{DEMO_INPUT}')",
        f"  {env}{motcua} show $CODE",
        f"  {env}{motcua} decide $CODE review approve \\",
        "      --role civil_status_officer --agency UBND-00001 --actor cb.hotich.00001",
        "  # the police confirmation is a member case, <code>.confirmation:",
        f"  {env}{motcua} decide $CODE.confirmation confirm approve \\",
        "      --role police_officer --agency CA-00001 --actor cb.congan.00001",
        f"  {env}{motcua} show $CODE",
        "",
        "Ctrl-C stops everything.",
    ]
    return lines


class Stack:
    def __init__(self, cfg: Config, planned: list[Service]) -> None:
        self.cfg = cfg
        self.planned = planned
        self.running: list[Service] = []
        self.stopping = False
        self.signal_name = ""

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True
        self.signal_name = signal.Signals(signum).name

    def preflight(self) -> None:
        for service in self.planned:
            for what, port in service.ports.items():
                if not port_free(port):
                    raise StartError(
                        f"port {port} ({what}, for {service.name}) is already in use: another "
                        f"`make run` or Temporal server may be running. Stop it, or choose "
                        f"another port, e.g. {what}={port + 10} make run"
                    )

    def start_all(self, logs: Path) -> None:
        for service in self.planned:
            say(f"starting {service.name} ...")
            service.start(logs)
            self.running.append(service)
            deadline = time.monotonic() + READY_TIMEOUT
            while not service.ready(service):
                if self.stopping:
                    return
                code = service.exit_code()
                if code is not None:
                    raise StartError(self._died(service, code))
                if time.monotonic() > deadline:
                    raise StartError(
                        f"{service.name} was not ready after {READY_TIMEOUT:.0f} s; "
                        f"see {service.log_path}"
                    )
                time.sleep(0.2)

    def watch(self, logs: Path) -> int:
        """Until Ctrl-C: a service that stops on its own is logged and started again, with
        backoff, while the others keep running."""
        while not self.stopping:
            for service in self.running:
                self.supervise(service, logs)
            time.sleep(0.3)
        say(f"{self.signal_name or 'stop'} received")
        return 0

    def supervise(self, service: Service, logs: Path) -> None:
        code = service.exit_code()
        if code is None:
            return
        now = time.monotonic()
        if service.restart_at is None:
            if now - service.started_at >= HEALTHY_AFTER:
                service.delay = RESTART_MIN  # it had been fine: no reason to wait long
            service.restart_at = now + service.delay
            say(self._died(service, code))
            say(f"restarting {service.name} in {service.delay:.0f} s")
            service.delay = min(service.delay * 2, RESTART_MAX)
        elif now >= service.restart_at:
            if service._log is not None:
                service._log.close()
                service._log = None
            service.start(logs)
            service.restarts += 1
            service.restart_at = None
            pid = service.process.pid if service.process else "?"
            say(f"{service.name} restarted (pid {pid}, restart {service.restarts})")

    def stop_all(self) -> None:
        deadline = time.monotonic() + STOP_TIMEOUT
        for service in reversed(self.running):
            if service.exit_code() is None:
                say(f"stopping {service.name} ...")
            service.stop()
            service.wait_or_kill(deadline)
        self.running.clear()

    @staticmethod
    def _died(service: Service, code: int) -> str:
        tail = service.log_tail()
        how = f"signal {-code}" if code < 0 else f"exit code {code}"
        text = f"{service.name} stopped unexpectedly ({how}); its log is {service.log_path}"
        return text + ("\n--- last lines ---\n" + tail if tail else "")


def main() -> int:
    try:
        cfg = config()
    except StartError as e:
        say(f"error: {e}")
        return 2
    logs = cfg.data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stack = Stack(cfg, services(cfg))
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stack.on_signal)
    try:
        stack.preflight()
        # The development CA and one certificate per agency, made on first run only; the
        # worker signs documents with them. Never committed (data dir is ignored).
        say(f"signing certificates: {len(pki.init())} in {pki.pki_dir()}")
        stack.start_all(logs)
        if stack.stopping:
            return 0
        say()
        say("\n".join(instructions(cfg, stack.running)))
        return stack.watch(logs)
    except StartError as e:
        say(f"error: {e}")
        return 1
    finally:
        stack.stop_all()
        say("stopped.")


if __name__ == "__main__":
    raise SystemExit(main())
