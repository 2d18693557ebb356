"""The `state` query of many cases at once, a few at a time.

A case answers only while a worker serves its task queue; one that does not answer in
QUERY_TIMEOUT is reported as unanswered, not left out silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

from motcua.workflows.contracts import CaseState
from motcua.worklists.errors import WorkRefused, on_case

if TYPE_CHECKING:
    from temporalio.client import Client

QUERY_TIMEOUT = timedelta(seconds=10)
CONCURRENCY = 16


async def state_of(client: Client, code: str) -> CaseState:
    """Case `code`'s state (WorkRefused when there is no such case or it does not answer)."""
    handle = client.get_workflow_handle(code)
    state: CaseState = await on_case(
        code, handle.query("state", result_type=CaseState, rpc_timeout=QUERY_TIMEOUT)
    )
    return state


async def states_of(client: Client, codes: Sequence[str]) -> tuple[dict[str, CaseState], list[str]]:
    """The states of `codes` (in their order), and the codes that did not answer."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(code: str) -> CaseState | None:
        async with gate:
            try:
                return await state_of(client, code)
            except WorkRefused:
                return None

    answers = await asyncio.gather(*(one(c) for c in codes))
    found = {c: s for c, s in zip(codes, answers, strict=True) if s is not None}
    return found, [c for c, s in zip(codes, answers, strict=True) if s is None]
