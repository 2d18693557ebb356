"""Working-day arithmetic inside the case, from a calendar snapshot pinned at its start.

Deadlines used to cost a `calendar.add_working_days` activity each: three history events,
a trip through the task queue and often one more workflow task, for a pure computation.
Instead the case starts with a snapshot of the calendar (`CalendarSnapshot`: the days off
and working Saturdays in a window around its start, the office hours and the offset), taken
by `motcua.activities.calendar.snapshot` when the case is started, and recorded in its start
input. The workflow counts working days from it, so a replay years later gives the same
answers whatever today's calendar file says (ADR 0009).

`add_working_days` here gives exactly what `WorkingCalendar.add_working_days` gives for
every moment inside the window (tests/test_working_days.py checks it day by day), and None
outside it: the case then asks the activity, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone

from pydantic import BaseModel, Field

SATURDAY, SUNDAY = 5, 6


class CalendarSnapshot(BaseModel):
    """The working-day calendar between `first` and `last`, as a case needs it."""

    version: str = Field(description="The calendar file's version that made the snapshot")
    utc_offset_minutes: int = Field(description="Local time's offset (Vietnam: +420, no DST)")
    office_end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    first: date
    last: date
    days_off: list[date] = Field(
        default_factory=list, description="Monday-Friday days that are not working days"
    )
    working_saturdays: list[date] = Field(default_factory=list)


def add_working_days(
    snap: CalendarSnapshot, start: datetime, days: int, cutoff: str | None
) -> datetime | None:
    """End of office hours on the `days`-th working day after day 0, or None when the count
    leaves the snapshot's window."""
    tz = timezone(timedelta(minutes=snap.utc_offset_minutes))
    local = start.astimezone(tz)
    off, saturdays = frozenset(snap.days_off), frozenset(snap.working_saturdays)

    def working(day: date) -> bool:
        if day in saturdays:
            return True
        return day.weekday() not in (SATURDAY, SUNDAY) and day not in off

    def inside(day: date) -> bool:
        return snap.first <= day <= snap.last

    office_end = _hhmm(snap.office_end)
    closes = office_end if cutoff is None else min(_hhmm(cutoff), office_end)
    day = local.date()
    if not inside(day):
        return None
    if not (working(day) and local.time() < closes):
        day = _next(day, working)
    for _ in range(days):
        day = _next(day, working)
    if not inside(day):
        return None
    return datetime.combine(day, office_end, tzinfo=tz)


def _next(day: date, working: Callable[[date], bool]) -> date:
    """The first working day after `day` (past the window every weekday is one)."""
    day += timedelta(days=1)
    while not working(day):
        day += timedelta(days=1)
    return day


def _hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))
