"""Where each step of a case started and finished, from the entries that name it.

The history has no event for "step started": a step shows only through what it did (its
calls, the decisions on its task, its member case, its stall). So a step starts at the
first event of its entries and finishes at the last, per run (a supplement round runs a
step again). Its kind and title come from the definition the case ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from motcua.audit.timeline_model import (
    ActivityFacts,
    Entry,
    MemberEntry,
    ResumeEntry,
    StallEntry,
    StepEntry,
)

# The keys that make a mapping of a definition a step of that kind (motcua.workflows.dsl.model).
STEP_KINDS = (
    "call", "task", "document", "notify", "procedure", "wait", "parallel", "switch",
    "compensate", "set", "fail", "reject",
)  # fmt: skip


def steps_of_definition(definition: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """Step id -> (kind, title) of every step in a definition (as plain JSON), nested steps
    (branches, cases, handlers, the apology, on_supplement) included."""
    found: dict[str, tuple[str, str | None]] = {}
    for node in _mappings(definition):
        step_id = node.get("id")
        kind = next((k for k in STEP_KINDS if k in node), None)
        if isinstance(step_id, str) and kind is not None and node is not definition:
            found.setdefault(step_id, (kind, node.get("title")))
    return found


def _mappings(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from _mappings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _mappings(v)


def _open(entry: Entry) -> bool:
    """Whether the entry leaves its step unfinished (a call or a member still running)."""
    if isinstance(entry, ActivityFacts):
        return entry.outcome == "pending"
    return isinstance(entry, MemberEntry) and entry.status == "running"


def step_spans(
    entries: list[Entry],
    steps: dict[str, tuple[str, str | None]],
    times: dict[int, datetime],
    *,
    closed: bool,
) -> list[Entry]:
    """`entries` in event order with each step's started and finished entries among them.
    A step of an open case that still waits (a call, a member, a stall) has not finished."""
    spans: dict[tuple[str, int], list[int]] = {}
    waiting: dict[tuple[str, int], int] = {}
    for entry in entries:
        if entry.step_id is None:
            continue
        key = (entry.step_id, entry.run)
        spans.setdefault(key, []).extend(entry.event_ids)
        if isinstance(entry, StallEntry):
            waiting[key] = waiting.get(key, 0) + 1
        elif isinstance(entry, ResumeEntry):
            waiting[key] = waiting.get(key, 0) - 1
        elif _open(entry):
            waiting[key] = waiting.get(key, 0) + 1
    marks: list[Entry] = []
    for (step_id, run), ids in spans.items():
        kind, title = steps.get(step_id, (None, None))
        first, last = min(ids), max(ids)
        common = {"step_id": step_id, "run": run, "step_kind": kind, "title": title}
        marks.append(StepEntry(event_ids=[first], at=times[first], phase="started", **common))
        if closed or waiting.get((step_id, run), 0) <= 0:
            marks.append(StepEntry(event_ids=[last], at=times[last], phase="finished", **common))
    return sorted([*entries, *marks], key=_order)


def _order(entry: Entry) -> tuple[int, int]:
    if isinstance(entry, StepEntry):
        return (entry.event_ids[0], 0 if entry.phase == "started" else 2)
    return (entry.event_ids[0], 1)
