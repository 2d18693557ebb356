"""Moments written relative to the run: "next working day 09:00", "a Friday at 14:59",
"3 working days before the next Tết at 08:00".

A scenario must pass on any day, so it says when its case starts in words the working-day
calendar understands instead of a date. `parse_moment` reads the words (at load time, so a
typo is reported at its line); `Moment.resolve(now, calendar)` turns them into a time zone
aware datetime strictly after `now`, in the calendar's zone (Vietnam).

    moment   := [offset] anchor ["at"] HH:MM
    anchor   := ["the" | "a" | "an"] ["next"] ( "working day"
                                              | ["working"] WEEKDAY
                                              | "Tết" ["holiday"] )
    offset   := N ("working day" | "day")["s"] ("before" | "after")
              | WEEKDAY "before"

Every anchor names a date strictly after today (the run's date in Vietnam): "next working
day", the next WEEKDAY, the next WEEKDAY that is a working day ("working Friday"), or the
first day off of the next Tết break. If the offset and the time of day put the moment at or
before `now`, the following occurrence of the anchor is taken, so the result always lies
ahead of the clock and a scenario never needs the clock to run backwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from motcua.activities.calendar import WorkingCalendar

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY = "|".join(WEEKDAYS)
_SYNTAX = re.compile(
    rf"""^
    (?:(?P<count>\d+)\s+(?P<unit>working\s+days?|days?)\s+(?P<direction>before|after)\s+
      |(?P<before_weekday>{_WEEKDAY})\s+before\s+)?
    (?:(?:the|an?)\s+)?(?:next\s+)?
    (?P<anchor>working\s+day|(?P<working>working\s+)?(?P<weekday>{_WEEKDAY})|t[eế]t(?:\s+holiday)?)
    \s+(?:at\s+)?(?P<hour>\d{{1,2}}):(?P<minute>\d{{2}})
    $""",
    re.VERBOSE | re.IGNORECASE,
)
EXAMPLES = (
    "'next working day 09:00', 'next working Friday 14:59', "
    "'3 working days before the next Tết at 08:00', 'Monday before next Tết 09:00'"
)
_MAX_OCCURRENCES = 400  # anchors tried before giving up (a year of working days and more)


class MomentError(ValueError):
    """Words that do not describe a moment; the message shows what would."""


@dataclass(frozen=True)
class Moment:
    """A parsed relative moment; `text` is what the analyst wrote."""

    text: str
    anchor: str  # "working day" | "weekday" | "tet"
    weekday: int | None = None
    working: bool = False  # only weekdays that are working days
    count: int = 0
    unit: str = ""  # "working days" | "days" | "" (no offset)
    direction: int = 0  # -1 before, +1 after
    before_weekday: int | None = None
    at: time = time(9, 0)

    def resolve(self, now: datetime, calendar: WorkingCalendar) -> datetime:
        """The first moment matching the words that lies strictly after `now`."""
        today = calendar.local(now).date()
        for anchor in self._anchors(today, calendar):
            moment = datetime.combine(self._shift(anchor, calendar), self.at, tzinfo=calendar.tz)
            if moment > now:
                return moment
        raise MomentError(f"no moment matches '{self.text}' after {now.isoformat()}")

    def _anchors(self, today: date, calendar: WorkingCalendar) -> Iterator[date]:
        if self.anchor == "tet":
            for year in range(today.year, today.year + _MAX_OCCURRENCES):
                start = calendar.tet_starts(year)
                if start > today:
                    yield start
            return
        day = today
        for _ in range(_MAX_OCCURRENCES):
            if self.anchor == "working day":
                day = calendar.next_working_day(day)
            else:
                day += timedelta(days=((self.weekday or 0) - day.weekday()) % 7 or 7)
                if self.working and not calendar.is_working_day(day):
                    continue
            yield day

    def _shift(self, anchor: date, calendar: WorkingCalendar) -> date:
        if self.before_weekday is not None:
            return anchor - timedelta(days=(anchor.weekday() - self.before_weekday) % 7 or 7)
        if self.unit == "days":
            return anchor + timedelta(days=self.direction * self.count)
        day = anchor
        step = calendar.next_working_day if self.direction > 0 else calendar.previous_working_day
        for _ in range(self.count):
            day = step(day)
        return day


def parse_moment(text: str) -> Moment:
    """Read a relative moment; MomentError says what was wrong and shows examples."""
    words = " ".join(text.split())
    found = _SYNTAX.match(words)
    if found is None:
        raise MomentError(
            f"cannot read '{text}' as a time: write a date with its zone "
            f"(2027-03-01T09:00:00+07:00) or a moment relative to the run, e.g. {EXAMPLES}"
        )
    hour, minute = int(found["hour"]), int(found["minute"])
    if hour > 23 or minute > 59:
        raise MomentError(f"'{text}': {found['hour']}:{found['minute']} is not a time of day")
    kind = "weekday" if found["weekday"] else "tet"
    if found["anchor"].lower() == "working day":
        kind = "working day"
    unit = ""
    if found["unit"]:
        unit = "working days" if found["unit"].lower().startswith("working") else "days"
    return Moment(
        text=text,
        anchor=kind,
        weekday=WEEKDAYS.index(found["weekday"].lower()) if found["weekday"] else None,
        working=bool(found["working"]),
        count=int(found["count"] or 0),
        unit=unit,
        direction={"before": -1, "after": 1}.get((found["direction"] or "").lower(), 0),
        before_weekday=(
            WEEKDAYS.index(found["before_weekday"].lower()) if found["before_weekday"] else None
        ),
        at=time(hour, minute),
    )
