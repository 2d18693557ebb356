"""Writing a case's state to the read model: the `readmodel.project` local activity.

Keyed by case and revision (the case's n-th projection): a projection whose revision the
row already has, or passed, changes nothing, so a retried or late one never counts twice.
The case's rows are replaced together in one transaction, from a snapshot of its state:
each projection is complete on its own, and a lost one is repaired by the next.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, delete, select
from temporalio import activity

from motcua import db
from motcua.readmodel.tables import PROJECTED, DecisionView, DossierView, StallView, TaskView
from motcua.workflows.contracts import CaseState, CaseStatus, Projection
from motcua.worklists.listing import received_by

OPEN = frozenset(
    {CaseStatus.running, CaseStatus.waiting_officer, CaseStatus.waiting_citizen, CaseStatus.stalled}
)


def _closed_at(state: CaseState) -> datetime | None:
    if state.status in OPEN:
        return None
    ends = [e.at for e in state.events if e.kind == state.status.value]
    return ends[-1] if ends else (state.events[-1].at if state.events else state.started_at)


def rows(state: CaseState, revision: int) -> list[object]:
    """Every row the read model holds for the case in `state`."""
    open_tasks = {t.step_id: t for t in state.open_tasks}
    agency = state.open_tasks[0].agency if state.open_tasks else None
    out: list[object] = [
        DossierView(
            dossier_code=state.dossier_code,
            procedure_id=state.procedure_id,
            procedure_version=state.procedure_version,
            definition_hash=state.definition_hash,
            parent=state.parent,
            channel=state.channel,
            status=state.status.value,
            agency=agency,
            received_by=received_by(state.dossier_code),
            started_at=state.started_at,
            due_at=state.due_at,
            closed_at=_closed_at(state),
            reason=state.reason,
            revision=revision,
        )
    ]
    for n, record in enumerate(state.tasks):
        live = open_tasks.get(record.step_id) if record.closed_at is None else None
        out.append(
            TaskView(
                dossier_code=state.dossier_code,
                n=n,
                procedure_id=state.procedure_id,
                step_id=record.step_id,
                role=record.role,
                agency=record.agency,
                waiting_for=record.waiting_for,
                actions=",".join(live.actions) if live else "",
                is_open=live is not None,
                opened_at=record.opened_at,
                due_at=record.due_at,
                case_due_at=state.due_at,
                escalated=record.escalated,
                escalate_to=live.escalate_to if live else None,
                closed_at=record.closed_at,
                action=record.action,
                actor=record.actor,
                assignee=record.assignee,
            )
        )
    for n, d in enumerate(state.decisions):
        out.append(
            DecisionView(
                dossier_code=state.dossier_code,
                n=n,
                step_id=d.step_id,
                action=d.action,
                role=d.role,
                agency=d.agency,
                actor=d.actor,
                at=d.at,
            )
        )
    for s in state.stalls:
        out.append(
            StallView(
                dossier_code=state.dossier_code,
                step_id=s.step_id,
                activity=s.activity,
                error=s.error,
                attempts=s.attempts,
                since=s.since,
                skippable=s.skippable,
            )
        )
    return out


def apply(session: Session, projection: Projection, *, force: bool = False) -> bool:
    """Write `projection` unless the case's row already shows it or a later one (`force`:
    write it anyway, as a rebuild does). Returns whether anything was written. The caller
    commits."""
    code = projection.state.dossier_code
    # Lock the case's row (PostgreSQL) so two projections of one case write in turn.
    held = session.exec(
        select(DossierView.revision).where(col(DossierView.dossier_code) == code).with_for_update()
    ).first()
    if held is not None and held >= projection.revision and not force:
        return False
    forget(session, code)
    session.add_all(rows(projection.state, projection.revision))
    return True


def forget(session: Session, code: str) -> None:
    """Remove case `code`'s rows."""
    for table in PROJECTED:
        session.exec(delete(table).where(col(table.dossier_code) == code))


def write(projection: Projection, force: bool = False) -> bool:
    with db.session() as s:
        written = apply(s, projection, force=force)
        s.commit()
        return written


@activity.defn(name="readmodel.project")
async def project(projection: Projection) -> bool:
    """Run by each case as a local activity (motcua.workflows.procedure)."""
    return await db.run_sync(write, projection)


ACTIVITIES = [project]
