"""Timeline of a birth bundle: build time and size, from the golden histories (no server).

    .venv/bin/python bench/timeline_build.py [--rounds 50]

Builds the timeline of tests/histories/birth_bundle_approved.v9.json with its three members
(read from their sibling files, decoded with the test codec key) `--rounds` times, masked
and unmasked, and prints the median build time, the entries, and the JSON and text sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("MOTCUA_CODEC_KEYS", "test:bW90Y3VhLXRlc3Qta2V5LW5vdC1mb3ItcHJvZC0zMmI=")

from temporalio.client import WorkflowHistory  # noqa: E402

from motcua.audit.timeline import build_timeline, render_text  # noqa: E402
from motcua.audit.timeline_model import MemberEntry  # noqa: E402
from motcua.temporal import data_converter  # noqa: E402

HISTORIES = Path(__file__).resolve().parent.parent / "tests" / "histories"
ROOT = "birth_bundle_approved"


def load(name: str, workflow_id: str) -> WorkflowHistory:
    return WorkflowHistory.from_json(workflow_id, (HISTORIES / f"{name}.v9.json").read_text())


async def fetch(workflow_id: str) -> WorkflowHistory | None:
    return load(f"{ROOT}.{workflow_id.rsplit('.', 1)[-1]}", workflow_id)


async def main(rounds: int) -> None:
    converter = data_converter()
    root = load(ROOT, ROOT)
    for personal_data in (False, True):
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            t = await build_timeline(
                root, personal_data=personal_data, fetch_member=fetch, converter=converter
            )
            times.append((time.perf_counter() - start) * 1000)
        text = render_text(t).encode()
        data = json.dumps(t.model_dump(mode="json"), ensure_ascii=False).encode()
        entries = len(t.entries) + sum(
            len(e.timeline.entries)
            for e in t.entries
            if isinstance(e, MemberEntry) and e.timeline is not None
        )
        print(
            f"personal_data={personal_data}: median {statistics.median(times):.1f} ms "
            f"per bundle tree (4 histories), {entries} entries, "
            f"JSON {len(data) / 1024:.1f} KiB, text {len(text) / 1024:.1f} KiB"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    asyncio.run(main(parser.parse_args().rounds))
