"""Synthetic cases for the inbox benchmark (bench/inbox_query.py), written through the read
model's own projection code (`motcua.readmodel.projection.apply`), one commit per batch.

Twenty agencies (seventeen communes' People's Committees, three commune police stations),
each with its own procedures and two officer roles. One commune, `BIG`, holds a large share
of the open tasks (the worst inbox); `SMALL` holds a few dozen; the rest share what is left.
Open cases: mostly waiting for an officer, some back with the citizen (a supplement), a
share escalated, a share past their legal deadline, a quarter of the officers' tasks
assigned by a supervisor to one of eight officers, some at their second task with the
first decided; and stalled cases with no open task. Closed cases (completed, rejected,
aborted) with their closed tasks and decisions, so the tables hold more than open work.
No personal data: codes, procedures, roles, officers' ids and times, as the read model.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from motcua import db
from motcua.readmodel import projection
from motcua.workflows.contracts import (
    CaseState,
    CaseStatus,
    Decision,
    Event,
    OpenTask,
    Projection,
    Stall,
    TaskRecord,
)

BIG, SMALL = "UBND-00001", "UBND-00017"
ESCALATE_TO = "commune_chair"
ACTIONS = ["approve", "reject", "request_supplement"]


@dataclass(frozen=True)
class Kind:
    """What an agency of one kind receives: procedures, each with the role that reviews it."""

    procedures: dict[str, str]  # procedure id -> reviewing role


COMMUNE = Kind(
    {
        "vn.birth_registration": "civil_status_officer",
        "vn.death_registration": "civil_status_officer",
        "vn.marriage_registration": "civil_status_officer",
        "vn.certified_copy": "certification_officer",
    }
)
POLICE = Kind(
    {
        "vn.permanent_residence": "police_officer",
        "vn.permanent_residence_deregistration": "police_officer",
        "vn.temporary_residence": "residence_chief",
    }
)
AGENCIES: dict[str, Kind] = {f"UBND-{n:05d}": COMMUNE for n in range(1, 18)} | {
    f"CAX-{n:05d}": POLICE for n in range(1, 4)
}
OFFICER_ROLE = "civil_status_officer"  # the role of the officer whose inbox is measured
OFFICERS = tuple(f"cb.hotich.{k:02d}" for k in range(1, 9))  # whom supervisors assign tasks
OFFICER = OFFICERS[0]  # the officer whose inbox is measured


@dataclass(frozen=True)
class Shape:
    open: int = 10_000
    big: int = 2_000
    small: int = 40
    closed: int = 10_000
    stalled: int = 200


def _agency_of_open(shape: Shape, i: int) -> str:
    if i < shape.big:
        return BIG
    if i < shape.big + shape.small:
        return SMALL
    others = [a for a in AGENCIES if a not in (BIG, SMALL)]
    return others[i % len(others)]


def _code(agency: str, day: datetime, i: int) -> str:
    return f"{agency}-{day:%y%m%d}-{i:05d}"


def _decision(step: str, role: str, agency: str, at: datetime, action: str) -> Decision:
    return Decision(step_id=step, action=action, role=role, agency=agency, actor="cb.01", at=at)


def open_case(shape: Shape, i: int, now: datetime, rng: random.Random) -> CaseState:
    agency = _agency_of_open(shape, i)
    procedure, role = rng.choice(list(AGENCIES[agency].procedures.items()))
    started = now - timedelta(minutes=rng.randrange(1, 8 * 24 * 60))
    overdue = rng.random() < 0.15  # the legal deadline passed; the others' is days ahead
    due = now - timedelta(hours=rng.randrange(1, 120)) if overdue else started + timedelta(days=10)
    tasks: list[TaskRecord] = []
    decisions: list[Decision] = []
    opened = started + timedelta(minutes=rng.randrange(1, 60))
    step = "review"
    if rng.random() < 0.3:  # the first task decided, the case now at its second
        decided = opened + timedelta(hours=rng.randrange(1, 8))
        tasks.append(
            TaskRecord(
                step_id="check",
                role=role,
                agency=agency,
                opened_at=opened,
                due_at=opened + timedelta(days=1),
                closed_at=decided,
                action="approve",
                actor="cb.01",
            )
        )
        decisions.append(_decision("check", role, agency, decided, "approve"))
        opened, step = decided, "review"
    with_citizen = rng.random() < 0.1
    waiting_for = "citizen" if with_citizen else "officer"
    escalated = not with_citizen and rng.random() < 0.05
    assignee = rng.choice(OFFICERS) if not with_citizen and rng.random() < 0.25 else None
    task = OpenTask(
        step_id=step,
        role=role,
        agency=agency,
        actions=[] if with_citizen else ACTIONS,
        opened_at=opened,
        due_at=opened + timedelta(days=2),
        escalated=escalated,
        escalate_to=ESCALATE_TO,
        waiting_for=waiting_for,
        assignee=assignee,
    )
    tasks.append(
        TaskRecord(
            step_id=step,
            role=role,
            agency=agency,
            waiting_for=waiting_for,
            opened_at=opened,
            due_at=task.due_at,
            escalated=escalated,
            assignee=assignee,
        )
    )
    status = CaseStatus.waiting_citizen if with_citizen else CaseStatus.waiting_officer
    return _state(
        _code(agency, started, i), procedure, status, started, due, [task], tasks, decisions
    )


def stalled_case(i: int, now: datetime, rng: random.Random) -> CaseState:
    agency = rng.choice(list(AGENCIES))
    procedure = rng.choice(list(AGENCIES[agency].procedures))
    started = now - timedelta(minutes=rng.randrange(1, 5 * 24 * 60))
    stall = Stall(
        step_id="citizen",
        activity="population.get_citizen",
        error="HTTP 503",
        attempts=5,
        since=started + timedelta(minutes=5),
    )
    state = _state(
        _code(agency, started, i),
        procedure,
        CaseStatus.stalled,
        started,
        started + timedelta(days=7),
        [],
        [],
        [],
    )
    state.stalls.append(stall)
    return state


def closed_case(i: int, now: datetime, rng: random.Random) -> CaseState:
    agency = rng.choice(list(AGENCIES))
    procedure, role = rng.choice(list(AGENCIES[agency].procedures.items()))
    started = now - timedelta(minutes=rng.randrange(21 * 24 * 60, 200 * 24 * 60))
    draw = rng.random()
    status = CaseStatus.completed if draw < 0.85 else CaseStatus.rejected
    status = CaseStatus.aborted if draw > 0.97 else status
    tasks, decisions, at = [], [], started
    for step in ("check", "review")[: rng.choice((1, 2))]:
        opened, at = at + timedelta(minutes=30), at + timedelta(hours=rng.randrange(1, 48))
        action = "reject" if status == CaseStatus.rejected and step == "review" else "approve"
        tasks.append(
            TaskRecord(
                step_id=step,
                role=role,
                agency=agency,
                opened_at=opened,
                due_at=opened + timedelta(days=2),
                closed_at=at,
                action=action,
                actor="cb.02",
            )
        )
        decisions.append(_decision(step, role, agency, at, action))
    state = _state(
        _code(agency, started, i),
        procedure,
        status,
        started,
        started + timedelta(days=7),
        [],
        tasks,
        decisions,
    )
    state.events.append(Event(at=at + timedelta(minutes=5), step_id=None, kind=status.value))
    return state


def _state(
    code: str,
    procedure: str,
    status: CaseStatus,
    started: datetime,
    due: datetime,
    open_tasks: list[OpenTask],
    tasks: list[TaskRecord],
    decisions: list[Decision],
) -> CaseState:
    return CaseState(
        dossier_code=code,
        procedure_id=procedure,
        procedure_version=1,
        definition_hash="5e" * 32,
        status=status,
        started_at=started,
        due_at=due,
        open_tasks=open_tasks,
        tasks=tasks,
        decisions=decisions,
    )


def cases(shape: Shape, now: datetime, seed: int = 13) -> Iterator[CaseState]:
    rng = random.Random(seed)
    for i in range(shape.open):
        yield open_case(shape, i, now, rng)
    for i in range(shape.open, shape.open + shape.stalled):  # i: distinct codes
        yield stalled_case(i, now, rng)
    for i in range(shape.open + shape.stalled, shape.open + shape.stalled + shape.closed):
        yield closed_case(i, now, rng)


def seed(shape: Shape, now: datetime, batch: int = 500) -> float:
    """Write every case of `shape` to the configured database; returns the seconds taken."""
    started = time.perf_counter()
    with db.session() as s:
        pending = 0
        for state in cases(shape, now):
            projection.apply(s, Projection(revision=1, state=state))
            pending += 1
            if pending == batch:
                s.commit()
                s.expunge_all()
                pending = 0
        s.commit()
    return time.perf_counter() - started
