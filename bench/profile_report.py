"""cProfile dumps as data: where a worker's time went.

bench/bench_worker.py writes two dumps: `workflow.prof` (the thread that runs workflow
activations, where the engine interprets YAML) and `loop.prof` (the event loop: polling,
payload codec, activities).
"""

from __future__ import annotations

import pstats
from pathlib import Path
from typing import Any

ROOT = str(Path(__file__).resolve().parent.parent) + "/"
# Waiting and plumbing, left out of the rankings: a thread idle in its queue or in epoll
# has a large cumulative time that says nothing about the work.
IDLE = (
    "'_queue.SimpleQueue' objects",
    "'select.epoll' objects",
    "selectors.py",
    "concurrent/futures/thread.py",
    "asyncio/base_events.py",
    "asyncio/events.py",
    "'_contextvars.Context' objects",
    "threading.py",
)


def _where(key: tuple[str, int, str]) -> str:
    """'motcua/workflows/procedure.py:250(_call)', site-packages shortened."""
    path, line, name = key
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    return f"{path.removeprefix(ROOT)}:{line}({name})"


def _rows(stats: pstats.Stats, index: int, entries: int) -> list[dict[str, Any]]:
    table = stats.stats  # type: ignore[attr-defined]
    busy = [(k, v) for k, v in table.items() if not any(i in _where(k) for i in IDLE)]
    ranked = sorted(busy, key=lambda item: item[1][index], reverse=True)
    return [
        {"function": _where(key), "calls": nc, "self_s": round(tt, 3), "cumulative_s": round(ct, 3)}
        for key, (_cc, nc, tt, ct, _callers) in ranked[:entries]
    ]


def top(directory: Path, entries: int = 15) -> dict[str, Any]:
    """For each dump: its total, and the top `entries` by cumulative and by self time."""
    found: dict[str, Any] = {}
    for name in ("workflow", "loop"):
        path = directory / f"{name}.prof"
        if not path.exists():
            continue
        stats = pstats.Stats(str(path))
        found[name] = {
            "total_s": round(stats.total_tt, 3),  # type: ignore[attr-defined]
            "by_cumulative": _rows(stats, 3, entries),
            "by_self": _rows(stats, 2, entries),
        }
    return found


# What a side's worker spends its time on, by the functions that hold it (cumulative time,
# both threads): (label, file ending, function name).
ENTRIES = (
    ("workflow activations", "temporalio/worker/_workflow.py", "activate"),
    ("  of which workflow code", "temporalio/worker/_workflow_instance.py", "run_workflow"),
    ("    of which expressions", "motcua/workflows/dsl/expressions.py", "evaluate"),
    ("new workflow in the sandbox", "temporalio/worker/_workflow.py", "_create_workflow_instance"),
    ("payload codec, encode", "motcua/codec.py", "encode"),
    ("payload codec, decode", "motcua/codec.py", "decode"),
    ("payload converter, built", "motcua/temporal.py", "__init__"),
)


def summary(directory: Path, cases: int) -> dict[str, float]:
    """Milliseconds per case (under the profiler) in each of ENTRIES, both threads summed."""
    per_case: dict[str, float] = {}
    for name in ("workflow", "loop"):
        path = directory / f"{name}.prof"
        if not path.exists():
            continue
        table = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
        for label, file, function in ENTRIES:
            spent = sum(
                v[3] for (f, _, fn), v in table.items() if f.endswith(file) and fn == function
            )
            per_case[label] = per_case.get(label, 0.0) + spent * 1000 / cases
    return {label: round(ms, 2) for label, ms in per_case.items()}
