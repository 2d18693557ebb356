"""Look-ups per second of `GET /population/citizens/{pid}` on a sandbox pinned to one core.

    .venv/bin/python bench/sandbox_lookup.py [--client wrk|httpx] [--seconds 10]

With `wrk` installed (Debian package wrk; `make bench` installs it) the load comes from wrk,
a C client, for a fixed time; otherwise from httpx, which saturates its own core at a few
hundred requests per second and so measures the client more than the server.

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
import re
import shutil
import subprocess
import sys
import tempfile
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


def run_wrk(base_url: str, pids: list[str], concurrency: int, seconds: int) -> str:
    """Drive the look-up with wrk (an independent C client, so the client is not what is
    measured); the Lua script walks the pids so every request is a different citizen."""
    script = (
        "pids = {"
        + ",".join(f'"{p}"' for p in pids[:1000])
        + "}\n"
        + (
            "i = 0\nrequest = function()\n  i = i % #pids + 1\n"
            '  return wrk.format("GET", "/population/citizens/" .. pids[i])\nend\n'
            "done = function(summary, latency, requests)\n"
            '  io.write(string.format("non-2xx/errors: %d\\n", summary.errors.status))\nend\n'
        )
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    argv = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "-s", f.name, base_url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30).stdout
    os.unlink(f.name)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--citizens", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--seconds", type=int, default=10, help="wrk run length")
    parser.add_argument(
        "--client", choices=["wrk", "httpx"], default="wrk" if shutil.which("wrk") else "httpx"
    )
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
        if args.client == "wrk":
            out = run_wrk(base_url, pids, args.concurrency, args.seconds)
        else:
            elapsed = asyncio.run(run(base_url, pids, args.concurrency))
    finally:
        stop()
    if args.client == "wrk":
        rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
        errors = re.search(r"non-2xx/errors: (\d+)", out)
        print(
            f"sandbox look-ups: {float(rate.group(1)) if rate else 0:,.0f} req/s "
            f"(wrk, {args.seconds} s, {args.concurrency} connections, 1,000 different citizens, "
            f"server on CPU 0, client on CPU 1; non-2xx: {errors.group(1) if errors else '?'})"
        )
        return
    print(  # httpx is itself the bottleneck at a few hundred requests per second
        f"sandbox look-ups: {args.requests / elapsed:,.0f} req/s "
        f"({args.requests} GET /population/citizens/{{pid}}, {args.concurrency} connections, "
        f"server on CPU 0{', client on CPU 1' if cpus >= 2 else ''}, {elapsed:.2f} s)"
    )


if __name__ == "__main__":
    main()
