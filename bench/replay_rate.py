"""Histories replayed per second: one case at a time, and `motcua replay --all` in 1 and 2 jobs.

    .venv/bin/python bench/replay_rate.py [--histories 200] [--rounds 5] [--quick]
        [--out bench/results/replay_rate.json]

The corpus is the v10 golden histories (tests/histories/*.v10.json, all 28, bundles'
members included), copied to about `--histories` (each copy its own workflow id), and
replayed with today's workflow code by the functions the CLI calls, without the CLI's own
start-up and history fetching:
- `one at a time`: `motcua.audit.replay.replay(history, source)` per history, a new
  `Replayer` each, as `motcua replay CODE` does for one case;
- `--all, 1 job`: `motcua.audit.replay_all.replay_many(histories, jobs=1)`, one `Replayer`
  worker for the lot, in this process;
- `--all, 2 jobs`: `replay_many(histories, jobs=2)`, two spawned processes each replaying
  half; their start-up (a fresh interpreter importing motcua and the SDK) is paid in every
  round, as the CLI pays it once per run;
- and, to tell that start-up apart, `replay_many` of 2 histories in 2 jobs (one each).
Rounds interleave the four (the order rotates each round), after a warm-up round on one
copy of the corpus. Per mode: histories/s and events/s, min and median over the rounds;
ratios of the medians (--all 1 job / one at a time; 2 jobs / 1 job). Every replay must say
"deterministic"; any other outcome is printed and makes the run exit 1 (a bug to report).

The golden histories' payloads are encrypted with the test codec key, which the script
sets when MOTCUA_CODEC_KEYS is unset; data goes to a temporary MOTCUA_DATA_DIR.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The spawned replay processes import this module again and inherit the environment:
# this key, and the MOTCUA_DATA_DIR main() sets before any is spawned.
os.environ.setdefault("MOTCUA_CODEC_KEYS", "test:bW90Y3VhLXRlc3Qta2V5LW5vdC1mb3ItcHJvZC0zMmI=")

from temporalio.client import WorkflowHistory  # noqa: E402

from motcua.audit.replay import ReplayReport, Source, history_from_file, replay  # noqa: E402
from motcua.audit.replay_all import replay_many  # noqa: E402

GOLDEN = sorted((ROOT / "tests" / "histories").glob("*.v10.json"))
SOURCE: Source = "file"
MODES = ("one at a time", "--all, 1 job", "--all, 2 jobs")
STARTUP = "2 jobs' start-up (2 histories)"

Corpus = list[tuple[WorkflowHistory, Source]]


def corpus(copies: int) -> Corpus:
    """`copies` copies of every golden history, each copy under a workflow id of its own."""
    golden = [history_from_file(p, p.name.removesuffix(".json")) for p in GOLDEN]
    return [
        (WorkflowHistory(f"{h.workflow_id}#{c}", list(h.events)), SOURCE)
        for c in range(copies)
        for h in golden
    ]


async def one_at_a_time(histories: Corpus) -> list[ReplayReport]:
    return [await replay(h, source) for h, source in histories]


async def all_jobs(histories: Corpus, jobs: int) -> list[ReplayReport]:
    return (await replay_many(histories, jobs)).reports


RUNNERS: dict[str, Callable[[Corpus], Awaitable[list[ReplayReport]]]] = {
    MODES[0]: one_at_a_time,
    MODES[1]: lambda h: all_jobs(h, 1),
    MODES[2]: lambda h: all_jobs(h, 2),
    STARTUP: lambda h: all_jobs(h, 2),
}


class Mode:
    def __init__(self, name: str, take: int | None = None) -> None:
        self.name, self.take = name, take  # take: the first `take` histories only
        self.seconds: list[float] = []
        self.bad: list[str] = []

    async def run(self, histories: Corpus, keep: bool) -> None:
        histories = histories[: self.take]
        started = time.perf_counter()
        reports = await RUNNERS[self.name](histories)
        seconds = time.perf_counter() - started
        if len(reports) != len(histories):
            self.bad.append(f"{self.name}: {len(reports)} reports for {len(histories)} histories")
        self.bad += [r.line() for r in reports if r.outcome != "deterministic"]
        if keep:
            self.seconds.append(seconds)

    def figures(self, histories: int, events: int) -> dict[str, Any]:
        rates = [histories / s for s in self.seconds]
        return {
            "seconds": [round(s, 3) for s in self.seconds],
            "histories_per_s_min": round(min(rates), 2),
            "histories_per_s_median": round(statistics.median(rates), 2),
            "events_per_s_min": round(min(rates) * events / histories),
            "events_per_s_median": round(statistics.median(rates) * events / histories),
        }


def table(figures: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| mode | histories/s min | median | events/s min | median |",
        "|---|---|---|---|---|",
    ]
    for name, f in figures.items():
        lines.append(
            f"| {name} | {f['histories_per_s_min']} | {f['histories_per_s_median']} | "
            f"{f['events_per_s_min']} | {f['events_per_s_median']} |"
        )
    return "\n".join(lines)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    copies = max(1, round(args.histories / len(GOLDEN)))
    histories = corpus(copies)
    events = sum(len(h.events) for h, _ in histories)
    print(
        f"{len(histories)} histories ({len(GOLDEN)} golden x {copies}), {events} events",
        flush=True,
    )
    modes = [*(Mode(name) for name in MODES), Mode(STARTUP, take=2)]
    load = os.getloadavg()
    for m in modes:  # warm-up: imports, the sandbox's module cache, one spawn
        await m.run(histories[: len(GOLDEN)], keep=False)
    print("warm-up done", flush=True)
    for r in range(args.rounds):
        shift = r % len(modes)
        for m in modes[shift:] + modes[:shift]:
            await m.run(histories, keep=True)
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    figures = {m.name: m.figures(len(histories), events) for m in modes[: len(MODES)]}
    startup = modes[-1].seconds
    a, b, c = (figures[name]["histories_per_s_median"] for name in MODES)
    ratios = {
        "b/a (--all 1 job / one at a time)": round(b / a, 2),
        "c/b (2 jobs / 1 job)": round(c / b, 2),
    }
    text = (
        table(figures)
        + "\n"
        + "; ".join(f"{k}: {v}" for k, v in ratios.items())
        + f"\n{STARTUP}: min {min(startup):.2f} s, median {statistics.median(startup):.2f} s"
    )
    print(text)
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "nproc": os.cpu_count(),
        "load_average_before": load,
        "load_average_after": os.getloadavg(),
        "golden": [p.name for p in GOLDEN],
        "histories": len(histories),
        "events": events,
        "rounds": args.rounds,
        "modes": figures,
        "ratios_of_medians": ratios,
        "startup_seconds": [round(x, 3) for x in startup],
        "not_deterministic": list(dict.fromkeys(line for m in modes for line in m.bad)),
        "table": text,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--histories", type=int, default=200, help="about this many replays")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds")
    parser.add_argument("--quick", action="store_true", help="one copy of the corpus, 2 rounds")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/replay_rate.json")
    args = parser.parse_args()
    if args.quick:
        args.histories, args.rounds = len(GOLDEN), 2
    work = Path(tempfile.mkdtemp(prefix="motcua-bench-replay-"))
    os.environ["MOTCUA_DATA_DIR"] = str(work / "data")
    try:
        result = asyncio.run(measure(args))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    print(f"written to {args.out}")
    for line in result["not_deterministic"]:
        print(f"NOT DETERMINISTIC: {line}")
    return 1 if result["not_deterministic"] else 0


if __name__ == "__main__":
    sys.exit(main())
