"""The timeline of a case, built from its Temporal history alone: readable years later.

`build_timeline` decodes a history (and its member cases' histories, asked of
`fetch_member`) and reads it event by event (motcua.audit.timeline_reader) into entries
(motcua.audit.timeline_model): each step's start and finish; each registry call with its
idempotency key, request and answer hashes and the answer; each document and notification;
each decision, assignment, supplement, stall and resume; each wait and deadline; member
cases nested; and the end. Personal data is masked unless `personal_data`
(motcua.audit.masking). `render_text` writes a timeline for people
(motcua.audit.timeline_text).

How an entry finds its step: an activity by its idempotency key (`{dossier_code}:{step_id}
[#run]`); an Update by the step id in its input; a member by its workflow id
(`{dossier_code}.{step_id}`); a task's deadline timer by the decision that cancelled it.
The calendar's deadline calls, the apology's wait and fired timers belong to no step the
history names (`step_id` None). The read-model projection (a local activity), patch
markers and search attributes other than the status and the deadline are not entries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter

from motcua.audit.decoded import decode_events
from motcua.audit.masking import Masker
from motcua.audit.timeline_model import StepEntry, Timeline
from motcua.audit.timeline_reader import CaseReader
from motcua.audit.timeline_text import render_text
from motcua.temporal import data_converter
from motcua.workflows.contracts import WORKFLOW_TYPE

__all__ = ["FetchMember", "Timeline", "build_timeline", "render_text", "step_at"]

# Bundles of bundles: deeper than this is a loop in what `fetch_member` answers.
MAX_DEPTH = 8

FetchMember = Callable[[str], Awaitable[WorkflowHistory | None]]


async def build_timeline(
    history: WorkflowHistory,
    *,
    personal_data: bool,
    fetch_member: FetchMember | None = None,
    converter: DataConverter | None = None,
) -> Timeline:
    """The timeline of the case whose history this is, its members' nested.

    `fetch_member(workflow_id)` gives a member case's history; None (or no `fetch_member`)
    lists the member with its outcome only. Every history of the tree is read before any
    entry is written, so a name seen in one is masked in all. `converter` decodes the
    payloads (default: motcua.temporal.data_converter(), which needs the codec keys).
    """
    conv = converter or data_converter()
    mask = Masker(personal_data)
    reader = await _reader(history, conv, fetch_member, mask, 0)
    reader.learn()
    return reader.timeline()


async def _reader(
    history: WorkflowHistory,
    conv: DataConverter,
    fetch: FetchMember | None,
    mask: Masker,
    depth: int,
) -> CaseReader:
    if not history.events:
        raise ValueError(f"the history of {history.workflow_id} has no events")
    events = await decode_events(history, conv)
    initiated = [
        d
        for d in events
        if d.kind == "start_child_workflow_execution_initiated"
        and d.attrs.workflow_type.name == WORKFLOW_TYPE
    ]
    members: dict[int, CaseReader | None] = {d.id: None for d in initiated}

    async def member(event_id: int, workflow_id: str) -> None:
        found = await fetch(workflow_id) if fetch is not None and depth < MAX_DEPTH else None
        if found is not None and found.events:
            members[event_id] = await _reader(found, conv, fetch, mask, depth + 1)

    await asyncio.gather(*(member(d.id, d.attrs.workflow_id) for d in initiated))
    return CaseReader(history.workflow_id, history.run_id or None, events, members, mask)


def step_at(timeline: Timeline, event_id: int) -> str | None:
    """The step history event `event_id` belongs to, if the timeline can tell: the step of
    the entry made of it, else of the shortest step span around it (for a replay report:
    "diverges at event 48, step review"). Member cases are not searched."""
    for entry in timeline.entries:
        if event_id in entry.event_ids and entry.step_id is not None:
            return entry.step_id
    spans: dict[tuple[str, int], list[int]] = {}
    for entry in timeline.entries:
        if isinstance(entry, StepEntry) and entry.step_id is not None:
            spans.setdefault((entry.step_id, entry.run), []).extend(entry.event_ids)
    around = [
        (max(ids) - min(ids), step)
        for (step, _), ids in spans.items()
        if min(ids) <= event_id <= max(ids)
    ]
    return min(around)[1] if around else None
