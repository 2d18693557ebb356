"""Kill the worker process (SIGKILL) while activities run and while cases wait.

The worker runs as a real subprocess against the dev server; the register it writes to is
the target's own record, and it must show every write exactly once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import yaml
from temporalio.api.enums.v1 import TimeoutType
from temporalio.testing import WorkflowEnvironment

from motcua.activities import register
from motcua.settings import ROOT
from motcua.workflows.contracts import (
    CaseStart,
    CaseStatus,
    CompiledProcedure,
    DecideInput,
    initial_search_attributes,
)
from motcua.workflows.dsl.model import ProcedureDefinition
from motcua.workflows.procedure import ProcedureWorkflow
from tests.helpers import eventually, state_when

CASES = 3
DEFINITION = """
id: vn.test.crash
version: 1
title: Kiểm thử sự cố worker
agency: commune
sla: {working_days: 5}
roles: [officer]
input:
  pid: {type: pid}
steps:
  - id: first_write
    call: test.slow_register
    with: {book: "{{ params.book }}-a", entry: {pid: "{{ input.pid }}"}, delay: 120}
    # Far longer than the test waits: only the heartbeat can tell the attempt is lost.
    timeout: 300s
  - id: review
    task: {role: officer, agency: UBND-00001, actions: [approve]}
  - id: second_write
    call: register.write
    with: {book: "{{ params.book }}-b", entry: {first: "{{ first_write.entry_no }}"}}
"""


@contextmanager
def worker_process(task_queue: str, address: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "TEMPORAL_ADDRESS": address, "MOTCUA_TASK_QUEUE": task_queue}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.worker_proc"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


async def test_sigkilled_workers_apply_every_write_once(local_env: WorkflowEnvironment) -> None:
    client = local_env.client
    address = client.service_client.config.target_host
    task_queue = f"crash-{uuid.uuid4()}"
    book = f"crash{uuid.uuid4().hex[:8]}"
    definition = ProcedureDefinition.model_validate(
        {**yaml.safe_load(DEFINITION), "parameters": {"book": book}}
    )
    procedure = CompiledProcedure.of(definition)
    codes = [f"CRASH-{book}-{i}" for i in range(CASES)]

    with worker_process(task_queue, address) as first:
        handles = []
        for i, code in enumerate(codes):
            start = CaseStart(
                dossier_code=code, procedure=procedure, dossier={"pid": f"00120300012{i}"}
            )
            handles.append(
                await client.start_workflow(
                    ProcedureWorkflow.run,
                    start,
                    id=code,
                    task_queue=task_queue,
                    search_attributes=initial_search_attributes(code, definition.id),
                )
            )
        # Every case has written and is still inside the activity: kill the worker now.
        await eventually(
            lambda: asyncio.to_thread(register.ledger, f"{book}-a"),
            lambda rows: len(rows) == CASES,
            timeout=timedelta(seconds=60),  # a cold worker process needs a few seconds
        )
        kill(first)

    with worker_process(task_queue, address) as second:
        # The activities time out and run again on the new worker; the register replays.
        for handle in handles:
            await state_when(
                handle,
                lambda s: s.status == CaseStatus.waiting_officer,
                timeout=timedelta(seconds=60),
            )
        kill(second)  # ...and now kill it while every case waits for an officer

    with worker_process(task_queue, address):
        for handle in handles:
            await handle.execute_update(
                ProcedureWorkflow.decide,
                DecideInput(
                    step_id="review",
                    action="approve",
                    role="officer",
                    agency="UBND-00001",
                    actor="cb01",
                ),
            )
        results = [await handle.result() for handle in handles]

    assert [r.status for r in results] == [CaseStatus.completed] * CASES
    first_book = register.ledger(f"{book}-a")
    second_book = register.ledger(f"{book}-b")
    assert sorted(e.idempotency_key for e in first_book) == sorted(
        f"{code}:first_write" for code in codes
    )
    assert sorted(e.idempotency_key for e in second_book) == sorted(
        f"{code}:second_write" for code in codes
    )
    # The first write really ran more than once (it was cut off by the kill), yet the
    # register holds one entry per case. The lost attempt was noticed by its missing
    # heartbeat (seconds), not by its 300 s timeout.
    history = await handles[0].fetch_history()
    retried = [
        e.activity_task_started_event_attributes
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
        and e.activity_task_started_event_attributes.attempt >= 2
    ]
    assert retried, "the killed attempt was never retried"
    cause = retried[0].last_failure.timeout_failure_info.timeout_type
    assert cause == TimeoutType.TIMEOUT_TYPE_HEARTBEAT
