"""Rebuild the projected tables from Temporal: every case's state, projected again.

Temporal is the record; the read model is a copy that can be thrown away. Each case listed
by visibility is asked for its state (a closed case answers too: a worker replays it) and
its rows are written again, whatever revision they show. `prune` removes the rows of cases
Temporal no longer lists (past its retention, say): off by default, because the
programme's measures count closed cases for years. A case that does not answer (no worker
serves its task queue) keeps its rows and is reported.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlmodel import col, select

from motcua import db
from motcua.readmodel import projection
from motcua.readmodel.tables import DossierView
from motcua.workflows.contracts import Projection
from motcua.worklists.errors import WorkRefused
from motcua.worklists.states import CONCURRENCY, state_of

if TYPE_CHECKING:
    from temporalio.client import Client

ALL_CASES = 'WorkflowType = "ProcedureWorkflow"'


@dataclass
class Rebuilt:
    cases: int = 0
    written: int = 0
    removed: int = 0
    unanswered: list[str] = field(default_factory=list)


def _remove_unknown(known: set[str]) -> int:
    with db.session() as s:
        stale = [c for c in s.exec(select(DossierView.dossier_code)) if c not in known]
        for code in stale:
            projection.forget(s, code)
        s.commit()
        return len(stale)


async def rebuild(client: Client, query: str | None = None, *, prune: bool = False) -> Rebuilt:
    """Project again every case `query` lists (default: every case)."""
    if prune and query is not None:
        raise ValueError("pruning removes every case outside the listing: not with a query")
    report = Rebuilt()
    codes = [
        e.id
        async for e in client.list_workflows(f"{ALL_CASES} AND ({query})" if query else ALL_CASES)
    ]
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(code: str) -> None:
        async with gate:
            try:
                state = await state_of(client, code)
            except WorkRefused:
                report.unanswered.append(code)
                return
            snapshot = Projection(revision=state.revision, state=state)
            await db.run_sync(projection.write, snapshot, True)
            report.written += 1

    unique = list(dict.fromkeys(codes))  # a case run again (reset) is listed per run
    report.cases = len(unique)
    await asyncio.gather(*(one(c) for c in unique))
    if prune:
        report.removed = await db.run_sync(_remove_unknown, set(unique))
    return report


def codes_in_read_model() -> list[str]:
    with db.session() as s:
        return list(
            s.exec(select(DossierView.dossier_code).order_by(col(DossierView.dossier_code)))
        )
