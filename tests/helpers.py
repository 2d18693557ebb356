"""Helpers for workflow tests: a worker on its own task queue, starting cases, waiting."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import yaml
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from motcua.activities.definitions import pin_members
from motcua.worker import build_worker
from motcua.workflows.contracts import (
    CaseStart,
    CaseState,
    CompiledProcedure,
    TokenTrust,
    initial_search_attributes,
)
from motcua.workflows.dsl.model import ProcedureDefinition
from motcua.workflows.procedure import ProcedureWorkflow
from motcua.workflows.working_days import CalendarSnapshot
from tests import engine_activities

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")


# The head of the small definitions the engine tests write inline (their steps follow).
TEST_HEADER = """
id: vn.test.{name}
version: 1
title: Thủ tục kiểm thử
agency: commune
sla: {{working_days: 5}}
roles: [officer]
input:
  pid: {{type: pid}}
  scan: {{type: file, required: false}}
"""


def compiled(name: str, body: str, header: str = TEST_HEADER) -> CompiledProcedure:
    """A definition `vn.test.<name>` from `header` and `body` (YAML), compiled."""
    text = header.format(name=name) + body
    return CompiledProcedure.of(ProcedureDefinition.model_validate(yaml.safe_load(text)))


def new_worker(client: Client, extra: list[Callable[..., Any]] | None = None) -> Worker:
    """A worker on its own task queue with the engine's test activities (and `extra`,
    which may replace a product activity of the same name)."""
    activities = [*engine_activities.ACTIVITIES, *(extra or [])]
    return build_worker(
        client, task_queue=f"test-{uuid.uuid4()}", extra=activities, short_lived=True
    )


async def start_case(
    client: Client,
    worker: Worker,
    procedure: CompiledProcedure,
    dossier: dict[str, Any],
    *,
    members: dict[str, CompiledProcedure] | None = None,
    code: str | None = None,
    calendar: CalendarSnapshot | None = None,
    trust: TokenTrust | None = None,
) -> WorkflowHandle[ProcedureWorkflow, Any]:
    """Start a case; without `calendar` it asks the calendar activity for its deadlines
    (which tests can make fail), with one it counts them itself (ADR 0009); with `trust`
    its decisions and resumes need a token (ADR 0013)."""
    code = code or f"T00.1-261123-{uuid.uuid4().hex[:6]}"
    start = CaseStart(
        dossier_code=code,
        procedure=procedure,
        member_refs=pin_members(members or {}),
        dossier=dossier,
        calendar=calendar,
        trust=trust,
    )
    return await client.start_workflow(
        ProcedureWorkflow.run,
        start,
        id=code,
        task_queue=worker.task_queue,
        search_attributes=initial_search_attributes(code, procedure.definition.id),
    )


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    timeout: timedelta = timedelta(seconds=15),
) -> T:
    deadline = asyncio.get_running_loop().time() + timeout.total_seconds()
    while True:
        value = await probe()
        if until(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not reached within {timeout}; last value: {value}")
        await asyncio.sleep(0.05)


async def state_when(
    handle: WorkflowHandle[Any, Any],
    until: Callable[[CaseState], bool],
    timeout: timedelta = timedelta(seconds=15),
) -> CaseState:
    """Poll the `state` query; a case not started yet (a bundle's member) counts as not yet."""

    async def probe() -> CaseState | None:
        try:
            return await handle.query(ProcedureWorkflow.state)
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND:
                raise
            return None

    state = await eventually(probe, lambda s: s is not None and until(s), timeout)
    assert state is not None
    return state


async def skip_past(env: WorkflowEnvironment, moment: datetime | None) -> None:
    """Move a time-skipping server's clock a minute past `moment` (a deadline read from the
    case), so a test waits for the deadline the calendar gave, whatever the date."""
    assert moment is not None, "the case has no such deadline"
    await env.sleep(moment + timedelta(minutes=1) - await env.get_current_time())


# Dates written into test documents, relative to the run (the suite passes on any day): a
# birth three weeks ago, its extract issued yesterday at 09:30 in Vietnam.
ISSUED = (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")) - timedelta(days=1)).replace(
    hour=9, minute=30, second=0, microsecond=0
)
BORN = ISSUED.date() - timedelta(days=21)
DUE = ISSUED.date() + timedelta(days=2)
