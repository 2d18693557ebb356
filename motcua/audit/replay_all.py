"""Replay many cases at once: the release gate before new worker code is deployed.

`gather_histories` takes every case Temporal still has (running ones included: they are
the ones new code must carry on) and every archived case Temporal no longer has, started
since a date. `replay_many` replays them in `jobs` processes (replay is CPU-bound Python;
one process per core), each process one `Replayer` worker for its share, and explains
each divergence as `motcua.audit.replay.replay` does.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import AsyncIterator
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime

from pydantic import BaseModel
from temporalio.api.history.v1 import History
from temporalio.client import Client, WorkflowHistory

from motcua.audit import archive
from motcua.audit.replay import ReplayReport, Source, new_replayer, replay

CASES = "WorkflowType = 'ProcedureWorkflow'"
FETCHING = 16  # histories fetched from Temporal at once


class Summary(BaseModel):
    reports: list[ReplayReport]
    seconds: float
    jobs: int

    @property
    def diverged(self) -> list[ReplayReport]:
        return [r for r in self.reports if r.outcome != "deterministic"]

    @property
    def per_second(self) -> float:
        return len(self.reports) / self.seconds if self.seconds else 0.0


async def gather_histories(
    client: Client | None, since: datetime | None = None
) -> list[tuple[WorkflowHistory, Source]]:
    """Every case's history from Temporal, and archived cases Temporal no longer has."""
    found: list[tuple[WorkflowHistory, Source]] = []
    seen: set[str] = set()
    if client is not None:
        query = CASES + (f" AND StartTime >= '{since.isoformat()}'" if since else "")
        gate = asyncio.Semaphore(FETCHING)

        async def fetch(workflow_id: str, run_id: str) -> WorkflowHistory:
            async with gate:
                handle = client.get_workflow_handle(workflow_id, run_id=run_id)
                return await handle.fetch_history()

        listed = [(e.id, e.run_id) async for e in client.list_workflows(query)]
        histories = await asyncio.gather(*(fetch(w, r) for w, r in listed))
        found += [(h, "temporal") for h in histories]
        seen = {w for w, _ in listed}
    for record in archive.all_records():
        if record.dossier_code in seen or (since and record.started_at < since):
            continue
        found.append((archive.read_history(record), "archive"))
    return found


async def replay_many(histories: list[tuple[WorkflowHistory, Source]], jobs: int = 1) -> Summary:
    began = time.perf_counter()
    if jobs <= 1 or len(histories) < 2:
        reports = await _replay_share(histories)
    else:
        # To the processes as protobuf bytes: a twentieth of the time JSON takes both ways.
        shares: list[list[tuple[str, bytes, Source]]] = [[] for _ in range(jobs)]
        for i, (h, s) in enumerate(histories):
            shares[i % jobs].append((h.workflow_id, _serialized(h), s))
        loop = asyncio.get_running_loop()
        # Spawned, not forked: Temporal's runtime refuses to run in a forked copy of itself.
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=spawn) as pool:
            done = await asyncio.gather(
                *(loop.run_in_executor(pool, _replay_in_process, share) for share in shares)
            )
        reports = [ReplayReport.model_validate(r) for part in done for r in part]
    return Summary(reports=reports, seconds=time.perf_counter() - began, jobs=max(jobs, 1))


def _serialized(history: WorkflowHistory) -> bytes:
    return History(events=history.events).SerializeToString()


def _replay_in_process(share: list[tuple[str, bytes, Source]]) -> list[dict[str, object]]:
    items = [(WorkflowHistory(w, list(History.FromString(data).events)), s) for w, data, s in share]
    return [r.model_dump() for r in asyncio.run(_replay_share(items))]


async def _replay_share(items: list[tuple[WorkflowHistory, Source]]) -> list[ReplayReport]:
    """One Replayer worker for the whole share; each divergence explained afterwards."""
    r = new_replayer()

    async def stream() -> AsyncIterator[WorkflowHistory]:
        for h, _ in items:
            yield h

    reports: list[ReplayReport] = []
    async with r.workflow_replay_iterator(stream()) as results:
        i = 0
        async for result in results:
            history, source = items[i]
            i += 1
            if result.replay_failure is None:
                reports.append(
                    ReplayReport(
                        workflow_id=history.workflow_id,
                        run_id=history.run_id,
                        source=source,
                        events=len(history.events),
                        outcome="deterministic",
                    )
                )
            else:
                reports.append(await replay(history, source))  # a replayer of its own
    return reports
