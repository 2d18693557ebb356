"""Look-ups per second of `GET /population/citizens/{pid}` on a sandbox pinned to one core.

    .venv/bin/python bench/sandbox_lookup.py [--requests 5000] [--concurrency 50]

The sandbox runs as a subprocess pinned to CPU 0 (`taskset -c 0`); this client pins itself
to CPU 1 (when the machine has two) and sends a bounded number of requests over loopback
with `--concurrency` httpx connections. The pids are drawn from the same seeded population
the server generated, so every look-up is a hit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from datetime import date
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from motcua.sandbox import geo  # noqa: E402
from motcua.sandbox.data import generate  # noqa: E402
from tests.sandbox_server import start_sandbox  # noqa: E402


async def run(base_url: str, pids: list[str], concurrency: int) -> float:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for pid in pids:
        queue.put_nowait(pid)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:

        async def worker() -> None:
            while not queue.empty():
                pid = queue.get_nowait()
                answer = await client.get(f"/population/citizens/{pid}")
                if answer.status_code != 200:
                    raise RuntimeError(f"unexpected status {answer.status_code}")

        for pid in pids[:200]:  # warm-up: connections and code paths
            await client.get(f"/population/citizens/{pid}")
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--citizens", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    today = date(2026, 11, 23)
    cpus = os.cpu_count() or 1
    if cpus >= 2 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})
    world = generate(args.seed, args.citizens, today, geo.load())
    rng = random.Random(args.seed)
    pids = rng.choices(list(world.citizens), k=args.requests)
    base_url, stop = start_sandbox(args.seed, args.citizens, today, cpu=0)
    try:
        elapsed = asyncio.run(run(base_url, pids, args.concurrency))
    finally:
        stop()
    print(
        f"sandbox look-ups: {args.requests / elapsed:,.0f} req/s "
        f"({args.requests} GET /population/citizens/{{pid}}, {args.concurrency} connections, "
        f"server on CPU 0{', client on CPU 1' if cpus >= 2 else ''}, {elapsed:.2f} s)"
    )


if __name__ == "__main__":
    main()
