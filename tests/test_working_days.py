"""The case counts working days itself from the calendar pinned at its start (ADR 0009):
the same answers as the calendar activity, and none outside the snapshot's window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from motcua.activities.calendar import get_calendar, parse_hhmm, snapshot
from motcua.workflows.contracts import CaseStatus
from motcua.workflows.working_days import CalendarSnapshot, add_working_days
from tests.helpers import compiled, new_worker, start_case, state_when


@pytest.fixture(scope="module")
def pinned() -> CalendarSnapshot:
    return snapshot(datetime.now(UTC))


@pytest.mark.parametrize("cutoff", [None, "15:00"])
@pytest.mark.parametrize("days", [0, 1, 5, 7, 15, 30])
def test_same_answers_as_the_calendar_through_every_day_of_two_years(
    pinned: CalendarSnapshot, days: int, cutoff: str | None
) -> None:
    """Every day of two years, at times around the cut-off and office hours: Tết, the
    swaps and the make-up Saturdays included."""
    cal = get_calendar()
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for n in range(0, 730, 1 if days in (0, 5) else 3):
        for hour_utc in (1, 7, 8, 9, 10, 17):  # 08:00 … 17:00 and after hours, Vietnam time
            moment = start + timedelta(days=n, hours=hour_utc, minutes=59)
            want = cal.add_working_days(moment, days, parse_hhmm(cutoff) if cutoff else None)
            got = add_working_days(pinned, moment, days, cutoff)
            assert got == want, (moment, days, cutoff)
            assert got is not None and got.isoformat() == want.isoformat()


def test_outside_the_window_there_is_no_answer(pinned: CalendarSnapshot) -> None:
    """A count that leaves the window (a case open for years) goes back to the activity."""
    before = datetime.combine(pinned.first - timedelta(days=1), datetime.min.time(), UTC)
    assert add_working_days(pinned, before, 1, None) is None
    near_end = datetime.combine(pinned.last - timedelta(days=3), datetime.min.time(), UTC)
    assert add_working_days(pinned, near_end, 30, None) is None


def test_the_snapshot_is_small_and_holds_the_swaps(pinned: CalendarSnapshot) -> None:
    cal = get_calendar()
    assert pinned.version == cal.version
    tet = cal.tet_starts(pinned.first.year + 1)  # next year's Tết break, all of it
    break_days = [tet + timedelta(days=n) for n in range(5)]
    assert [d for d in break_days if d.weekday() < 5 and d not in pinned.days_off] == []
    for entry in cal.data.working_saturdays:
        if pinned.first <= entry.date <= pinned.last:
            assert entry.date in pinned.working_saturdays
    assert len(pinned.model_dump_json()) < 2000


async def test_a_case_with_a_snapshot_asks_no_calendar_activity(
    local_env: WorkflowEnvironment,
) -> None:
    """Same deadlines as a case that asks the activity, with fewer events: no activity
    scheduled, no workflow task spent waiting for it."""
    body = """
steps:
  - id: review
    task: {role: officer, agency: UBND-001, actions: [approve], sla: {working_days: 3}}
"""
    procedure = compiled("pinned_calendar", body)
    async with new_worker(local_env.client) as worker:
        asked = await start_case(local_env.client, worker, procedure, {"pid": "001203000123"})
        counted = await start_case(
            local_env.client,
            worker,
            procedure,
            {"pid": "001203000123"},
            calendar=snapshot(datetime.now(UTC)),
        )
        states = [
            await state_when(h, lambda s: s.status == CaseStatus.waiting_officer)
            for h in (asked, counted)
        ]
        histories = [await h.fetch_history() for h in (asked, counted)]
    assert states[1].due_at == states[0].due_at is not None
    assert [t.due_at for t in states[1].open_tasks] == [t.due_at for t in states[0].open_tasks]

    def calendar_calls(history: WorkflowHistory) -> int:
        return sum(
            e.activity_task_scheduled_event_attributes.activity_type.name.startswith("calendar.")
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        )

    assert calendar_calls(histories[0]) == 2  # the case's deadline and the task's
    assert calendar_calls(histories[1]) == 0
    assert len(histories[1].events) < len(histories[0].events) - 6
