"""What the read model and the archive cost an engine case, side by side.

The engine's birth registration (bench/cases.py, registries stubbed) on a local dev server,
run by four in-process workers in interleaved rounds: as shipped; with `archive.start` a
no-op (no archiving); with `readmodel.project` a no-op (no read model); with neither.
Reports worker-and-client CPU per case (this process; the server is another), min and
median over the rounds. bench/engine_vs_twin.py compares the engine with a hand-written
workflow that does neither, so this says how much of that gap they are.

    .venv/bin/python bench/case_costs.py [--cases 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

os.environ["MOTCUA_DATA_DIR"] = tempfile.mkdtemp(prefix="motcua-bench-costs-")
os.environ.setdefault("MOTCUA_CODEC_KEYS", "test:bW90Y3VhLXRlc3Qta2V5LW5vdC1mb3ItcHJvZC0zMmI=")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cases as c  # noqa: E402
import stub_activities  # noqa: E402
from temporalio import activity  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from motcua.temporal import data_converter, ensure_search_attributes  # noqa: E402
from motcua.worker import build_worker  # noqa: E402
from motcua.workflows.archiving import ArchiveInput  # noqa: E402
from motcua.workflows.contracts import Projection  # noqa: E402

BIN = Path(sys.executable).parent


@activity.defn(name="archive.start")
async def no_archive(case: ArchiveInput) -> None:
    return None


@activity.defn(name="readmodel.project")
async def no_projection(projection: Projection) -> None:
    return None


VARIANTS: dict[str, list[Any]] = {
    "as shipped": [],
    "no archive": [no_archive],
    "no read model": [no_projection],
    "neither": [no_archive, no_projection],
}


async def main(n: int, rounds: int) -> None:
    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter(),
        dev_server_existing_path=str(BIN / "temporal"),
        dev_server_log_level="error",
    )
    await ensure_search_attributes(env.client)
    cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}
    try:
        for r in range(rounds + 1):  # round 0 warms up
            order = list(VARIANTS) if r % 2 == 0 else list(reversed(VARIANTS))
            for name in order:
                queue = f"costs-{uuid.uuid4().hex[:8]}"
                extra = [*stub_activities.ACTIVITIES, *VARIANTS[name]]
                worker = build_worker(env.client, task_queue=queue, extra=extra, short_lived=True)
                async with worker:
                    codes = [f"UBND-00070-c{r}-{uuid.uuid4().hex[:8]}" for _ in range(n)]
                    began = time.process_time()
                    await c.run_cases(c.EngineCases(env.client, queue), codes)
                    spent = (time.process_time() - began) / n * 1000
                if r:
                    cpu[name].append(spent)
                    print(f"round {r} {name:14} {spent:6.1f} ms CPU per case", flush=True)
    finally:
        await env.shutdown()
    print("\n| variant | ms CPU per case, min | median |\n|---|---|---|")
    for name, figures in cpu.items():
        print(f"| {name} | {min(figures):.1f} | {statistics.median(figures):.1f} |")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cases", type=int, default=40)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    asyncio.run(main(args.cases, args.rounds))
