"""The figures beside the interleaved rounds: `decide` latency and worker memory with many
cases open, replay rates, a case sent back for supplements many times, CLI start-up."""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import cases as c
import harness
from cases import Side
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from twin import BirthRegistrationTwin

from motcua.temporal import data_converter
from motcua.worker import workflow_runner
from motcua.workflows.contracts import CaseStatus
from motcua.workflows.procedure import ProcedureWorkflow

ROOT = Path(__file__).resolve().parent.parent
EVENT_WARNING, BYTES_WARNING = 10_240, 10 * 1024 * 1024  # Temporal's history warnings
CONCURRENCY = 50  # starts and queries in flight at once


# ---------------------------------------------------------------- open cases


async def _bounded(coros: list[Any], limit: int = CONCURRENCY) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with gate:
            return await coro

    return list(await asyncio.gather(*(one(x) for x in coros)))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def open_cases(side: Side, n: int) -> dict[str, Any]:
    """`n` cases waiting for the officer at once: worker memory, then one officer deciding
    them one after another (the latency an officer sees), then their ends."""
    pid = side.worker.pid
    idle_kib = harness.memory_kib(pid)
    ids = c.codes(side.name, "open", n)
    handles = await _bounded([side.cases.start(x) for x in ids])
    await c.inbox(side.cases, handles)
    open_kib = harness.memory_kib(pid)
    latencies = [await c.timed_decide(side.cases, h) for h in handles]
    await _bounded([c.completed(h) for h in handles])
    return {
        "cases": n,
        "rss_idle_mib": idle_kib / 1024,
        "rss_open_mib": open_kib / 1024,
        "rss_peak_mib": harness.memory_kib(pid, "VmHWM") / 1024,
        "decide_p50_ms": _percentile(latencies, 0.50) * 1000,
        "decide_p95_ms": _percentile(latencies, 0.95) * 1000,
        "decide_max_ms": max(latencies) * 1000,
    }


async def both_open(engine: Side, twin: Side, n: int) -> dict[str, Any]:
    return {side.name: await open_cases(side, n) for side in (engine, twin)}


# ---------------------------------------------------------------- replay


def replayer(side: str) -> Replayer:
    if side == "engine":
        return Replayer(
            workflows=[ProcedureWorkflow],
            workflow_runner=workflow_runner(),
            data_converter=data_converter(),
        )
    return Replayer(workflows=[BirthRegistrationTwin], data_converter=data_converter())


async def _aiter(histories: list[WorkflowHistory]) -> AsyncIterator[WorkflowHistory]:
    for h in histories:
        yield h


async def replay_rates(side: str, histories: list[WorkflowHistory]) -> dict[str, float]:
    """Histories per second replayed one at a time, and in one batch (one worker)."""
    r = replayer(side)
    await r.replay_workflow(histories[0])  # the sandbox's first import is not replay
    began, cpu0 = time.perf_counter(), time.process_time()
    for h in histories:
        await r.replay_workflow(h)
    single, single_cpu = time.perf_counter() - began, time.process_time() - cpu0
    began, cpu0 = time.perf_counter(), time.process_time()
    await r.replay_workflows(_aiter(histories))
    batch, batch_cpu = time.perf_counter() - began, time.process_time() - cpu0
    return {
        "histories": len(histories),
        "one_at_a_time_per_s": len(histories) / single,
        "batch_per_s": len(histories) / batch,
        "cpu_ms_per_history_one": single_cpu / len(histories) * 1000,
        "cpu_ms_per_history_batch": batch_cpu / len(histories) * 1000,
    }


async def replays(engine: Side, twin: Side) -> dict[str, Any]:
    rates = {}
    for side in (engine, twin):
        histories = await c.histories(side.cases.client, side.last_codes)
        rates[side.name] = await replay_rates(side.name, histories)
    return rates


# ---------------------------------------------------------------- supplement rounds


async def supplement_case(
    engine: Side, rounds: int, happy_events: float, happy_bytes: float
) -> dict[str, Any]:
    """One engine case sent back to the citizen `rounds` times, then approved; against
    Temporal's warnings, given the happy path's events and bytes."""
    cases = engine.cases
    assert isinstance(cases, c.EngineCases)
    handle = await cases.start(f"UBND-00070-supp-{uuid.uuid4().hex[:6]}")
    await c.wait_until_waiting(cases, handle)
    for n in range(1, rounds + 1):
        await cases.ask_supplement(handle, n)
        while await cases.status(handle) != CaseStatus.waiting_citizen:
            await asyncio.sleep(0.05)
        await cases.supplement(handle, n)
        await c.wait_until_waiting(cases, handle)
    await cases.decide(handle)
    await c.completed(handle)
    f = c.figures(await handle.fetch_history())
    case = {"rounds": rounds, "events": f.events, "json_bytes": f.json_bytes}
    case["proto_bytes"] = f.proto_bytes
    against_warnings(case, happy_events, happy_bytes)
    return case


def against_warnings(case: dict[str, Any], happy_events: float, happy_bytes: float) -> None:
    """Per supplement round, and how many rounds reach Temporal's warnings."""
    rounds = case["rounds"] or 1
    per_round_events = (case["events"] - happy_events) / rounds
    per_round_bytes = (case["proto_bytes"] - happy_bytes) / rounds
    case |= {
        "events_per_round": per_round_events,
        "proto_bytes_per_round": per_round_bytes,
        "event_warning": EVENT_WARNING,
        "bytes_warning": BYTES_WARNING,
        "rounds_to_event_warning": int((EVENT_WARNING - happy_events) / per_round_events),
        "rounds_to_bytes_warning": int((BYTES_WARNING - happy_bytes) / per_round_bytes),
    }


# ---------------------------------------------------------------- CLI start-up


def cli_times(runs: int = 5, env: dict[str, str] | None = None) -> dict[str, dict[str, float]]:
    motcua = str(harness.BIN / "motcua")
    commands = {
        "motcua --help": [motcua, "--help"],
        "motcua validate procedure_defs/": [motcua, "validate", "procedure_defs/"],
    }
    times: dict[str, dict[str, float]] = {}
    for name, argv in commands.items():
        walls = []
        for _ in range(runs):
            began = time.perf_counter()
            subprocess.run(argv, cwd=ROOT, capture_output=True, check=True, env=env)
            walls.append(time.perf_counter() - began)
        times[name] = {"runs": runs, "min_s": min(walls), "median_s": statistics.median(walls)}
    return times
