"""Submit latency: the citizen API's `POST /dossiers` beside a bare `client.start_workflow`.

    .venv/bin/python bench/api_submit.py [--rounds 15] [--clients 20] [--quick]
        [--out bench/results/api_submit.json] [--label TEXT]

What `make run` starts (motcua.devstack's own service definitions: Temporal's dev server,
the sandbox registries, the SMTP sink, the worker and the API under uvicorn), on free
ports in a temporary data directory. The API is driven over real HTTP by `--clients`
concurrent clients (one httpx connection each), each submitting a distinct birth
registration (`vn.birth_registration`) as a distinct sandbox mother, with her own citizen
token from the development issuer and a fresh `Idempotency-Key`.

The bare side is what the API's submit ends with and nothing else: the same number of
concurrent `client.start_workflow(ProcedureWorkflow.run, ...)` from this process, on the
same server and worker, with the start input the API would build for the same mothers
(pre-filled from the registries, compiled procedure, calendar, token trust, memo, search
attributes), prepared before the round so that only the call is timed. So API/bare is what
the API adds to a start: HTTP, the token, the look-ups in the registries, the submission
and subject claims and the dossier number in the database, the calendar snapshot.

Rounds are interleaved (API then bare, then bare then API, ...), after a few warm-up
submits on each side. Each round starts `--clients` submissions at once and times each
from just before the request to its answer; before the next round, every case of the
round must wait for the officer's review and Temporal, the worker and the API be idle
again. Per side: p50 and p99 over all rounds, and the ratio API/bare of each round's p50
and p99, min and median over rounds.
docs/performance.md ("Submit latency") explains the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MOTCUA_CODEC_KEYS", "test:bW90Y3VhLXRlc3Qta2V5LW5vdC1mb3ItcHJvZC0zMmI=")
WORK = Path(tempfile.mkdtemp(prefix="motcua-bench-submit-"))  # nothing of a run is kept
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
os.environ["MOTCUA_DATA_DIR"] = str(WORK / "data")  # the stack's and this process's

import engine_vs_twin  # noqa: E402
import httpx  # noqa: E402
from harness import cpu_seconds, free_port  # noqa: E402
from temporalio.client import Client, WorkflowQueryFailedError  # noqa: E402
from temporalio.common import WorkflowIDReusePolicy  # noqa: E402
from temporalio.service import RPCError  # noqa: E402

from motcua import devstack, dossier_codes  # noqa: E402
from motcua.activities.calendar import snapshot as calendar_snapshot  # noqa: E402
from motcua.activities.definitions import pin_members  # noqa: E402
from motcua.api.identity import case_trust, dev_private_key, issue_token  # noqa: E402
from motcua.api.submissions import submission_mark  # noqa: E402
from motcua.cases import offering, starting  # noqa: E402
from motcua.cases.prefill import prefill, receiving_agency  # noqa: E402
from motcua.settings import get_settings  # noqa: E402
from motcua.temporal import data_converter  # noqa: E402
from motcua.workflows.contracts import CaseStart, CaseStatus, initial_search_attributes  # noqa: E402
from motcua.workflows.procedure import ProcedureWorkflow  # noqa: E402

PROCEDURE = "vn.birth_registration"
APPLICANT = "mother_pid"  # the field the API fills with the logged-in citizen's id
CHILD_NAMES = ("Nguyễn Minh An", "Trần Gia Huy", "Lê Bảo Ngọc", "Phạm Khánh Linh", "Võ Đức Anh")
CITIZENS_PER_MOTHER = 450  # the sandbox makes about 25 unregistered births per 10,000 people
LOOKED_UP = ("done", "not_needed")
PORTS = ("TEMPORAL_PORT", "TEMPORAL_UI_PORT", "MOTCUA_SANDBOX_PORT", "MOTCUA_SMTP_PORT",
         "MOTCUA_API_PORT", "MOTCUA_WORKER_METRICS_PORT")  # fmt: skip
WARMUP = 4  # submits per side before the rounds (each client's connection is opened too)
SETTLE_TIMEOUT = 180.0  # seconds for a round's cases to reach the review
IDLE_WAIT = 30.0  # seconds to wait, after that, for Temporal, the worker and the API to idle
POLL = 0.5  # seconds between two looks at a round's cases (not while a round is timed)


@dataclass
class Options:
    rounds: int = 15
    clients: int = 20
    out: Path = ROOT / "bench/results/api_submit.json"
    label: str = ""


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--rounds", type=int, help="interleaved rounds per side (15)")
    p.add_argument("--clients", type=int, default=Options.clients, help="concurrent (20)")
    p.add_argument("--quick", action="store_true", help="smoke run: 2 rounds")
    p.add_argument("--out", type=Path, default=Options.out)
    p.add_argument("--label", default="", help="what is measured (a commit), kept in the results")
    a = p.parse_args(argv)
    rounds = a.rounds or (2 if a.quick else Options.rounds)
    if rounds < 1 or a.clients < 1:
        p.error("--rounds and --clients must be at least 1")
    return Options(rounds=rounds, clients=a.clients, out=a.out, label=a.label)


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)  # noqa: T201


# ---------------------------------------------------------------- the stack


class Stack:
    """`make run`'s services on free ports, the sandbox with `citizens` people."""

    def __init__(self, citizens: int) -> None:
        for name in PORTS:
            os.environ[name] = str(free_port())
        os.environ.pop("MOTCUA_PUBLIC_URL", None)
        self.cfg = devstack.config()
        self.services = {s.name: s for s in devstack.services(self.cfg)}
        argv = self.services["sandbox"].argv
        argv[argv.index("--citizens") + 1] = str(citizens)
        self.logs = self.cfg.data_dir / "logs"
        self.api_url = f"http://{devstack.HOST}:{self.cfg.api_port}"
        os.environ["TEMPORAL_ADDRESS"] = self.cfg.address  # for this process's look-ups too
        os.environ["MOTCUA_SANDBOX_URL"] = self.cfg.sandbox_url

    def up(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        devstack.pki.init()
        dev_private_key()  # the issuer's key, made here before the API reads it
        for service in self.services.values():
            service.start(self.logs)
            deadline = time.monotonic() + 120
            while not service.ready(service):
                if service.exit_code() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{service.name} did not start; see {service.log_path}")
                time.sleep(0.2)

    def pid(self, name: str) -> int:
        process = self.services[name].process
        assert process is not None
        return process.pid

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(self.pid(name)) for name in self.services}

    def down(self) -> None:
        for service in reversed(self.services.values()):
            service.stop()
        for service in reversed(self.services.values()):
            service.wait_or_kill(time.monotonic() + 15)


# ---------------------------------------------------------------- the two sides


Mother = dict[str, Any]  # the sandbox's sample: mother_pid, certificate_no, commune_code


def typed(mother: Mother, i: int) -> dict[str, Any]:
    """What the mother types (as in tests/test_api_citizen.py); the registries fill the rest."""
    return {
        "birth_certificate_no": mother["certificate_no"],
        "child_name": CHILD_NAMES[i % len(CHILD_NAMES)],
    }


class ApiSide:
    """`clients` citizens, one HTTP connection each, submitting at once."""

    name = "api"

    def __init__(self, url: str, clients: int) -> None:
        self.http = [httpx.AsyncClient(base_url=url, timeout=60) for _ in range(clients)]

    async def prepare(self, mothers: list[Mother]) -> list[Callable[[], Awaitable[str]]]:
        calls = []
        for i, (http, mother) in enumerate(zip(self.http[: len(mothers)], mothers, strict=True)):
            token = issue_token(mother["mother_pid"], "citizen")  # the identity provider's
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
            body = {"procedure_id": PROCEDURE, "dossier": typed(mother, i)}
            calls.append(self._submit(http, body, headers))
        return calls

    @staticmethod
    def _submit(
        http: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]
    ) -> Callable[[], Awaitable[str]]:
        async def call() -> str:
            answer = await http.post("/dossiers", json=body, headers=headers)
            if answer.status_code != 201:
                raise RuntimeError(f"POST /dossiers answered {answer.status_code}: {answer.text}")
            return str(answer.json()["dossier_code"])

        return call

    async def close(self) -> None:
        for http in self.http:
            await http.aclose()


class BareSide:
    """The API's own start call, from here, with the start input it would build."""

    name = "bare"

    def __init__(self, client: Client) -> None:
        self.client = client
        path, _ = offering.offered()[PROCEDURE]
        self.compiled = offering.compiled(path)
        self.trust = case_trust()

    async def prepare(self, mothers: list[Mother]) -> list[Callable[[], Awaitable[str]]]:
        return [await self._start_call(mother, i) for i, mother in enumerate(mothers)]

    async def _start_call(self, mother: Mother, i: int) -> Callable[[], Awaitable[str]]:
        """What citizen.submit computes before its start: the dossier completed from the
        registries, checked, its agency and dossier code; the same memo and trust."""
        defn = self.compiled[0].definition
        dossier = typed(mother, i) | {APPLICANT: mother["mother_pid"]}
        found = await prefill(defn, dossier)
        missed = [f"{x.id}: {x.status}" for x in found.lookups if x.status not in LOOKED_UP]
        if missed:
            raise RuntimeError(f"pre-filling a bare start, look-ups not done: {missed}")
        dossier |= found.values
        prepared = starting.prepare(self.compiled, dossier, receiving_agency(defn, dossier, found))
        code = await asyncio.to_thread(dossier_codes.next_code, prepared.prefix)
        start = CaseStart(
            dossier_code=code, procedure=prepared.procedure,
            member_refs=pin_members(prepared.members), dossier=prepared.dossier,
            channel="online", calendar=calendar_snapshot(), trust=self.trust,
        )  # fmt: skip
        memo = {"submission": submission_mark(mother["mother_pid"], str(uuid.uuid4()))}

        async def call() -> str:
            await self.client.start_workflow(
                ProcedureWorkflow.run, start, id=code, task_queue=get_settings().task_queue,
                search_attributes=initial_search_attributes(code, defn.id),
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                memo=memo, rpc_timeout=starting.RPC_TIMEOUT,
            )  # fmt: skip
            return code

        return call


# ---------------------------------------------------------------- rounds


@dataclass
class Round:
    side: str
    round: int
    latencies_ms: list[float]
    wall_s: float  # first request sent to last answer
    cpu_ms_per_submit: dict[str, float]  # per process, during the round only
    settle_s: float  # until every case waits for the review and the stack idles

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 99)


def percentile(values: list[float], q: int) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def timed(call: Callable[[], Awaitable[str]]) -> tuple[float, str]:
    began = time.perf_counter()
    code = await call()
    return (time.perf_counter() - began) * 1000, code


async def run_round(
    side: ApiSide | BareSide, mothers: list[Mother], round_no: int, stack: Stack, client: Client
) -> Round:
    calls = await side.prepare(mothers)
    cpu0, began = stack.cpu() | {"bench": cpu_seconds(os.getpid())}, time.perf_counter()
    answers = await asyncio.gather(*(timed(call) for call in calls))
    wall = time.perf_counter() - began
    cpu1 = stack.cpu() | {"bench": cpu_seconds(os.getpid())}
    per = {k: (cpu1[k] - cpu0[k]) * 1000 / len(calls) for k in cpu0}
    busy = [stack.pid(name) for name in ("temporal", "worker", "api")]
    settle = await settled(client, [code for _, code in answers], busy)
    return Round(side.name, round_no, [ms for ms, _ in answers], wall, per, settle)


async def settled(client: Client, codes: list[str], pids: list[int]) -> float:
    """Wait until every case waits for the officer's review, then until the processes in
    `pids` are idle together (under 10% of one core for half a second; at most IDLE_WAIT)."""
    began = time.perf_counter()
    pending = set(codes)
    while pending:
        if time.perf_counter() - began > SETTLE_TIMEOUT:
            raise RuntimeError(f"{len(pending)} cases not at the review after {SETTLE_TIMEOUT} s")
        for code in list(pending):
            try:
                state = await client.get_workflow_handle(code).query(ProcedureWorkflow.state)
            except (RPCError, WorkflowQueryFailedError):
                continue
            if state.status == CaseStatus.waiting_officer:
                pending.discard(code)
            elif state.status != CaseStatus.running:
                raise RuntimeError(f"case {code} is {state.status}, not waiting for the review")
        await asyncio.sleep(POLL)
    give_up = time.perf_counter() + IDLE_WAIT
    while time.perf_counter() < give_up:
        cpu0 = sum(cpu_seconds(pid) for pid in pids)
        await asyncio.sleep(0.5)
        if sum(cpu_seconds(pid) for pid in pids) - cpu0 < 0.05:
            break
    return time.perf_counter() - began


# ---------------------------------------------------------------- figures


def summarise(rounds: list[Round]) -> dict[str, Any]:
    by = {s: [r for r in rounds if r.side == s] for s in ("api", "bare")}
    summary: dict[str, Any] = {}
    for side, rs in by.items():
        pooled = [ms for r in rs for ms in r.latencies_ms]
        summary[side] = {
            "submits": len(pooled),
            "p50_ms": percentile(pooled, 50),
            "p99_ms": percentile(pooled, 99),
            "mean_ms": statistics.mean(pooled),
            "max_ms": max(pooled),
            "round_p50_median_ms": statistics.median(r.p50 for r in rs),
            "round_p99_median_ms": statistics.median(r.p99 for r in rs),
            "cpu_ms_per_submit_median": {
                k: statistics.median(r.cpu_ms_per_submit[k] for r in rs)
                for k in rs[0].cpu_ms_per_submit
            },
        }
    for q in ("p50", "p99"):
        ratios = [getattr(a, q) / getattr(b, q) for a, b in zip(by["api"], by["bare"], strict=True)]
        summary[f"ratio_{q}"] = {"min": min(ratios), "median": statistics.median(ratios)}
    return summary


def table(results: dict[str, Any]) -> str:
    s, o = results["summary"], results["options"]
    lines = [
        f"submit latency, {o['clients']} concurrent clients, {o['rounds']} rounds per side (ms)",
        f"{'':8}{'p50':>9}{'p99':>9}{'mean':>9}{'max':>9}   CPU ms per submit (median round)",
    ]
    for side in ("api", "bare"):
        f = s[side]
        cpu = ", ".join(
            f"{k} {v:.1f}" for k, v in f["cpu_ms_per_submit_median"].items() if v >= 0.05
        )
        lines.append(
            f"{side:8}{f['p50_ms']:9.1f}{f['p99_ms']:9.1f}{f['mean_ms']:9.1f}{f['max_ms']:9.1f}"
            f"   {cpu}"
        )
    for q in ("p50", "p99"):
        r = s[f"ratio_{q}"]
        lines.append(f"API/bare {q}: min {r['min']:.2f}, median {r['median']:.2f} over rounds")
    return "\n".join(lines)


# ---------------------------------------------------------------- the run


async def measure(opts: Options, stack: Stack) -> list[Round]:
    needed = WARMUP + opts.rounds * opts.clients
    async with httpx.AsyncClient(base_url=stack.cfg.sandbox_url, timeout=30) as admin:
        answer = await admin.get(
            "/_admin/samples", params={"kind": "mother_with_birth_certificate", "count": needed}
        )
        answer.raise_for_status()
        mothers: list[Mother] = answer.json()["mother_with_birth_certificate"]
    if len(mothers) < needed:
        raise RuntimeError(f"the sandbox has {len(mothers)} unregistered births; {needed} needed")
    client = await Client.connect(stack.cfg.address, data_converter=data_converter())
    api, bare = ApiSide(stack.api_url, opts.clients), BareSide(client)
    try:
        await asyncio.gather(*(http.get("/procedures") for http in api.http))  # connected
        for side in (api, bare):  # warm-up: imports, caches, code paths; not recorded
            await run_round(side, mothers[:WARMUP], 0, stack, client)
        batches = [mothers[i : i + opts.clients] for i in range(WARMUP, needed, opts.clients)]
        say(f"warmed up; {opts.rounds} interleaved rounds of {opts.clients} submits per side")
        rounds: list[Round] = []
        for r in range(1, opts.rounds + 1):
            for side in (api, bare) if r % 2 else (bare, api):
                got = await run_round(side, batches[r - 1], r, stack, client)
                rounds.append(got)
                say(
                    f"round {r:2} {side.name:4}: p50 {got.p50:7.1f} ms, p99 {got.p99:7.1f} ms, "
                    f"{got.wall_s:5.2f} s for the round, settled in {got.settle_s:4.1f} s"
                )
        return rounds
    finally:
        await api.close()


async def main_async(opts: Options) -> dict[str, Any]:
    began = time.perf_counter()
    results: dict[str, Any] = {
        "command": " ".join([".venv/bin/python", "bench/api_submit.py", *sys.argv[1:]]),
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(opts).items()},
        "procedure": PROCEDURE,
        "machine": engine_vs_twin.machine(),
        "engine_version": engine_vs_twin.engine_version() | {"label": opts.label},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    engine_vs_twin.cache_bytecode(WORK / "pycache")  # as engine_vs_twin measures, and why
    citizens = max(10_000, (WARMUP + opts.rounds * opts.clients) * CITIZENS_PER_MOTHER)
    stack = Stack(citizens)
    say(f"starting Temporal, the sandbox ({citizens} people), SMTP sink, worker, API")
    try:
        stack.up()
        say(f"stack up ({time.perf_counter() - began:.0f} s)")
        rounds = await measure(opts, stack)
    finally:
        stack.down()
    results["rounds"] = [asdict(r) | {"p50_ms": r.p50, "p99_ms": r.p99} for r in rounds]
    results["summary"] = summarise(rounds)
    results["duration_s"] = time.perf_counter() - began
    return results


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)  # so the stack is stopped


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupted)
    opts = parse_args()
    results = asyncio.run(main_async(opts))
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    print(table(results))  # noqa: T201
    say(f"wrote {opts.out.relative_to(ROOT) if opts.out.is_relative_to(ROOT) else opts.out}")


if __name__ == "__main__":
    main()
