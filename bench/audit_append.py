"""The cost of an audit-log append, and of verifying the chain, on SQLite and PostgreSQL.

    .venv/bin/python bench/audit_append.py [--appends 1000] [--rounds 5] [--threads 4]
        [--verify-entries 10000] [--backends sqlite,postgres] [--quick]
        [--out bench/results/audit_append.json]

For each backend, a fresh database: a SQLite file in a temporary directory (as `make run`
creates it, from the models) and a throwaway PostgreSQL database on 127.0.0.1:5432 as user
postgres (migrated as a deployment is; dropped at the end; skipped, saying why, when
unreachable). `motcua.audit.log.record` is what the API and the CLI call; half the appends
are an officer's decision, half a citizen's download (the citizen's pseudonym computed).

Rounds interleave the backends (each first in turn), after one warm-up round. In each
round, `--appends` appends one after another, each timed: min, median and p95 ms per
append. Then `--threads` threads append at once, `--appends` in all (what API workers and
CLI commands do together): appends per second, and how many appends lost the race for the
next seq and went again (SQLite's retries; PostgreSQL's appenders queue on a lock). Last,
the log is topped up to `--verify-entries` entries and `verify()` timed three times: the
seconds per 10,000 entries.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="motcua-bench-audit-"))
os.environ["MOTCUA_DATA_DIR"] = str(WORK / "data")  # the pseudonym key

from sqlalchemy.exc import IntegrityError  # noqa: E402

from motcua import db  # noqa: E402
from motcua.audit import log  # noqa: E402
from motcua.audit.keyed import text_ref  # noqa: E402
from tests.databases import bench_databases  # noqa: E402

CODE = "UBND-00070-261123-0042"
CITIZEN = "001203000123"


def append(i: int) -> None:
    """One append, as the API makes them: a decision or a download, by turns."""
    if i % 2:
        log.record(
            "download", actor=CITIZEN, role="citizen", case=CODE,
            detail={"document_ref": "ab" * 32 + ".pdf"},
        )  # fmt: skip
        return
    log.record(
        "decide", actor="cb.hotich.01", role="officer", case=CODE,
        detail={"step": "review", "action": "approve", "comment": text_ref("Hồ sơ hợp lệ"),
                "form_fields": [], "missing": 0},
    )  # fmt: skip


class Retries:
    """Counts the appends that lost the race for the next seq (they append again)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()
        self._append = log._append

    def __enter__(self) -> Retries:
        def counted(conn: Any, fields: dict[str, Any]) -> log.AuditLogRow:
            try:
                return self._append(conn, fields)
            except IntegrityError:
                with self._lock:
                    self.count += 1
                raise

        log._append = counted  # type: ignore[assignment]
        return self

    def __exit__(self, *_: object) -> None:
        log._append = self._append  # type: ignore[assignment]


class Backend:
    def __init__(self, name: str, url: str) -> None:
        self.name, self.url = name, url
        self.times: list[float] = []
        self.rounds: list[float] = []
        self.contended: list[dict[str, float]] = []
        self.info: dict[str, Any] = {"url": url.split("@")[-1]}

    def use(self) -> None:
        os.environ["DATABASE_URL"] = self.url

    def serial(self, n: int, keep: bool) -> None:
        self.use()
        times = []
        for i in range(n):
            started = time.perf_counter()
            append(i)
            times.append((time.perf_counter() - started) * 1000)
        if keep:
            self.times += times
            self.rounds.append(statistics.median(times))

    def together(self, n: int, threads: int, keep: bool) -> None:
        self.use()
        gate = threading.Barrier(threads + 1)
        share = [n // threads + (1 if t < n % threads else 0) for t in range(threads)]

        def run(count: int) -> None:
            gate.wait()
            for i in range(count):
                append(i)

        workers = [threading.Thread(target=run, args=(c,)) for c in share]
        for w in workers:
            w.start()
        with Retries() as retries:
            gate.wait()
            started = time.perf_counter()
            for w in workers:
                w.join()
            seconds = time.perf_counter() - started
        if keep:
            self.contended.append({"per_second": n / seconds, "retries": retries.count})

    def verify_time(self, entries: int) -> None:
        self.use()
        have = log.verify().entries
        for i in range(have, entries):
            append(i)
        seconds = []
        for _ in range(3):
            started = time.perf_counter()
            report = log.verify()
            seconds.append(time.perf_counter() - started)
            if not report.ok:
                raise RuntimeError(f"{self.name}: the chain is broken: {report.problems[:3]}")
        self.info["verify"] = {
            "entries": report.entries,
            "min_s": round(min(seconds), 3),
            "per_10000_s": round(min(seconds) * 10_000 / report.entries, 3),
        }


def figures(b: Backend) -> dict[str, Any]:
    times = b.times
    return {
        "appends": len(times),
        "min_ms": round(min(times), 3),
        "median_ms": round(statistics.median(times), 3),
        "p95_ms": round(statistics.quantiles(times, n=20, method="inclusive")[18], 3),
        "round_medians_ms": [round(m, 3) for m in b.rounds],
        "contended_per_second": round(statistics.median(c["per_second"] for c in b.contended)),
        "contended_retries": [c["retries"] for c in b.contended],
    }


def report(backends: list[Backend], threads: int) -> str:
    lines = [
        "| backend | min ms / append | median ms | p95 ms | "
        f"{threads} threads, appends/s | retries per round | verify s per 10,000 |",
        "|---|---|---|---|---|---|---|",
    ]
    for b in backends:
        f = b.info["append"]
        lines.append(
            f"| {b.name} | {f['min_ms']} | {f['median_ms']} | {f['p95_ms']} | "
            f"{f['contended_per_second']} | {f['contended_retries']} | "
            f"{b.info['verify']['per_10000_s']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=1000, help="appends per round")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds")
    parser.add_argument("--threads", type=int, default=4, help="appenders at once")
    parser.add_argument("--verify-entries", type=int, default=10_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--quick", action="store_true", help="200 appends, 2 rounds, 2,000")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/audit_append.json")
    args = parser.parse_args()
    if args.quick:
        args.appends, args.rounds, args.verify_entries = 200, 2, 2_000
    wanted = args.backends.split(",")
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, WORK, ignore_errors=True)
        found, skipped = bench_databases(stack, wanted, WORK / "audit.db")
        backends = [Backend(name, url) for name, url in found]
        load = os.getloadavg()
        for r in range(-1, args.rounds):
            for b in backends if r % 2 == 0 else backends[::-1]:
                b.serial(args.appends, keep=r >= 0)
                b.together(args.appends, args.threads, keep=r >= 0)
            print(f"round {r + 1}/{args.rounds} done" if r >= 0 else "warm-up done", flush=True)
        for b in backends:
            b.info["append"] = figures(b)
            b.verify_time(args.verify_entries)
        table = report(backends, args.threads)
        print(table)
        result = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "nproc": os.cpu_count(),
            "load_average_before": load,
            "load_average_after": os.getloadavg(),
            "appends_per_round": args.appends,
            "rounds": args.rounds,
            "threads": args.threads,
            "skipped": skipped,
            "backends": {b.name: b.info for b in backends},
            "table": table,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
        print(f"written to {args.out}")
        db.dispose_engines()


if __name__ == "__main__":
    main()
