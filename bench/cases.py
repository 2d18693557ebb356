"""The benchmark's officer: starts birth registrations on the engine or on the twin, waits
until each waits for the review, approves it, and reads the histories afterwards.

`EngineCases` and `TwinCases` differ only in how a case is started, asked how it stands
and decided; one driver (`run_cases`) runs cases the same way on either. A `Side` is one
of them with its worker process.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import harness
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from twin import PROCEDURE, BirthRegistrationTwin
from twin_models import BirthInput

from motcua.activities.calendar import snapshot as calendar_snapshot
from motcua.workflows.contracts import (
    CaseResult,
    CaseStart,
    CaseStatus,
    CompiledProcedure,
    DecideInput,
    SupplementInput,
    initial_search_attributes,
)
from motcua.workflows.dsl.compile import load_bundle
from motcua.workflows.procedure import ProcedureWorkflow

ROOT = Path(__file__).resolve().parent.parent
BIRTH = ROOT / "procedure_defs/civil_status/birth_registration.yaml"
# What the mother types (as scenarios/birth/birth_happy.yaml); the stubs answer the rest.
DOSSIER: dict[str, Any] = {
    "mother_pid": "001194000123",
    "birth_certificate_no": "CS-2026-0001234",
    "commune_code": "00070",
    "child_name": "Nguyễn Minh An",
}
APPROVE = DecideInput(
    step_id="review",
    action="approve",
    role="civil_status_officer",
    agency="UBND-00070",
    actor="cb.hotich.00070",
)
POLL = 0.2  # seconds between two looks at the inbox (or at one case)


class Cases(Protocol):
    name: str
    queue: str
    client: Client

    async def start(self, code: str) -> WorkflowHandle[Any, Any]: ...

    async def waiting(self, handle: WorkflowHandle[Any, Any]) -> bool: ...

    async def decide(self, handle: WorkflowHandle[Any, Any]) -> None: ...


class EngineCases:
    """ProcedureWorkflow with the birth registration and the working-day calendar pinned
    in each start input, as `motcua start` starts a case."""

    name = "engine"

    def __init__(self, client: Client, queue: str) -> None:
        self.client, self.queue = client, queue
        self.procedure: CompiledProcedure = load_bundle(BIRTH)[0]
        self.calendar = calendar_snapshot()

    async def start(self, code: str) -> WorkflowHandle[Any, Any]:
        start = CaseStart(
            dossier_code=code, procedure=self.procedure, dossier=DOSSIER, calendar=self.calendar
        )
        return await self.client.start_workflow(
            ProcedureWorkflow.run,
            start,
            id=code,
            task_queue=self.queue,
            search_attributes=initial_search_attributes(code, self.procedure.definition.id),
        )

    async def waiting(self, handle: WorkflowHandle[Any, Any]) -> bool:
        state = await handle.query(ProcedureWorkflow.state)
        ready = state.status == CaseStatus.waiting_officer
        return ready and any(t.step_id == "review" for t in state.open_tasks)

    async def decide(self, handle: WorkflowHandle[Any, Any]) -> None:
        await handle.execute_update(ProcedureWorkflow.decide, APPROVE)

    async def ask_supplement(self, handle: WorkflowHandle[Any, Any], round_no: int) -> None:
        ask = APPROVE.model_copy(
            update={"action": "request_supplement", "missing": [f"Giấy tờ lần {round_no}"]}
        )
        await handle.execute_update(ProcedureWorkflow.decide, ask)

    async def supplement(self, handle: WorkflowHandle[Any, Any], round_no: int) -> None:
        documents = {"birth_certificate_file": f"upload:giay-chung-sinh-{round_no}.pdf"}
        supplement = SupplementInput(step_id="review", actor="citizen", documents=documents)
        await handle.execute_update(ProcedureWorkflow.supplement, supplement)

    async def status(self, handle: WorkflowHandle[Any, Any]) -> CaseStatus:
        return (await handle.query(ProcedureWorkflow.state)).status


class TwinCases:
    """The hand-written BirthRegistrationTwin, started with the same pinned calendar."""

    name = "twin"

    def __init__(self, client: Client, queue: str) -> None:
        self.client, self.queue = client, queue
        self.calendar = calendar_snapshot()

    async def start(self, code: str) -> WorkflowHandle[Any, Any]:
        return await self.client.start_workflow(
            BirthRegistrationTwin.run,
            BirthInput(dossier_code=code, calendar=self.calendar, **DOSSIER),
            id=code,
            task_queue=self.queue,
            search_attributes=initial_search_attributes(code, PROCEDURE),
        )

    async def waiting(self, handle: WorkflowHandle[Any, Any]) -> bool:
        status = await handle.query(BirthRegistrationTwin.status_now)
        return status.status == CaseStatus.waiting_officer and status.open_task == "review"

    async def decide(self, handle: WorkflowHandle[Any, Any]) -> None:
        await handle.execute_update(BirthRegistrationTwin.decide, APPROVE)


async def wait_until_waiting(cases: Cases, handle: WorkflowHandle[Any, Any]) -> int:
    """Query one case every POLL seconds until it waits for the officer; queries made."""
    queries = 0
    while True:
        await asyncio.sleep(POLL)
        queries += 1
        if await cases.waiting(handle):
            return queries


async def completed(handle: WorkflowHandle[Any, Any]) -> None:
    result = await handle.result()
    status = result.status if isinstance(result, CaseResult) else None
    if status != CaseStatus.completed:
        raise RuntimeError(f"{handle.id} ended {status}, not completed")


async def inbox(
    cases: Cases,
    handles: list[WorkflowHandle[Any, Any]],
    on_waiting: Callable[[WorkflowHandle[Any, Any]], Awaitable[None]] | None = None,
) -> int:
    """Wait until every case in `handles` waits for the officer, as an officer's inbox
    would: list the queue's cases whose CaseStatus is waiting_officer (visibility, served
    by Temporal alone), confirm each newly listed one with one query to the case itself,
    and hand it to `on_waiting` (run in the background; all are awaited before returning).

    Polling each case by query instead would load the worker and the server in proportion
    to how slowly cases progress, which would feed back into what is measured. Returns
    the queries made."""
    pending = {h.id: h for h in handles}
    waiting = f"TaskQueue = '{cases.queue}' AND CaseStatus = 'waiting_officer'"
    queries, tasks = 0, []
    while pending:
        await asyncio.sleep(POLL)
        listed = [w.id async for w in cases.client.list_workflows(waiting) if w.id in pending]
        ready = [pending[i] for i in listed]
        confirmed = await asyncio.gather(*(cases.waiting(h) for h in ready))
        queries += len(ready)
        for handle, ok in zip(ready, confirmed, strict=True):
            if ok:
                del pending[handle.id]
                if on_waiting is not None:
                    tasks.append(asyncio.create_task(on_waiting(handle)))
    await asyncio.gather(*tasks)
    return queries


async def run_cases(cases: Cases, codes: list[str]) -> int:
    """Start every case at once, approve each as soon as it waits for the officer, and
    wait until all have completed. Returns the queries made."""
    handles = await asyncio.gather(*(cases.start(code) for code in codes))

    async def approve(handle: WorkflowHandle[Any, Any]) -> None:
        await cases.decide(handle)
        await completed(handle)

    return await inbox(cases, list(handles), approve)


async def timed_decide(cases: Cases, handle: WorkflowHandle[Any, Any]) -> float:
    """The officer's wait: from sending `decide` to its answer, in seconds."""
    began = time.perf_counter()
    await cases.decide(handle)
    return time.perf_counter() - began


@dataclass
class Side:
    """One side of the comparison: how to drive its cases, and its worker process."""

    cases: EngineCases | TwinCases
    worker: harness.Child
    last_codes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.cases.name


def codes(engine: str, tag: str, n: int) -> list[str]:
    """Dossier-code-like workflow ids of the same length for both engines."""
    return [f"UBND-00070-{engine[0]}{tag}-{i:05d}" for i in range(n)]


# ---------------------------------------------------------------- histories


@dataclass
class HistoryFigures:
    events: int
    json_bytes: int
    proto_bytes: int
    empty_tasks: int  # workflow tasks that completed with no command (3 events each)
    types: dict[str, int] = field(default_factory=dict)


# Events a workflow task's completion records (its commands, and accepted Updates).
COMMANDS = {
    "ACTIVITY_TASK_SCHEDULED", "ACTIVITY_TASK_CANCEL_REQUESTED", "TIMER_STARTED",
    "TIMER_CANCELED", "MARKER_RECORDED", "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES",
    "WORKFLOW_PROPERTIES_MODIFIED", "START_CHILD_WORKFLOW_EXECUTION_INITIATED",
    "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED",
    "REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED", "WORKFLOW_EXECUTION_COMPLETED",
    "WORKFLOW_EXECUTION_FAILED", "WORKFLOW_EXECUTION_CANCELED",
    "WORKFLOW_EXECUTION_CONTINUED_AS_NEW", "WORKFLOW_EXECUTION_UPDATE_ACCEPTED",
    "WORKFLOW_EXECUTION_UPDATE_COMPLETED",
}  # fmt: skip


def empty_tasks(names: list[str]) -> int:
    """Workflow tasks that completed without a command. Some are real (a bundle woken by
    its member's start has nothing to do yet); others are the time-skipping test server's
    own (the birth registration on the dev server has none, in a scenario run four), so a
    history from a scenario run can hold more events than the same case on a server."""
    following = [*names[1:], ""]
    return sum(
        1
        for name, after in zip(names, following, strict=True)
        if name == "WORKFLOW_TASK_COMPLETED" and after not in COMMANDS
    )


def event_name(event_type: int) -> str:
    return EventType.Name(event_type).removeprefix("EVENT_TYPE_")  # type: ignore[arg-type]


def sequence(history: WorkflowHistory) -> list[str]:
    """The history's events in order, activities and markers named, upserts left out (where
    an upsert falls inside its workflow task is no cost): two workflows that issue the same
    commands in the same order have equal sequences."""
    names = []
    for e in history.events:
        name = event_name(e.event_type)
        if name == "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES":
            continue
        if e.HasField("activity_task_scheduled_event_attributes"):
            name += " " + e.activity_task_scheduled_event_attributes.activity_type.name
        elif e.HasField("marker_recorded_event_attributes"):
            name += " " + e.marker_recorded_event_attributes.marker_name
        names.append(name)
    return names


def figures(history: WorkflowHistory) -> HistoryFigures:
    """Events, size as compact JSON (as `temporal workflow show --output json` gives it)
    and as protobuf (what Temporal's history size limits count), events per type."""
    names = [event_name(e.event_type) for e in history.events]
    types = collections.Counter(names)
    size = len(json.dumps(json.loads(history.to_json())).encode())
    proto = sum(e.ByteSize() for e in history.events)
    return HistoryFigures(len(names), size, proto, empty_tasks(names), dict(sorted(types.items())))


async def histories(
    client: Client, codes: list[str], concurrency: int = 20
) -> list[WorkflowHistory]:
    gate = asyncio.Semaphore(concurrency)

    async def one(code: str) -> WorkflowHistory:
        async with gate:
            return await client.get_workflow_handle(code).fetch_history()

    return list(await asyncio.gather(*(one(c) for c in codes)))
