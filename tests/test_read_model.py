"""The read model (motcua.readmodel), on SQLite and on a throwaway PostgreSQL database:
projections keyed by case and revision, written by the cases themselves, and rebuilt from
Temporal to the same rows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select
from temporalio.testing import WorkflowEnvironment

from motcua import db
from motcua.readmodel import projection
from motcua.readmodel.rebuild import rebuild
from motcua.readmodel.tables import PROJECTED, DecisionView, DossierView, TaskView
from motcua.workflows.contracts import (
    CaseState,
    CaseStatus,
    DecideInput,
    Decision,
    OpenTask,
    Projection,
    TaskRecord,
)
from motcua.workflows.procedure import ProcedureWorkflow
from tests.helpers import compiled, eventually, new_worker, start_case

NOW = datetime.now(UTC).replace(microsecond=0)

REVIEWED = compiled(
    "read_model",
    """
steps:
  - id: review
    task: {role: officer, agency: UBND-001, actions: [approve, reject], sla: {working_days: 2}}
  - id: check
    task: {role: officer, agency: UBND-001, actions: [approve]}
""",
)


def _state(decisions: int, status: CaseStatus = CaseStatus.waiting_officer) -> CaseState:
    open_task = OpenTask(
        step_id="review", role="officer", agency="UBND-001", actions=["approve"], opened_at=NOW
    )
    made = [
        Decision(
            step_id="review", action="approve", role="officer", agency="UBND-001",
            actor="cb01", at=NOW + timedelta(minutes=n),
        )
        for n in range(decisions)
    ]  # fmt: skip
    return CaseState(
        dossier_code="T00.1-RM-1",
        procedure_id="vn.test.read_model",
        procedure_version=1,
        definition_hash="ab" * 32,
        status=status,
        started_at=NOW,
        due_at=NOW + timedelta(days=3),
        open_tasks=[open_task],
        tasks=[TaskRecord(step_id="review", role="officer", agency="UBND-001", opened_at=NOW)],
        decisions=made,
    )


def _count(table: Any, code: str) -> int:
    with db.session() as s:
        return len(list(s.exec(select(table).where(col(table.dossier_code) == code))))


def test_a_projection_counts_once_and_never_goes_back(database: str) -> None:
    assert projection.write(Projection(revision=2, state=_state(1)))
    # Retried (the same revision) or late (an older one): nothing changes.
    assert not projection.write(Projection(revision=2, state=_state(1)))
    assert not projection.write(Projection(revision=1, state=_state(0)))
    assert _count(DecisionView, "T00.1-RM-1") == 1
    assert projection.write(Projection(revision=3, state=_state(2, CaseStatus.completed)))
    assert _count(DecisionView, "T00.1-RM-1") == 2
    with db.session() as s:
        row = s.get(DossierView, "T00.1-RM-1")
        assert row is not None and row.status == "completed" and row.revision == 3
        task = s.exec(select(TaskView)).one()
        assert task.is_open and task.actions == "approve" and task.agency == "UBND-001"


def _rows(code: str) -> dict[str, list[dict[str, Any]]]:
    """Every projected row of case `code`, as plain values (datetimes in UTC)."""
    out: dict[str, list[dict[str, Any]]] = {}
    with db.session() as s:
        for table in PROJECTED:
            found = s.exec(select(table).where(col(table.dossier_code) == code)).all()
            out[table.__tablename__] = sorted(
                (
                    {
                        k: db.utc(v) if isinstance(v, datetime) else v
                        for k, v in r.model_dump().items()
                    }
                    for r in found
                ),
                key=lambda row: (row.get("n", 0), row.get("step_id", "")),
            )
    return out


async def _decide(handle: Any, step: str, action: str) -> None:
    await handle.execute_update(
        ProcedureWorkflow.decide,
        DecideInput(step_id=step, action=action, role="officer", agency="UBND-001", actor="cb01"),
    )


async def test_cases_write_their_rows_and_a_rebuild_writes_the_same(
    database: str, local_env: WorkflowEnvironment
) -> None:
    client = local_env.client
    worker = new_worker(client)
    async with worker:
        handle = await start_case(client, worker, REVIEWED, {"pid": "001090000001"})
        code = handle.id

        def open_steps() -> list[str]:
            with db.session() as s:
                query = select(TaskView.step_id).where(
                    col(TaskView.dossier_code) == code, col(TaskView.is_open)
                )
                return list(s.exec(query))

        async def probe() -> list[str]:
            return await db.run_sync(open_steps)

        # The task is in the read model when the case has opened it: no polling of Temporal.
        assert await eventually(probe, lambda steps: steps == ["review"]) == ["review"]
        await _decide(handle, "review", "approve")
        # The decide Update returns once the case has written what it changed.
        assert open_steps() == ["check"]
        await _decide(handle, "check", "approve")
        await handle.result()

        live = _rows(code)
        dossier = live["rm_dossier"][0]
        assert dossier["status"] == "completed" and dossier["closed_at"] is not None
        assert [d["step_id"] for d in live["rm_decision"]] == ["review", "check"]
        assert [t["action"] for t in live["rm_task"]] == ["approve", "approve"]

        with db.session() as s:
            projection.forget(s, code)
            s.commit()
        report = await rebuild(client, f'WorkflowId = "{code}"')
        assert (report.cases, report.written, report.unanswered) == (1, 1, [])
        assert _rows(code) == live

        # The same from the terminal.
        with db.session() as s:
            projection.forget(s, code)
            s.commit()
        from click.testing import CliRunner

        from motcua.cli import main

        address = client.service_client.config.target_host
        args = ["rebuild-read-model", "--query", f'WorkflowId = "{code}"', "--address", address]
        result = await asyncio.to_thread(CliRunner().invoke, main, args)
        assert result.exit_code == 0, result.output
        assert result.output.strip() == "1 cases listed, 1 projected, 0 removed, 0 did not answer"
        assert _rows(code) == live
