"""The YAML engine against a hand-written Temporal twin of the same procedure.

    .venv/bin/python bench/engine_vs_twin.py [--rounds 5] [--cases 100] [--open 2000]
        [--quick] [--out bench/results/engine_vs_twin.json] [--label TEXT]
        [--no-replay] [--procedures scenarios|golden|off] [--supplement-rounds 20]
        [--no-cli] [--no-profile] [--db file|memory] [--no-bytecode-cache]

The birth registration (standalone, no father) runs on `ProcedureWorkflow` interpreting
procedure_defs/civil_status/birth_registration.yaml, and on bench/twin.py, the same steps
as plain code. Both workers run the same stub activities (bench/stub_activities.py) with
the project's data converter and payload encryption, each in its own process, against one
Temporal dev server this script starts; so what differs is the workflow side.

Rounds are interleaved (engine then twin, then twin then engine, ...): each round starts
`--cases` cases at once, approves each with the `decide` Update as soon as it waits for
the officer (seen in the officer's inbox, confirmed by a query) and waits for every
result. Per round and engine: throughput, worker CPU per case, server CPU per case,
history events and bytes per case. Figures are reported as engine/twin ratios, min and
median over rounds: side by side on one machine in one run, never compared with a number
recorded elsewhere.

Also (each can be turned off): `decide` latency and worker memory with `--open` cases
waiting; replay rates; events and bytes per procedure's happy path and of a case after
`--supplement-rounds` supplement rounds; the CLI's start-up time; a cProfile of the engine
worker over one round (bench/extra_figures.py, bench/procedure_histories.py,
bench/profile_report.py). docs/performance.md explains every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# A fixed test key (the suite's), so no key file is written; encryption costs the same.
os.environ.setdefault("MOTCUA_CODEC_KEYS", "test:bW90Y3VhLXRlc3Qta2V5LW5vdC1mb3ItcHJvZC0zMmI=")
if "MOTCUA_DATA_DIR" not in os.environ:  # nothing of a run is kept but its figures
    os.environ["MOTCUA_DATA_DIR"] = tempfile.mkdtemp(prefix="motcua-bench-data-")
    atexit.register(shutil.rmtree, os.environ["MOTCUA_DATA_DIR"], ignore_errors=True)

import cases as c  # noqa: E402
import extra_figures as extra  # noqa: E402
import harness  # noqa: E402
import procedure_histories  # noqa: E402
import profile_report  # noqa: E402
import results_table  # noqa: E402
from temporalio.client import Client  # noqa: E402

from motcua.temporal import data_converter  # noqa: E402

SAMPLE = 10  # histories fetched per round and engine for events and bytes
WARMUP = 5  # cases per engine before the first round: imports, sandbox, caches


@dataclass
class Options:
    rounds: int = 5
    cases: int = 100
    open: int = 2000
    out: Path = ROOT / "bench/results/engine_vs_twin.json"
    replay: bool = True
    procedures: str = "scenarios"
    supplement_rounds: int = 20
    cli_runs: int = 5
    profile: bool = True
    db: str = "file"
    label: str = ""
    bytecode_cache: bool = True


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--rounds", type=int, help="interleaved rounds (5)")
    p.add_argument("--cases", type=int, help="cases per round and engine (100)")
    p.add_argument("--open", type=int, help="cases waiting at once for decide latency (2000)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 2 rounds of 10 cases, --open 20, golden histories, 5 supplement "
        "rounds, no profile, 2 CLI runs",
    )
    p.add_argument("--out", type=Path, default=Options.out)
    p.add_argument("--no-replay", action="store_true")
    p.add_argument("--procedures", choices=["scenarios", "golden", "off"])
    p.add_argument("--supplement-rounds", type=int, help="(20) 0: skip")
    p.add_argument("--no-cli", action="store_true")
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--db", choices=["file", "memory"], help="the dev server's SQLite (file)")
    p.add_argument("--label", default="", help="what is measured (a commit), kept in the results")
    p.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="run Python as the environment says (PYTHONDONTWRITEBYTECODE) instead of with "
        "a temporary bytecode cache",
    )
    a = p.parse_args(argv)
    base = Options()
    if a.quick:
        base = Options(
            rounds=2,
            cases=10,
            open=20,
            procedures="golden",
            supplement_rounds=5,
            profile=False,
            cli_runs=2,
        )
    given = {
        "rounds": a.rounds,
        "cases": a.cases,
        "open": a.open,
        "procedures": a.procedures,
        "supplement_rounds": a.supplement_rounds,
        "db": a.db,
    }
    opts = replace(
        base, out=a.out, label=a.label, **{k: v for k, v in given.items() if v is not None}
    )
    if a.no_replay:
        opts.replay = False
    if a.no_cli:
        opts.cli_runs = 0
    if a.no_profile:
        opts.profile = False
    if a.no_bytecode_cache:
        opts.bytecode_cache = False
    return opts


def say(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# ---------------------------------------------------------------- rounds


@dataclass
class RoundFigures:
    engine: str
    round: int
    cases: int
    wall_s: float
    throughput: float  # cases per second
    worker_cpu_per_case: float  # seconds
    server_cpu_per_case: float  # seconds
    queries_per_case: float
    events_per_case: float
    json_bytes_per_case: float
    proto_bytes_per_case: float


async def run_round(
    engine: c.Side, server: harness.Child, n: int, round_no: int, tag: str = "r"
) -> RoundFigures:
    ids = c.codes(engine.name, f"{tag}{round_no}", n)
    worker0, server0, began = engine.worker.cpu(), server.cpu(), time.perf_counter()
    queries = await c.run_cases(engine.cases, ids)
    wall = time.perf_counter() - began
    worker_cpu, server_cpu = engine.worker.cpu() - worker0, server.cpu() - server0
    engine.last_codes = ids
    sample = [c.figures(h) for h in await c.histories(engine.cases.client, ids[:SAMPLE])]
    return RoundFigures(
        engine=engine.name,
        round=round_no,
        cases=n,
        wall_s=wall,
        throughput=n / wall,
        worker_cpu_per_case=worker_cpu / n,
        server_cpu_per_case=server_cpu / n,
        queries_per_case=queries / n,
        events_per_case=statistics.mean(f.events for f in sample),
        json_bytes_per_case=statistics.mean(f.json_bytes for f in sample),
        proto_bytes_per_case=statistics.mean(f.proto_bytes for f in sample),
    )


async def interleaved_rounds(
    engine: c.Side, twin: c.Side, server: harness.Child, opts: Options
) -> list[RoundFigures]:
    for side in (engine, twin):
        await c.run_cases(side.cases, c.codes(side.name, "w0", WARMUP))
    rounds: list[RoundFigures] = []
    for r in range(1, opts.rounds + 1):
        order = (engine, twin) if r % 2 else (twin, engine)
        for side in order:
            figures = await run_round(side, server, opts.cases, r)
            rounds.append(figures)
            say(
                f"round {r} {side.name:6}: {figures.throughput:6.1f} cases/s, worker "
                f"{figures.worker_cpu_per_case * 1000:6.1f} ms CPU/case, server "
                f"{figures.server_cpu_per_case * 1000:6.1f} ms CPU/case"
            )
    return rounds


RATIO_FIGURES = (
    "throughput",
    "worker_cpu_per_case",
    "server_cpu_per_case",
    "events_per_case",
    "json_bytes_per_case",
    "proto_bytes_per_case",
    "queries_per_case",
)


def summarise(rounds: list[RoundFigures]) -> dict[str, dict[str, float]]:
    """Per figure: each engine's median over rounds, and engine/twin per round (min, median)."""
    by = {
        name: sorted((r for r in rounds if r.engine == name), key=lambda r: r.round)
        for name in ("engine", "twin")
    }
    summary = {}
    for figure in RATIO_FIGURES:
        engine = [getattr(r, figure) for r in by["engine"]]
        twin = [getattr(r, figure) for r in by["twin"]]
        ratios = [e / t for e, t in zip(engine, twin, strict=True) if t]
        summary[figure] = {
            "engine_median": statistics.median(engine),
            "twin_median": statistics.median(twin),
            "ratio_min": min(ratios) if ratios else float("nan"),
            "ratio_median": statistics.median(ratios) if ratios else float("nan"),
        }
    return summary


async def event_types(engine: c.Side, twin: c.Side) -> dict[str, Any]:
    """Events per type in one case of each, and whether both ran the same events in the same
    order (activities and markers named): the twin mirrors the engine event for event."""
    [e], [t] = [await c.histories(s.cases.client, s.last_codes[:1]) for s in (engine, twin)]
    types_e, types_t = c.figures(e).types, c.figures(t).types
    same = c.sequence(e) == c.sequence(t)
    return {
        "engine": types_e,
        "twin": types_t,
        "identical": types_e == types_t,
        "same_order": same,
        "sequence": c.sequence(e),
    }


# ---------------------------------------------------------------- the run


def cache_bytecode(directory: Path) -> None:
    """Compile each module once, into `directory`, for this process and the ones it starts.

    Where PYTHONDONTWRITEBYTECODE is set and no .pyc was installed (as on the machine of
    the recorded run), every process compiles everything it imports from source, and the
    workflow sandbox compiles the workflow's module again for every workflow it creates (a
    new case, a replay, a case back in the cache): about 10 ms of CPU per case for
    motcua/workflows/procedure.py. A deployed worker has its bytecode compiled once, so
    that is what is measured by default; the repository and the venv are left untouched.
    """
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = str(directory)
    sys.dont_write_bytecode = False
    sys.pycache_prefix = str(directory)


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kib = int(Path("/proc/meminfo").read_text().split()[1])
    version = subprocess.run(
        [str(harness.BIN / "temporal"), "--version"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_kib / 1024**2, 1),
        "python": platform.python_version(),
        "temporal_cli": version,
    }


def engine_version() -> dict[str, Any]:
    """The commit measured, and the engine files changed on top of it (another engineer may
    be editing motcua/ while a benchmark runs: the figures belong to this state)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout

    head = git("log", "-1", "--format=%h %s")[:120].strip() or "not a git checkout"
    return {"head": head, "uncommitted": git("status", "--short", "--", "motcua").splitlines()}


async def measure(opts: Options, work: Path) -> dict[str, Any]:
    began = time.perf_counter()
    logs = work / "logs"
    logs.mkdir()
    server, address = harness.start_server(work if opts.db == "file" else None, logs)
    workers: list[harness.Child] = []
    try:
        client = await Client.connect(address, data_converter=data_converter())
        queues = {name: f"bench-{name}-{uuid.uuid4().hex[:6]}" for name in ("engine", "twin")}
        for name in ("engine", "twin"):
            workers.append(harness.start_worker(name, address, queues[name], logs))
        for worker in workers:
            worker.wait_for(harness.READY)
        say(f"server and workers up ({time.perf_counter() - began:.0f} s)")
        engine = c.Side(c.EngineCases(client, queues["engine"]), workers[0])
        twin = c.Side(c.TwinCases(client, queues["twin"]), workers[1])
        results = await measure_with(opts, engine, twin, server)
        if opts.profile:
            results["profile"] = await profiled_round(client, address, server, opts, work)
        return results
    finally:
        for child in [*workers, server]:
            child.stop()


async def measure_with(
    opts: Options, engine: c.Side, twin: c.Side, server: harness.Child
) -> dict[str, Any]:
    say(f"{opts.rounds} interleaved rounds of {opts.cases} cases per engine")
    rounds = await interleaved_rounds(engine, twin, server, opts)
    results: dict[str, Any] = {
        "rounds": [asdict(r) for r in rounds],
        "summary": summarise(rounds),
        "event_types_per_case": await event_types(engine, twin),
    }
    if opts.replay:
        say("replaying one round's histories")
        await optional(results, "replay", extra.replays(engine, twin))
    if opts.open:
        say(f"{opts.open} open cases on each engine")
        await optional(results, "open_cases", extra.both_open(engine, twin, opts.open))
    if opts.supplement_rounds:
        say(f"a case with {opts.supplement_rounds} supplement rounds")
        happy = results["summary"]
        events = happy["events_per_case"]["engine_median"]
        size = happy["proto_bytes_per_case"]["engine_median"]
        case = extra.supplement_case(engine, opts.supplement_rounds, events, size)
        await optional(results, "supplement_case", case)
    return results


async def optional(results: dict[str, Any], key: str, figures: Awaitable[Any]) -> None:
    """A secondary figure: if it fails, the error is recorded and the rest goes on."""
    try:
        results[key] = await figures
    except Exception as e:  # noqa: BLE001 - the main figures must still be written
        results[key] = {"error": f"{type(e).__name__}: {e}"}
        say(f"{key} failed: {type(e).__name__}: {e}")


async def profiled_round(
    client: Client, address: str, server: harness.Child, opts: Options, work: Path
) -> dict[str, Any]:
    """One round on each engine's worker under cProfile (after its warm-up): the engine's
    top entries, and the same few entries of both, to see what the engine does more."""
    found: dict[str, Any] = {}
    for name, cases_of in (("engine", c.EngineCases), ("twin", c.TwinCases)):
        say(f"one profiled round of {opts.cases} cases on the {name}")
        queue = f"bench-profiled-{name}-{uuid.uuid4().hex[:6]}"
        prof_dir = work / f"profile-{name}"
        worker = harness.start_worker(name, address, queue, work / "logs", profile=prof_dir)
        worker.wait_for(harness.READY)
        try:
            side = c.Side(cases_of(client, queue), worker)
            await c.run_cases(side.cases, c.codes(name, "pw", WARMUP))
            worker.signal(signal.SIGUSR1)  # profiling from here: the round only
            await asyncio.sleep(0.5)
            await run_round(side, server, opts.cases, 1, tag="p")
        finally:
            worker.stop()
        found[name] = profile_report.summary(prof_dir, opts.cases)
        if name == "engine":
            found["engine_top"] = profile_report.top(prof_dir, entries=15)
    return found


async def procedure_sizes(source: str) -> dict[str, Any]:
    if source == "scenarios":
        rows = await procedure_histories.from_scenarios()
    else:
        rows = procedure_histories.from_golden()
    return {"source": source, "cases": rows}


async def main_async(opts: Options) -> dict[str, Any]:
    began = time.perf_counter()
    results: dict[str, Any] = {
        "command": " ".join([".venv/bin/python", "bench/engine_vs_twin.py", *sys.argv[1:]]),
        "options": {k: str(v) for k, v in asdict(opts).items()},
        "machine": machine(),
        "engine_version": engine_version() | {"label": opts.label},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    environment = dict(os.environ)
    results["bytecode"] = {
        "PYTHONDONTWRITEBYTECODE": environment.get("PYTHONDONTWRITEBYTECODE", ""),
        "cached": opts.bytecode_cache,
    }
    with tempfile.TemporaryDirectory(prefix="motcua-bench-") as tmp:
        if opts.bytecode_cache:
            cache_bytecode(Path(tmp) / "pycache")
        results |= await measure(opts, Path(tmp))
        if opts.cli_runs:
            say("CLI start-up")
            results["cli"] = extra.cli_times(opts.cli_runs)
            if opts.bytecode_cache:
                results["cli_as_the_environment_is"] = extra.cli_times(opts.cli_runs, environment)
        if opts.procedures != "off":
            say(f"history size per procedure ({opts.procedures})")
            await optional(results, "procedures", procedure_sizes(opts.procedures))
    results["duration_s"] = time.perf_counter() - began
    return results


def _interrupted(signum: int, _frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C, so the server and workers started here are stopped.
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupted)
    opts = parse_args()
    results = asyncio.run(main_async(opts))
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    opts.out.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n")
    print(results_table.table(results))
    say(f"wrote {opts.out.relative_to(ROOT) if opts.out.is_relative_to(ROOT) else opts.out}")


if __name__ == "__main__":
    main()
