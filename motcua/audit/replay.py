"""Replay a case's history with today's workflow code, and say where it diverges.

A history replays through Temporal's `Replayer` with the workers' own sandbox and data
converter. "deterministic" means today's code issues, event for event, the commands the
history recorded. Otherwise the report names the first event where the code diverges, its
type and the step it belongs to.

Temporal's nondeterminism error names the mismatch ("activity type of scheduled event
'population.get_citizen' does not match ...") but not the event. So the event is found by
replaying prefixes of the history: a prefix ending at a workflow task's start is what a
worker would have been given then, and only the commands of earlier workflow tasks are
checked against it. The first prefix that fails brackets the workflow task whose commands
diverge; within it, the event the error message names (an activity type, a timer id, an
event id) is the one reported, else its first command event. log2(workflow tasks) replays.

Where histories come from (`load_history`): Temporal while it keeps the case, else the
archive (motcua.audit.archive); or a file written by `temporal workflow show --output json`.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from motcua.audit import archive
from motcua.audit.history import event_name
from motcua.codec import CodecKeyError, PayloadDecryptionError
from motcua.temporal import data_converter
from motcua.worker import workflow_runner
from motcua.workflows.archiving import CaseArchiveWorkflow
from motcua.workflows.procedure import ProcedureWorkflow

Source = Literal["temporal", "archive", "file"]
Outcome = Literal["deterministic", "diverged", "failed"]

# The events a workflow task's commands produce (what a replay checks its commands against).
COMMAND_EVENTS = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED,
    EventType.EVENT_TYPE_TIMER_STARTED,
    EventType.EVENT_TYPE_TIMER_CANCELED,
    EventType.EVENT_TYPE_MARKER_RECORDED,
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
}


class ReplayReport(BaseModel):
    workflow_id: str
    run_id: str
    source: Source
    events: int
    outcome: Outcome
    event_id: int | None = None  # the first event where today's code diverges
    event_type: str | None = None
    step_id: str | None = None
    message: str | None = None
    seconds: float = 0.0

    def line(self) -> str:
        """One line for a terminal: what replayed, and how."""
        head = f"{self.workflow_id} ({self.source}, {self.events} events): "
        if self.outcome == "deterministic":
            return head + "deterministic"
        if self.outcome == "diverged":
            where = f"event {self.event_id} {self.event_type}"
            step = f", step {self.step_id}" if self.step_id else ""
            return head + f"DIVERGES at {where}{step}: {self.message}"
        return head + f"FAILED: {self.message}"


def new_replayer() -> Replayer:
    return Replayer(
        workflows=[ProcedureWorkflow, CaseArchiveWorkflow],
        workflow_runner=workflow_runner(),
        data_converter=data_converter(),
    )


# ---------------------------------------------------------------- loading


class HistoryNotFound(Exception):
    """Neither Temporal nor the archive has the case (the message says where it looked)."""


async def load_history(client: Client | None, code: str) -> tuple[WorkflowHistory, Source]:
    """The history of case `code`: from Temporal while it keeps it, else from the archive.
    `client` None: the archive only."""
    if client is not None:
        try:
            return await client.get_workflow_handle(code).fetch_history(), "temporal"
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND:
                raise
    record = await asyncio.to_thread(archive.latest, code)  # file reads: off the event loop
    if record is None:
        where = "Temporal (namespace) nor the archive" if client else "the archive"
        raise HistoryNotFound(f"case {code}: neither {where} has it; check the dossier code")
    return await asyncio.to_thread(archive.read_history, record), "archive"


def history_from_file(path: Path, workflow_id: str | None = None) -> WorkflowHistory:
    """A history in Temporal's JSON format: `temporal workflow show --output json`, the
    archive's history.json, or a golden history. The history does not say its workflow id
    (the replay needs none): `workflow_id`, else the file's name, labels the report."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"{path}: cannot read it ({e.strerror or e})") from None
    return history_from_json(data, workflow_id or path.stem, where=str(path))


def history_from_json(data: bytes, workflow_id: str, *, where: str) -> WorkflowHistory:
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{where}: not a JSON history ({e})") from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("events"), list):
        raise ValueError(
            f"{where}: no 'events' list; expected Temporal's JSON history format "
            "(temporal workflow show --workflow-id ID --output json)"
        )
    try:
        return WorkflowHistory.from_json(workflow_id, parsed)
    except Exception as e:  # noqa: BLE001 - protobuf's parse errors name the bad field
        raise ValueError(f"{where}: not a Temporal history: {e}") from None


# ---------------------------------------------------------------- replaying


async def replay(
    history: WorkflowHistory, source: Source, replayer: Replayer | None = None
) -> ReplayReport:
    """Replay one history; on divergence, find the first diverging event and its step."""
    r = replayer or new_replayer()
    began = time.perf_counter()
    result = await r.replay_workflow(history, raise_on_replay_failure=False)
    report = ReplayReport(
        workflow_id=history.workflow_id,
        run_id=history.run_id,
        source=source,
        events=len(history.events),
        outcome="deterministic",
    )
    failure = result.replay_failure
    if failure is not None:
        await _explain(report, history, failure, r)
    report.seconds = time.perf_counter() - began
    return report


async def _explain(
    report: ReplayReport, history: WorkflowHistory, failure: Exception, r: Replayer
) -> None:
    report.message = _message(failure)
    unreadable = await _unreadable(history)
    if unreadable:  # the replay saw only "Encoded failure": say which key is missing
        report.outcome, report.message = "failed", unreadable
        return
    if not isinstance(failure, NondeterminismError):
        report.outcome = "failed"  # the code raised, or a payload could not be decoded
        return
    report.outcome = "diverged"
    found = await _first_diverging(history, report.message, r)
    if found is not None:
        report.event_id, report.event_type = found.event_id, event_name(found)
        report.step_id = await _step_of(history, found.event_id)


async def _unreadable(history: WorkflowHistory) -> str | None:
    """Why the history's payloads cannot be decoded here (a codec key missing), or None."""
    started = history.events[0].workflow_execution_started_event_attributes
    try:
        await data_converter().decode(list(started.input.payloads))
    except (PayloadDecryptionError, CodecKeyError) as e:
        return f"cannot decode the history's payloads: {e}"
    return None


def _message(failure: Exception) -> str:
    text = str(failure)
    inner = re.search(r'message: "((?:[^"\\]|\\.)*)"', text)  # the core's Failure { message }
    return (inner[1] if inner else text).replace('\\"', '"').replace("\\'", "'")


@dataclass
class _Bracket:
    start: int  # index of the first event of the diverging workflow task's range
    end: int  # index past its last event


async def _first_diverging(
    history: WorkflowHistory, message: str, r: Replayer
) -> HistoryEvent | None:
    events = list(history.events)
    # Prefix lengths a worker could have been given: up to each workflow task's start.
    cuts = [
        i + 1
        for i, e in enumerate(events)
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
    ] + [len(events)]
    lo, hi = 0, len(cuts) - 1  # cuts[hi] fails (the whole history did)
    while lo < hi:
        mid = (lo + hi) // 2
        prefix = WorkflowHistory(history.workflow_id, events[: cuts[mid]])
        result = await r.replay_workflow(prefix, raise_on_replay_failure=False)
        if isinstance(result.replay_failure, NondeterminismError):
            hi = mid
        else:
            lo = mid + 1
    bracket = _Bracket(start=cuts[lo - 1] if lo > 0 else 0, end=cuts[lo])
    return _named_event(events[bracket.start : bracket.end], message)


def _named_event(candidates: list[HistoryEvent], message: str) -> HistoryEvent | None:
    """The event in the diverging range that the error names, else its first command."""
    named = set(re.findall(r"'([^']+)'", message))
    ids = {int(n) for n in re.findall(r"\bid: (\d+)", message)}
    for e in candidates:
        if e.event_id in ids:
            return e
        attrs = e.activity_task_scheduled_event_attributes
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and (
            attrs.activity_type.name in named or attrs.activity_id in named
        ):
            return e
        timer = e.timer_started_event_attributes
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED and timer.timer_id in named:
            return e
    commands = [e for e in candidates if e.event_type in COMMAND_EVENTS]
    return commands[0] if commands else (candidates[-1] if candidates else None)


async def _step_of(history: WorkflowHistory, event_id: int) -> str | None:
    """The step the event belongs to, read from the case's timeline (motcua.audit.timeline)."""
    from motcua.audit.timeline import build_timeline, step_at  # decoding: only when needed

    try:
        timeline = await build_timeline(history, personal_data=False)
    except Exception:  # noqa: BLE001 - a history the timeline cannot read still has a report
        return None
    return step_at(timeline, event_id)
