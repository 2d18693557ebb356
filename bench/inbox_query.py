"""The officers' inbox query with 10,000 open tasks, on SQLite and on PostgreSQL.

    .venv/bin/python bench/inbox_query.py [--runs 300] [--open 10000] [--big 2000]
        [--closed 10000] [--deep 20] [--backends sqlite,postgres] [--candidate-index]
        [--quick] [--label TEXT] [--out bench/results/inbox_query.json]

For each backend, a fresh database: a SQLite file in a temporary directory (as `make run`
creates it, from the models) and a throwaway PostgreSQL database on 127.0.0.1:5432 as user
postgres (migrated as a deployment is, by motcua.migrations; dropped at the end; skipped,
saying why, when unreachable). Each is seeded through the read model's projection code
(bench/inbox_seed.py): `--open` cases with one open task each over twenty agencies, one of
which, the big commune, holds `--big` of them; stalled cases; `--closed` closed cases with
their tasks and decisions. PostgreSQL is then ANALYZEd (as autovacuum would soon do);
SQLite is left as the product leaves it (no ANALYZE).

Then `motcua.readmodel.inbox.page(filter, now=..., limit=50, cursor=...)`, the function
behind `GET /inbox`, is timed for each query kind (`kinds`: an officer's filters as the
endpoint builds them), and so are `GET /inbox` itself, in process (the FastAPI app without
Temporal's lifespan, httpx.ASGITransport, an officer's token from the development issuer),
and the first page's SQL statement alone through the driver (what the database costs,
without ORM objects and response models). Rounds interleave the backends (SQLite and
PostgreSQL first in turn) and rotate the kinds, after a few warm-up rounds. Per backend
and kind: p50, p95, max over `--runs` runs, the rows on the page and the tasks the filter
matches; the query plans (SQLite's EXPLAIN QUERY PLAN, PostgreSQL's
EXPLAIN ANALYZE) of the SQL each kind sends go to the JSON file. `--candidate-index`
creates one more index on rm_task after seeding, in the order the inbox reads (a proposal
measured in the throwaway databases only; the models and migrations are not changed).
docs/performance.md ("The officers' inbox") explains the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORK = Path(tempfile.mkdtemp(prefix="motcua-bench-inbox-"))
os.environ["MOTCUA_DATA_DIR"] = str(WORK / "data")  # the development issuer's key

import httpx  # noqa: E402
import inbox_seed  # noqa: E402
from sqlalchemy import event, func, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import select  # noqa: E402

from motcua import db  # noqa: E402
from motcua.api.app import create_app  # noqa: E402
from motcua.api.identity import issue_token  # noqa: E402
from motcua.readmodel import inbox  # noqa: E402
from motcua.readmodel.tables import PROJECTED  # noqa: E402
from tests.databases import bench_databases  # noqa: E402

NOW = datetime.now(UTC).replace(microsecond=0)
LIMIT = 50
WARMUP = 5
HTTP = "GET /inbox, big agency"
SQL = "page 1, its SQL alone"
CANDIDATE = (
    "CREATE INDEX ix_bench_inbox_order ON rm_task (agency, is_open, opened_at, dossier_code, n)"
)


def kinds(deep: int) -> dict[str, inbox.InboxFilter]:
    """The query kinds: each a filter as the endpoint builds it for an officer."""
    officer = inbox.InboxFilter(
        agency=inbox_seed.BIG,
        roles=[inbox_seed.OFFICER_ROLE],
        statuses=["waiting_officer"],
        caller=inbox_seed.OFFICER,
    )
    return {
        "big agency, page 1": officer,
        deep_kind(deep): officer,
        "procedure filter": replace_filter(officer, procedure="vn.birth_registration"),
        "overdue=true": replace_filter(officer, overdue_at=NOW),
        "due_before (+3 days)": replace_filter(officer, due_before=NOW + timedelta(days=3)),
        "supervisor, 3 statuses": replace_filter(
            officer, roles=None, statuses=["waiting_officer", "waiting_citizen", "stalled"]
        ),
        "mine=true (assigned to me)": replace_filter(officer, assignee=inbox_seed.OFFICER),
        "small agency, page 1": replace_filter(officer, agency=inbox_seed.SMALL),
    }


def deep_kind(deep: int) -> str:
    return f"big agency, page {deep} (cursor)"


def replace_filter(f: inbox.InboxFilter, **changes: Any) -> inbox.InboxFilter:
    return f.model_copy(update=changes)


def walk(f: inbox.InboxFilter, deep: int) -> tuple[int, str | None]:
    """How many tasks `f` matches, and the cursor of its page `deep` (or of its last)."""
    matching, cursor, at_deep, pages = 0, None, None, 0
    while True:
        page = inbox.page(f, now=NOW, limit=LIMIT, cursor=cursor)
        pages += 1
        matching += len(page.tasks)
        if pages < deep and page.next_cursor:
            at_deep = page.next_cursor
        if not page.next_cursor:
            return matching, at_deep
        cursor = page.next_cursor


@contextmanager
def statements(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """The SQL statements `engine` sends meanwhile, with their parameters."""
    sent: list[tuple[str, Any]] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        sent.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def plan(engine: Engine, statement: str, parameters: Any) -> list[str]:
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN ANALYZE "
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute(prefix + statement, parameters)
        rows = cur.fetchall()
    finally:
        raw.close()
    if engine.dialect.name == "sqlite":
        return [f"{row[0]}<-{row[1]} {row[3]}" for row in rows]
    return [row[0] for row in rows]


class Backend:
    def __init__(self, name: str, url: str) -> None:
        self.name, self.url = name, url
        self.times: dict[str, list[float]] = {}
        self.info: dict[str, Any] = {}
        self.cursors: dict[str, str | None] = {}
        self.sql: tuple[str, Any] | None = None

    def use(self) -> None:
        os.environ["DATABASE_URL"] = self.url

    def prepare(
        self,
        shape: inbox_seed.Shape,
        queries: dict[str, inbox.InboxFilter],
        deep: int,
        candidate: bool,
    ) -> None:
        self.use()
        engine = db.get_engine()
        seconds = inbox_seed.seed(shape, NOW)
        if candidate:
            with engine.begin() as conn:
                conn.execute(text(CANDIDATE))
        if engine.dialect.name != "sqlite":
            with engine.begin() as conn:
                conn.execute(text("ANALYZE"))
        with db.session() as s:
            rows = {
                t.__tablename__: s.exec(select(func.count()).select_from(t)).one()
                for t in PROJECTED
            }
        self.info = {
            "url": self.url.split("@")[-1],
            "seed_seconds": round(seconds, 1),
            "rows": rows,
            "candidate_index": CANDIDATE if candidate else None,
            "queries": {},
        }
        for kind, f in queries.items():
            matching, deep_cursor = walk(f, deep)
            self.cursors[kind] = deep_cursor if kind == deep_kind(deep) else None
            with statements(engine) as sent:
                page = inbox.page(f, now=NOW, limit=LIMIT, cursor=self.cursors[kind])
            query = next(s for s in sent if "rm_task" in s[0])
            self.sql = self.sql or query  # the first kind's: the big agency's first page
            self.info["queries"][kind] = {
                "matching": matching,
                "page_rows": len(page.tasks),
                "plan": plan(engine, *query),
            }
        first = self.info["queries"][next(iter(queries))]
        self.info["queries"][HTTP] = {"matching": first["matching"]}
        self.info["queries"][SQL] = {"matching": first["matching"], "sql": self.sql[0]}

    def sql_alone(self) -> int:
        """The first page's statement through the driver: no ORM objects, no models."""
        with db.get_engine().connect() as conn:
            return len(conn.exec_driver_sql(*self.sql).fetchall())


async def http_page(api: httpx.AsyncClient, headers: dict[str, str]) -> int:
    reply = await api.get("/inbox", headers=headers, params={"limit": LIMIT})
    if reply.status_code != 200:
        raise RuntimeError(f"GET /inbox answered {reply.status_code}: {reply.text[:200]}")
    return len(reply.json()["tasks"])


async def rounds(backends: list[Backend], queries: dict[str, inbox.InboxFilter], runs: int) -> None:
    app = create_app(connect_temporal=False)
    token = issue_token(
        inbox_seed.OFFICER,
        "officer",
        agency=inbox_seed.BIG,
        officer_roles=[inbox_seed.OFFICER_ROLE],
    )
    headers = {"Authorization": f"Bearer {token}"}
    names = [*queries, HTTP, SQL]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", timeout=60) as api:
        for r in range(-WARMUP, runs):
            order = backends if r % 2 == 0 else backends[::-1]
            for b in order:
                b.use()
                for kind in names[r % len(names) :] + names[: r % len(names)]:
                    started = time.perf_counter()
                    if kind == HTTP:
                        rows = await http_page(api, headers)
                        if rows != b.info["queries"][names[0]]["page_rows"]:
                            raise RuntimeError(f"GET /inbox gave {rows} tasks on {b.name}")
                    elif kind == SQL:
                        b.sql_alone()
                    else:
                        cursor = b.cursors[kind]
                        inbox.page(queries[kind], now=NOW, limit=LIMIT, cursor=cursor)
                    if r >= 0:
                        elapsed = (time.perf_counter() - started) * 1000
                        b.times.setdefault(kind, []).append(elapsed)


def figures(times: list[float]) -> dict[str, float | int]:
    return {
        "runs": len(times),
        "p50_ms": round(statistics.median(times), 2),
        "p95_ms": round(statistics.quantiles(times, n=20, method="inclusive")[18], 2),
        "max_ms": round(max(times), 2),
        "mean_ms": round(statistics.fmean(times), 2),
    }


def report(backends: list[Backend], names: list[str]) -> str:
    head = "| query | " + " | ".join(f"{b.name} p50 / p95 / max, ms" for b in backends)
    lines = [head + " | tasks matching |", "|---" * (len(backends) + 2) + "|"]
    for kind in names:
        cells = []
        for b in backends:
            f = b.info["queries"][kind]
            cells.append(f"{f['p50_ms']} / {f['p95_ms']} / {f['max_ms']}")
        matching = backends[0].info["queries"][kind].get("matching", "")
        lines.append(f"| {kind} | " + " | ".join(cells) + f" | {matching} |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    head = subprocess.run(
        ["git", "log", "-1", "--format=%h"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql_client": pg,
        "commit": head,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300, help="timed runs per query and backend")
    parser.add_argument("--open", type=int, default=10_000, help="open tasks")
    parser.add_argument("--big", type=int, default=2_000, help="open tasks of the big agency")
    parser.add_argument("--closed", type=int, default=10_000, help="closed cases")
    parser.add_argument("--deep", type=int, default=20, help="the cursor page measured")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--quick", action="store_true", help="1,000 open, 20 runs: a smoke run")
    parser.add_argument(
        "--candidate-index",
        action="store_true",
        help="also create an index on rm_task in key order (a proposal, not in the models)",
    )
    parser.add_argument("--label", default="")
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/inbox_query.json")
    args = parser.parse_args()
    shape = inbox_seed.Shape(open=args.open, big=args.big, closed=args.closed)
    if args.quick:
        shape = replace(shape, open=1_000, big=400, closed=1_000, stalled=20)
        args.runs, args.deep = 20, 3
    queries = kinds(args.deep)
    wanted = args.backends.split(",")
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, WORK, ignore_errors=True)
        found, skipped = bench_databases(stack, wanted, WORK / "inbox.db")
        backends = [Backend(name, url) for name, url in found]
        load = os.getloadavg()
        for b in backends:
            print(
                f"{b.name}: seeding {shape.open:,} open tasks ({shape.big:,} at "
                f"{inbox_seed.BIG}), {shape.closed:,} closed cases ...",
                flush=True,
            )
            b.prepare(shape, queries, args.deep, args.candidate_index)
            print(f"  {b.info['seed_seconds']} s; rows {b.info['rows']}", flush=True)
        started = time.perf_counter()
        asyncio.run(rounds(backends, queries, args.runs))
        seconds = time.perf_counter() - started
        names = [*queries, HTTP, SQL]
        for b in backends:
            for kind in names:
                b.info["queries"][kind].update(figures(b.times[kind]))
        table = report(backends, names)
        print(table)
        result = {
            "label": args.label,
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "load_average_before": load,
            "load_average_after": os.getloadavg(),
            "shape": asdict(shape),
            "runs": args.runs,
            "limit": LIMIT,
            "rounds_seconds": round(seconds, 1),
            "skipped": skipped,
            "backends": {b.name: b.info for b in backends},
            "table": table,
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
        print(f"written to {args.out}")


if __name__ == "__main__":
    main()
