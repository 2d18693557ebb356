"""A history's events with their payloads decoded once, for the timeline to read in order.

Payloads are encrypted (motcua.codec); the data converter decodes them to plain JSON
values (no types: a history recorded years ago must read even if a model has changed
since). Failures are decoded to their message and type (failure attributes are encrypted
too). The history itself is not changed: failures are copied before they are decoded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import EventType
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError

# Which field of which event holds the payloads worth reading.
_VALUES = {
    "workflow_execution_started": "input",
    "activity_task_scheduled": "input",
    "activity_task_completed": "result",
    "activity_task_canceled": "details",
    "workflow_execution_signaled": "input",
    "start_child_workflow_execution_initiated": "input",
    "child_workflow_execution_completed": "result",
    "workflow_execution_completed": "result",
}
_FAILURES = {
    "activity_task_started": "last_failure",
    "activity_task_failed": "failure",
    "activity_task_timed_out": "failure",
    "child_workflow_execution_failed": "failure",
    "workflow_execution_failed": "failure",
    "workflow_task_failed": "failure",
}


@dataclass
class Decoded:
    event: HistoryEvent
    kind: str  # the event's attributes, e.g. "activity_task_scheduled"
    attrs: Any  # its attributes message
    wft: int  # the workflow task completed at or before it (its commands' task)
    values: list[Any] = field(default_factory=list)
    error: str | None = None
    error_type: str | None = None
    name: str = ""  # an Update's name
    search: dict[str, Any] = field(default_factory=dict)  # upserted search attributes

    @property
    def id(self) -> int:
        return int(self.event.event_id)

    @property
    def at(self) -> datetime:
        return self.event.event_time.ToDatetime(tzinfo=UTC)


async def decode_events(history: WorkflowHistory, converter: DataConverter) -> list[Decoded]:
    decoded: list[Decoded] = []
    wft = 0
    for event in history.events:
        kind = (event.WhichOneof("attributes") or "").removesuffix("_event_attributes")
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            wft = event.event_id
        attrs = getattr(event, f"{kind}_event_attributes") if kind else None
        d = Decoded(event=event, kind=kind, attrs=attrs, wft=wft)
        await _fill(d, converter)
        decoded.append(d)
    return decoded


async def _fill(d: Decoded, converter: DataConverter) -> None:
    a = d.attrs
    if d.kind in _VALUES:
        d.values = await _values(list(getattr(a, _VALUES[d.kind]).payloads), converter)
    elif d.kind == "workflow_execution_update_accepted":
        request = a.accepted_request
        d.name = request.input.name
        d.values = await _values(list(request.input.args.payloads), converter)
    elif d.kind == "workflow_execution_update_completed":
        if a.outcome.HasField("failure"):
            await _failure(d, a.outcome.failure, converter)
        else:
            d.values = await _values(list(a.outcome.success.payloads), converter)
    elif d.kind == "upsert_workflow_search_attributes":
        d.search = {k: _plain(p) for k, p in a.search_attributes.indexed_fields.items()}
    if d.kind in _FAILURES and a.HasField(_FAILURES[d.kind]):
        await _failure(d, getattr(a, _FAILURES[d.kind]), converter)


async def _values(payloads: list[Payload], converter: DataConverter) -> list[Any]:
    return list(await converter.decode(payloads)) if payloads else []


async def _failure(d: Decoded, failure: Failure, converter: DataConverter) -> None:
    copy = Failure()
    copy.CopyFrom(failure)
    error = await converter.decode_failure(copy)
    d.error = str(error) or type(error).__name__
    d.error_type = error.type if isinstance(error, ApplicationError) else type(error).__name__


def _plain(payload: Payload) -> Any:
    """A search attribute's value (plain JSON, never encrypted)."""
    try:
        return json.loads(payload.data)
    except ValueError:
        return None
