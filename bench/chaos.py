"""Chaos: run birth bundles while things break, and count what went wrong.

    .venv/bin/python bench/chaos.py [--bundles 200] [--kill-every 10] [--kill-for 120]
                                    [--control 50] [--restart 20] [--outage 20]
                                    [--out bench/results/chaos.json]

Everything runs for real in a throw-away data directory: Temporal's dev server, the
sandbox registries (with their journal), the SMTP sink, and worker processes this harness
starts and kills. The harness plays the officers: it approves each member's review task
when one is open, and never resumes a stalled case, so a case that needs an officer's
resume counts as stalled. Phases:

- kills: `--bundles` bundles while a worker is killed with SIGKILL every `--kill-every`
  seconds for `--kill-for` seconds (a new one is started at once, as `make run` does);
  a second worker runs during the second half;
- control: `--control` bundles with one worker and no kills;
- restart: `--restart` bundles while Temporal's server is stopped and started again;
- outage: `--outage` bundles while the civil-status registry is down for 60 s;
- malformed: at least 50 malformed `motcua start` inputs, counting tracebacks.

Per phase: bundles completed without help, stalled, failed or unfinished, and duplicates
per kind, read from the systems themselves: registry writes (sandbox ledgers), documents
(issued_document), e-mails (the sink, by Message-ID), SMS and push (the sandbox gateway),
plus outbox rows left `sending` and e-mails re-sent after a lost attempt (outbox `resends`).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from temporalio.client import Client  # noqa: E402

from motcua import devstack  # noqa: E402
from motcua.activities.calendar import snapshot  # noqa: E402
from motcua.activities.definitions import pin_members  # noqa: E402
from motcua.smtp_sink import messages  # noqa: E402
from motcua.temporal import data_converter  # noqa: E402
from motcua.workflows.contracts import (  # noqa: E402
    CaseStart,
    CaseStatus,
    DecideInput,
    initial_search_attributes,
)
from motcua.workflows.dsl.compile import load_bundle  # noqa: E402
from motcua.workflows.procedure import ProcedureWorkflow  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BUNDLE = ROOT / "procedure_defs/bundles/birth_bundle.yaml"
FINAL = {CaseStatus.completed, CaseStatus.rejected, CaseStatus.aborted, CaseStatus.failed}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)  # noqa: T201


class Stack:
    """Temporal, sandbox and SMTP sink from `make run`'s own definitions; workers apart."""

    def __init__(self, data_dir: Path, citizens: int) -> None:
        os.environ.update(
            MOTCUA_DATA_DIR=str(data_dir),
            TEMPORAL_PORT=str(free_port()),
            TEMPORAL_UI_PORT=str(free_port()),
            MOTCUA_SANDBOX_PORT=str(free_port()),
            MOTCUA_SMTP_PORT=str(free_port()),
        )
        self.cfg = devstack.config()
        self.logs = data_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        planned = {s.name: s for s in devstack.services(self.cfg)}
        self.temporal, self.sandbox, self.sink = (
            planned["temporal"],
            planned["sandbox"],
            planned["smtp-sink"],
        )
        argv = self.sandbox.argv
        argv[argv.index("--citizens") + 1] = str(citizens)  # enough unregistered births
        self.worker_template = planned["worker"]
        self.workers: list[devstack.Service] = []
        self.sandbox_url = f"http://127.0.0.1:{self.cfg.sandbox_port}"
        self.mail_dir = data_dir / "mail"

    def start(self, service: devstack.Service, timeout: float = 90.0) -> None:
        service.start(self.logs)
        deadline = time.monotonic() + timeout
        while not service.ready(service):
            if service.exit_code() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{service.name} did not start; see {service.log_path}")
            time.sleep(0.2)

    def up(self) -> None:
        devstack.pki.init()
        for service in (self.temporal, self.sandbox, self.sink):
            self.start(service)

    def add_worker(self) -> devstack.Service:
        t = self.worker_template
        worker = devstack.Service(name=f"worker{len(self.workers)}", argv=t.argv, ready=t.ready,
                                  env=t.env)  # fmt: skip
        self.start(worker)
        self.workers.append(worker)
        return worker

    def kill_worker(self) -> None:
        worker = self.workers.pop(0)
        if worker.process is not None and worker.process.poll() is None:
            worker.process.send_signal(signal.SIGKILL)
            worker.process.wait()
        worker.wait_or_kill(time.monotonic())

    def restart_temporal(self, down_for: float) -> None:
        self.temporal.stop()
        self.temporal.wait_or_kill(time.monotonic() + 20)
        time.sleep(down_for)
        self.start(self.temporal)

    def down(self) -> None:
        for service in [*self.workers, self.sink, self.sandbox, self.temporal]:
            service.stop()
        for service in [*self.workers, self.sink, self.sandbox, self.temporal]:
            service.wait_or_kill(time.monotonic() + 15)


class Run:
    def __init__(self, stack: Stack, client: Client) -> None:
        self.stack = stack
        self.client = client
        self.bundle, self.members = load_bundle(BUNDLE)
        self.http = httpx.Client(base_url=stack.sandbox_url, timeout=30)
        self.used = 0
        self.mothers = self.http.get("/_admin/samples", params={"count": 1000}).json()[
            "mother_with_birth_certificate"
        ]

    async def start_bundles(self, n: int, phase: str) -> list[str]:
        codes = []
        for _ in range(n):
            if self.used >= len(self.mothers):
                raise SystemExit(f"the sandbox has only {len(self.mothers)} unregistered births")
            m = self.mothers[self.used]
            self.used += 1
            code = f"CHAOS-{phase}-{uuid.uuid4().hex[:8]}"
            dossier = {
                "mother_pid": m["mother_pid"],
                "birth_certificate_no": m["certificate_no"],
                "commune_code": m["commune_code"],
                "child_name": "Nguyễn An Nhiên",
                "primary_care_facility": "Trạm Y tế xã",
                "head_consent": True,
            }
            start = CaseStart(dossier_code=code, procedure=self.bundle, dossier=dossier,
                              member_refs=pin_members(self.members), channel="online",
                              calendar=snapshot())  # fmt: skip
            await self.client.start_workflow(
                ProcedureWorkflow.run, start, id=code, task_queue="motcua",
                search_attributes=initial_search_attributes(code, self.bundle.definition.id),
            )  # fmt: skip
            codes.append(code)
        return codes

    async def officers(self, codes: list[str], stop: asyncio.Event) -> dict[str, str]:
        """Approve open review tasks until every bundle has ended (or `stop`); the last
        status seen of each bundle."""
        last: dict[str, str] = {}
        open_codes = set(codes)
        while open_codes and not stop.is_set():
            for code in sorted(open_codes):
                try:
                    state = await self.client.get_workflow_handle(code).query(
                        ProcedureWorkflow.state
                    )
                except Exception:  # noqa: BLE001 - the server may be restarting
                    continue
                last[code] = state.status.value
                if state.status in FINAL:
                    open_codes.discard(code)
                    continue
                for step_id, status in state.children.items():
                    if status != CaseStatus.waiting_officer.value:
                        continue
                    member = self.client.get_workflow_handle(f"{code}.{step_id}")
                    try:
                        mstate = await member.query(ProcedureWorkflow.state)
                        for t in mstate.open_tasks:
                            if t.waiting_for == "officer":
                                decision = DecideInput(
                                    step_id=t.step_id, action="approve", role=t.role,
                                    agency=t.agency, actor="chaos",
                                )  # fmt: skip
                                await member.execute_update(ProcedureWorkflow.decide, decision)
                    except Exception:  # noqa: BLE001 - retried on the next round
                        continue
            await asyncio.sleep(0.5)
        return last


def duplicates(stack: Stack, codes: list[str]) -> dict[str, Any]:
    """Duplicates per kind, for the dossiers in `codes` (and their members)."""
    http = httpx.Client(base_url=stack.sandbox_url, timeout=30)
    prefixes = tuple(codes)
    registry: dict[str, int] = {}
    for service in ("civil-status", "residence", "social-insurance"):
        ledger = http.get(f"/{service}/_ledger").json()
        keys = collections.Counter(e["key"] for e in ledger if e["key"].startswith(prefixes))
        registry[service] = sum(n - 1 for n in keys.values())
    db = sqlite3.connect(stack.cfg.data_dir / "motcua.db")
    docs = collections.Counter(
        (code, template)
        for code, template in db.execute("SELECT dossier_code, template FROM issued_document")
        if code.startswith(prefixes)
    )
    outbox = db.execute(
        "SELECT status, resends, channel, idempotency_key, provider_id FROM notification_outbox"
    ).fetchall()
    mine = [r for r in outbox if r[3].startswith(prefixes)]
    mails = [m for m in messages(stack.mail_dir)]
    copies = collections.Counter(m.message_id for m in mails)
    emails = email_duplicates([r for r in mine if r[2] == "email"], copies)
    gateway: dict[str, int] = {}
    for channel in ("sms", "push"):
        sent = http.get(f"/gateways/{channel}/messages").json()
        keys = collections.Counter(
            m["idempotency_key"] for m in sent if m["idempotency_key"].startswith(prefixes)
        )
        gateway[channel] = sum(n - 1 for n in keys.values())
    totals = {
        "registry_writes": sum(len(http.get(f"/{s}/_ledger").json()) for s in registry),
        "documents": sum(docs.values()),
        "emails": len(mails),
        "sms_push": sum(len(http.get(f"/gateways/{c}/messages").json()) for c in ("sms", "push")),
    }
    return {
        "so_far_in_the_run": totals,
        "registry_writes": registry,
        "documents": sum(n - 1 for n in docs.values()),
        **emails,
        "sms": gateway["sms"],
        "push": gateway["push"],
        "outbox_left_sending": sum(1 for r in mine if r[0] == "sending"),
    }


def email_duplicates(rows: list[Any], copies: collections.Counter[str]) -> dict[str, Any]:
    """E-mail duplicates in the sink, each attributed to its outbox row by Message-ID (the
    row's provider reference starts with it). A duplicate is explained when the row records
    a re-send after a lost attempt (`resends`): the relay had accepted the lost attempt's
    copy. A re-send whose first copy never reached the relay leaves one copy."""
    duplicates = explained = resent = 0
    for _status, resends, _channel, _key, provider_id in rows:
        message_id = (provider_id or "").split(" ", 1)[0]
        extra = max(copies.get(message_id, 0) - 1, 0)
        duplicates += extra
        explained += min(extra, resends)
        resent += resends
    return {
        "emails": duplicates,
        "emails_unexplained": duplicates - explained,
        "emails_resent_after_lost_attempt": resent,
        "emails_resent_and_delivered_twice": explained,
    }


def tally(last: dict[str, str], codes: list[str]) -> dict[str, int]:
    counts = collections.Counter(last.get(c, "unknown") for c in codes)
    return {
        "bundles": len(codes),
        "completed_without_help": counts.get("completed", 0),
        "stalled": counts.get("stalled", 0),
        "failed_or_rejected": counts.get("failed", 0) + counts.get("rejected", 0),
        "unfinished": sum(
            n for s, n in counts.items() if s not in ("completed", "stalled", "failed", "rejected")
        ),
    }


async def phase_kills(
    stack: Stack, run: Run, n: int, every: float, period: float
) -> dict[str, Any]:
    codes = await run.start_bundles(n, "kill")
    stop = asyncio.Event()
    officers = asyncio.create_task(run.officers(codes, stop))
    began, kills = time.monotonic(), 0
    while (next_kill := began + (kills + 1) * every) < began + period:
        # On a fixed schedule: a kill every `every` seconds, however long restarts take.
        await asyncio.sleep(max(0.0, next_kill - time.monotonic()))
        await asyncio.to_thread(stack.kill_worker)
        kills += 1
        await asyncio.to_thread(stack.add_worker)  # as `make run`'s supervisor does
        if time.monotonic() - began > period / 2 and len(stack.workers) < 2:
            await asyncio.to_thread(stack.add_worker)  # two workers in the second half
    while len(stack.workers) > 1:
        await asyncio.to_thread(stack.kill_worker)
    last = await wait_all(officers, stop)
    return {**tally(last, codes), "kills": kills, "duplicates": duplicates(stack, codes)}


async def wait_all(
    officers: asyncio.Task[dict[str, str]], stop: asyncio.Event, limit: float = 900
) -> dict[str, str]:
    try:
        return await asyncio.wait_for(asyncio.shield(officers), timeout=limit)
    except TimeoutError:
        stop.set()
        return await officers


async def phase_plain(
    stack: Stack, run: Run, n: int, name: str, trouble: Any = None
) -> dict[str, Any]:
    codes = await run.start_bundles(n, name)
    stop = asyncio.Event()
    officers = asyncio.create_task(run.officers(codes, stop))
    if trouble is not None:
        await trouble()
    last = await wait_all(officers, stop)
    return {**tally(last, codes), "duplicates": duplicates(stack, codes)}


MALFORMED = [
    "null", "[]", "17", '"x"', "true", "{", "", "{oops", '{"a":1,"a":2}', "[" * 50_000,
    '{"mother_pid": "\\ud800"}', '{"\\udc80": 1}', "{" + '"x": "' + "a" * 1_100_000 + '"}',
]  # fmt: skip
FIELDS = {"mother_pid": "001190000123", "birth_certificate_no": "GCS-1",
          "child_name": "An", "commune_code": "00001"}  # fmt: skip
BAD_VALUES: list[tuple[str, Any]] = [
    ("mother_pid", "００１１９００００１２３"), ("mother_pid", "٠٠١١٩٠٠٠٠١٢٣"),
    ("mother_pid", "12"),
    ("mother_pid", ""), ("mother_pid", None), ("mother_pid", 1190000123), ("mother_pid", []),
    ("child_name", ""), ("child_name", "   "), ("child_name", "An\u0000"),
    ("child_name", "\u202eAn"),
    ("child_name", "A\u200bn"), ("child_name", "\ufeffAn"), ("child_name", "A" * 500),
    ("child_name", "An\n"), ("child_name", "An\x1b[31m"), ("child_name", {"x": 1}),
    ("commune_code", "０００01"), ("commune_code", "1"), ("commune_code", "abcde"),
    ("birth_certificate_no", ""), ("birth_certificate_no", 5), ("birth_certificate_no", "\u2066x"),
    ("unknown_field", "x"), ("child_name", "An\u0085"),
]  # fmt: skip


def phase_malformed(data_dir: Path) -> dict[str, Any]:
    inputs = list(MALFORMED)
    for name, value in BAD_VALUES:
        inputs.append(json.dumps({**FIELDS, name: value}))
        inputs.append(json.dumps({**FIELDS, name: value}, ensure_ascii=False))
    motcua = str(Path(sys.executable).parent / "motcua")
    env = {**os.environ, "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
           "DATABASE_URL": f"sqlite:///{data_dir / 'malformed.db'}"}  # fmt: skip

    def attempt(i: int, text: str) -> str:
        """stdout and stderr of one refused start (or a sign that it was accepted)."""
        if len(text) > 100_000:  # too long for a command line: the way a big body comes
            big = data_dir / f"malformed-{i}.json"
            big.write_text(text, encoding="utf-8", errors="surrogatepass")
            text = f"@{big}"
        out = subprocess.run(
            [motcua, "start", str(ROOT / "procedure_defs/civil_status/birth_registration.yaml"),
             "--input", text], env=env, capture_output=True, text=True, errors="replace",
        )  # fmt: skip
        return ("ACCEPTED " if out.returncode == 0 else "") + out.stdout + out.stderr

    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        outputs = list(pool.map(attempt, range(len(inputs)), inputs))
    tracebacks = sum("Traceback" in out for out in outputs)
    accepted = sum(out.startswith("ACCEPTED ") or "cannot reach Temporal" in out for out in outputs)
    return {"inputs": len(inputs), "tracebacks": tracebacks, "accepted": accepted}


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bundles", type=int, default=200)
    parser.add_argument("--kill-every", type=float, default=10.0)
    parser.add_argument("--kill-for", type=float, default=120.0)
    parser.add_argument("--control", type=int, default=50)
    parser.add_argument("--restart", type=int, default=20)
    parser.add_argument("--outage", type=int, default=20)
    parser.add_argument("--citizens", type=int, default=150_000, help="sandbox population")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/chaos.json")
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="motcua-chaos-"))
    stack = Stack(data_dir, args.citizens)
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "data_dir": str(data_dir),
    }
    try:
        say(f"starting the stack in {data_dir}")
        stack.up()
        stack.add_worker()
        client = await Client.connect(stack.cfg.address, data_converter=data_converter())
        run = Run(stack, client)

        say(f"control: {args.control} bundles, one worker, no kills")
        results["control"] = await phase_plain(stack, run, args.control, "control")
        say(json.dumps(results["control"]))

        say(
            f"kills: {args.bundles} bundles, SIGKILL every {args.kill_every:.0f} s "
            f"for {args.kill_for:.0f} s"
        )
        results["kills"] = await phase_kills(
            stack, run, args.bundles, args.kill_every, args.kill_for
        )
        say(json.dumps(results["kills"]))

        async def restart() -> None:
            await asyncio.sleep(5)
            await asyncio.to_thread(stack.restart_temporal, 5.0)

        say(f"restart: {args.restart} bundles while Temporal's server restarts")
        results["server_restart"] = await phase_plain(stack, run, args.restart, "restart", restart)
        say(json.dumps(results["server_restart"]))

        async def outage() -> None:
            await asyncio.sleep(2)
            run.http.put("/_admin/faults/civil-status", json={"outage": True})
            await asyncio.sleep(60)
            run.http.delete("/_admin/faults")

        say(f"outage: {args.outage} bundles while civil-status is down for 60 s")
        results["registry_outage"] = await phase_plain(stack, run, args.outage, "outage", outage)
        say(json.dumps(results["registry_outage"]))

        say("malformed inputs to `motcua start`")
        results["malformed"] = phase_malformed(data_dir)
        say(json.dumps(results["malformed"]))
    finally:
        stack.down()
    results["verdict"] = verdict(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    say(f"wrote {args.out}")
    for check, ok in results["verdict"].items():
        say(f"{'PASS' if ok else 'FAIL'}  {check}")
    if not all(results["verdict"].values()):
        sys.exit(1)


def verdict(results: dict[str, Any]) -> dict[str, bool]:
    """The issue's "done when", one line each."""

    def all_done(phase: dict[str, Any]) -> bool:
        return bool(phase["completed_without_help"] == phase["bundles"])

    def no_duplicates(phase: dict[str, Any], *, emails: str) -> bool:
        d = phase["duplicates"]
        return (
            not any(d["registry_writes"].values())
            and d["documents"] == d["sms"] == d["push"] == d["outbox_left_sending"] == 0
            and d[emails] == 0
        )

    kills, control = results["kills"], results["control"]
    return {
        "under the kills, every bundle completed without an officer": all_done(kills),
        "under the kills, no duplicate but explained e-mails": no_duplicates(
            kills, emails="emails_unexplained"
        ),
        "control run: every bundle completed, no duplicate of any kind": all_done(control)
        and no_duplicates(control, emails="emails"),
        "server restart: every bundle completed": all_done(results["server_restart"]),
        "60 s registry outage healed without help": all_done(results["registry_outage"]),
        "malformed inputs: no traceback, none accepted": results["malformed"]["tracebacks"]
        == results["malformed"]["accepted"]
        == 0,
    }


def _stop(signum: int, _frame: object) -> None:
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the stack is taken down.
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _stop)
    asyncio.run(main())
