"""Vietnamese working days: deadlines and elapsed time for dossiers and officer steps.

A working day is Monday-Friday, minus public holidays (`holidays.VN`) and the government's
announced extra days off, plus the Saturdays announced as make-up working days. The swaps
live in a versioned data file, `<procedure_dir>/calendars/vn.yaml`, because the holidays
package stops at 2026 and never marks a make-up Saturday as working.

`WorkingCalendar` is pure (no clock, no I/O after loading). The workflow never calls it
directly: it asks the `calendar.*` activities, so the answer is recorded in the history and
a replay never depends on today's file.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import yaml
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator
from temporalio import activity

from motcua.activities.base import ActivityInput
from motcua.settings import get_settings
from motcua.workflows.working_days import CalendarSnapshot

HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
SATURDAY, SUNDAY = 5, 6
MAX_WORKING_DAYS = 1000  # about four years; no procedure has a longer legal deadline
# How far a search for the next working day may run before the data is called absurd.
_MAX_GAP_DAYS = 60


class CalendarFileError(ValueError):
    """The calendar data file is missing or malformed; the message names the file."""


def parse_hhmm(value: str) -> time:
    """'15:00' -> time(15, 0); anything else is refused."""
    if not re.match(HHMM, value):
        raise ValueError(f"expected a local time as HH:MM, got {value!r}")
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


# ---------------------------------------------------------------- the data file


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DayEntry(_Strict):
    date: date
    reason: str = Field(min_length=1)
    source: str = Field(min_length=1)


class OfficeHours(_Strict):
    start: str = Field(pattern=HHMM)
    end: str = Field(pattern=HHMM)

    @model_validator(mode="after")
    def _ordered(self) -> OfficeHours:
        if parse_hhmm(self.start) >= parse_hhmm(self.end):
            raise ValueError(f"office hours start {self.start} is not before end {self.end}")
        return self


class CalendarFile(_Strict):
    """The schema of procedure_defs/calendars/vn.yaml."""

    version: str = Field(min_length=1)
    timezone: str = Field(min_length=1)
    utc_offset: str | None = Field(None, pattern=r"^[+-]([01]\d|2[0-3]):[0-5]\d$")
    office_hours: OfficeHours
    source: list[str] | str
    reviewed_years: list[int] = []
    extra_days_off: list[DayEntry] = []
    working_saturdays: list[DayEntry] = []

    @model_validator(mode="after")
    def _consistent(self) -> CalendarFile:
        problems: list[str] = []
        for i, e in enumerate(self.working_saturdays):
            if e.date.weekday() != SATURDAY:
                problems.append(
                    f"working_saturdays[{i}]: {e.date} is a {e.date:%A}, not a Saturday"
                )
        for i, e in enumerate(self.extra_days_off):
            if e.date.weekday() in (SATURDAY, SUNDAY):
                problems.append(
                    f"extra_days_off[{i}]: {e.date} is a {e.date:%A}; a weekend day is "
                    "already a day off"
                )
        for name, entries in (
            ("extra_days_off", self.extra_days_off),
            ("working_saturdays", self.working_saturdays),
        ):
            seen: set[date] = set()
            for e in entries:
                if e.date in seen:
                    problems.append(f"{name}: {e.date} is listed twice")
                seen.add(e.date)
        both = {e.date for e in self.extra_days_off} & {e.date for e in self.working_saturdays}
        problems += [f"{d} is both an extra day off and a working Saturday" for d in sorted(both)]
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _tz(data: CalendarFile) -> tzinfo:
    try:
        return ZoneInfo(data.timezone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        if data.utc_offset is None:
            raise ValueError(
                f"unknown timezone {data.timezone!r} and no utc_offset fallback"
            ) from err
        sign = -1 if data.utc_offset[0] == "-" else 1
        hours, minutes = data.utc_offset[1:].split(":")
        offset = timedelta(hours=int(hours), minutes=int(minutes))
        return timezone(sign * offset, data.timezone)


def _describe(err: ValidationError) -> str:
    parts = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "(top level)"
        parts.append(f"{where}: {e['msg']}")
    return "; ".join(parts)


# ---------------------------------------------------------------- the calendar


class WorkingCalendar:
    """Working days of Vietnamese state agencies, from holidays.VN plus the data file."""

    def __init__(self, data: CalendarFile, path: Path | None = None) -> None:
        self.data = data
        self.path = path
        self.version = data.version
        self.tz = _tz(data)
        self.office_start = parse_hhmm(data.office_hours.start)
        self.office_end = parse_hhmm(data.office_hours.end)
        self.reviewed_years = frozenset(data.reviewed_years)
        self._extra_off = frozenset(e.date for e in data.extra_days_off)
        self._working_saturdays = frozenset(e.date for e in data.working_saturdays)
        self._holidays: dict[int, frozenset[date]] = {}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, path: Path) -> WorkingCalendar:
        """Read and validate a calendar file; every problem names the file."""
        try:
            raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as err:
            raise CalendarFileError(f"{path}: cannot read calendar file: {err}") from err
        except yaml.YAMLError as err:
            raise CalendarFileError(f"{path}: not valid YAML: {err}") from err
        if not isinstance(raw, dict):
            raise CalendarFileError(f"{path}: expected a mapping at the top level")
        try:
            data = CalendarFile.model_validate(raw)
            return cls(data, path)
        except ValidationError as err:
            raise CalendarFileError(f"{path}: invalid calendar: {_describe(err)}") from err
        except ValueError as err:
            raise CalendarFileError(f"{path}: invalid calendar: {err}") from err

    # ------------------------------------------------------------ days

    def public_holidays(self, year: int) -> frozenset[date]:
        """holidays.VN dates (observed days and the package's swaps included) in `year`."""
        with self._lock:
            found = self._holidays.get(year)
            if found is None:
                # Neighbouring years too, so a day shifted across New Year is not missed.
                vn = holidays.country_holidays("VN", years=range(year - 1, year + 2))
                found = frozenset(d for d in vn if d.year == year)
                self._holidays[year] = found
            return found

    def is_working_day(self, day: date) -> bool:
        if isinstance(day, datetime):
            day = self.local(day).date()
        if day in self._working_saturdays:
            return True
        if day.weekday() in (SATURDAY, SUNDAY) or day in self._extra_off:
            return False
        return day not in self.public_holidays(day.year)

    def next_working_day(self, day: date) -> date:
        """The first working day strictly after `day`."""
        for _ in range(_MAX_GAP_DAYS):
            day += timedelta(days=1)
            if self.is_working_day(day):
                return day
        raise ValueError(f"no working day within {_MAX_GAP_DAYS} days after {day}")

    def previous_working_day(self, day: date) -> date:
        """The last working day strictly before `day`."""
        for _ in range(_MAX_GAP_DAYS):
            day -= timedelta(days=1)
            if self.is_working_day(day):
                return day
        raise ValueError(f"no working day within {_MAX_GAP_DAYS} days before {day}")

    def tet_starts(self, year: int) -> date:
        """The first day off of `year`'s Lunar New Year break: the run of days off around
        mùng 1 Tết (weekends and announced swaps included) begins here."""
        vn = holidays.country_holidays("VN", years=year, language="en_US")
        [new_year] = vn.get_named("Lunar New Year", lookup="exact")
        day = new_year
        while not self.is_working_day(day - timedelta(days=1)):
            day -= timedelta(days=1)
        return day

    # ------------------------------------------------------------ deadlines

    def local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"a timezone-aware datetime is required, got {moment!r}")
        return moment.astimezone(self.tz)

    def day_zero(self, received: datetime, cutoff: time | None = None) -> date:
        """The working day a dossier received at `received` counts from.

        The day it arrives if that is a working day and it arrives before the cut-off (if
        any) and before the end of office hours; otherwise the next working day.
        """
        local = self.local(received)
        day = local.date()
        closes = self.office_end if cutoff is None else min(cutoff, self.office_end)
        if self.is_working_day(day) and local.time() < closes:
            return day
        return self.next_working_day(day)

    def add_working_days(self, start: datetime, days: int, cutoff: time | None = None) -> datetime:
        """End of office hours (local time) on the `days`-th working day after day 0."""
        if days < 0:
            raise ValueError(f"working days must be >= 0, got {days}")
        day = self.day_zero(start, cutoff)
        for _ in range(days):
            day = self.next_working_day(day)
        return self.end_of_day(day)

    def end_of_day(self, day: date) -> datetime:
        return datetime.combine(day, self.office_end, tzinfo=self.tz)

    def working_days_between(self, a: date | datetime, b: date | datetime) -> int:
        """Working days after `a`'s local date up to and including `b`'s; negative if b < a.

        So `working_days_between(day_zero, add_working_days(start, n)) == n`, and two times
        on the same local date are 0 apart.
        """
        start = self.local(a).date() if isinstance(a, datetime) else a
        end = self.local(b).date() if isinstance(b, datetime) else b
        if end < start:
            return -self.working_days_between(end, start)
        count = 0
        day = start
        while day < end:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count


# ---------------------------------------------------------------- loading, cached

_cache: dict[Path, tuple[tuple[int, int], WorkingCalendar]] = {}
_cache_lock = threading.Lock()


def calendar_path() -> Path:
    return get_settings().procedure_dir / "calendars" / "vn.yaml"


def get_calendar(path: Path | None = None) -> WorkingCalendar:
    """The calendar from `path` (default: the configured file), reloaded when it changes."""
    path = (path or calendar_path()).resolve()
    try:
        st = path.stat()
    except OSError as err:
        raise CalendarFileError(f"{path}: cannot read calendar file: {err}") from err
    stamp = (st.st_mtime_ns, st.st_size)
    with _cache_lock:
        hit = _cache.get(path)
        if hit is not None and hit[0] == stamp:
            return hit[1]
    cal = WorkingCalendar.load(path)
    with _cache_lock:
        _cache[path] = (stamp, cal)
    return cal


# ---------------------------------------------------------------- a case's snapshot

# A case counts its working days itself from this window around its start (ADR 0009); a
# deadline beyond it (a case open for years) falls back to the activity.
SNAPSHOT_DAYS_BEFORE = 7
SNAPSHOT_YEARS = 3


def snapshot(start: datetime | None = None, cal: WorkingCalendar | None = None) -> CalendarSnapshot:
    """The calendar a case starting at `start` (default: now) pins in its start input."""
    cal = cal or get_calendar()
    local = cal.local(start or datetime.now(UTC))
    first = local.date() - timedelta(days=SNAPSHOT_DAYS_BEFORE)
    last = first + timedelta(days=366 * SNAPSHOT_YEARS)
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    days_off, saturdays = [], []
    for day in days:
        weekend = day.weekday() in (SATURDAY, SUNDAY)
        if weekend and cal.is_working_day(day):
            saturdays.append(day)
        elif not weekend and not cal.is_working_day(day):
            days_off.append(day)
    offset = local.utcoffset() or timedelta(0)
    return CalendarSnapshot(
        version=cal.version,
        utc_offset_minutes=int(offset.total_seconds() // 60),
        office_end=cal.data.office_hours.end,
        first=first,
        last=last,
        days_off=days_off,
        working_saturdays=saturdays,
    )


# ---------------------------------------------------------------- activities


class DeadlineRequest(ActivityInput):
    start: AwareDatetime = Field(description="When the dossier or step was received")
    working_days: int = Field(ge=0, le=MAX_WORKING_DAYS)
    cutoff: str | None = Field(
        None,
        pattern=HHMM,
        description="Local time (HH:MM) after which a same-day receipt counts from the "
        "next working day, e.g. '15:00'",
    )


class Deadline(BaseModel):
    due: AwareDatetime = Field(description="End of office hours, local time, on due_date")
    due_date: date
    day_zero: date = Field(description="The working day the count started from")
    calendar_version: str


class WorkingDaysRequest(ActivityInput):
    start: AwareDatetime
    end: AwareDatetime


class WorkingDays(BaseModel):
    working_days: int = Field(description="Negative when end is before start")
    calendar_version: str


def _warn_unreviewed(cal: WorkingCalendar, *days: date) -> None:
    years = sorted({d.year for d in days} - cal.reviewed_years)
    if years and activity.in_activity():
        activity.logger.warning(
            "calendar %s has no reviewed swap days for %s; holidays.VN only",
            cal.version,
            ", ".join(map(str, years)),
        )


@activity.defn(name="calendar.add_working_days")
async def add_working_days(request: DeadlineRequest) -> Deadline:
    """The due time of something received at `start` with `working_days` to do it.

    Day 0: a dossier received on a working day before the cut-off (if any) and before the
    end of office hours counts that day as day 0. Received at or after the cut-off, at or
    after the end of office hours, or on a non-working day (weekend, holiday, announced
    extra day off), day 0 is the next working day.
    `working_days=0` is due at the end of office hours on day 0 (the same-day rule);
    N is due at the end of office hours on the N-th working day after day 0.
    `due` is in the calendar's local time (Asia/Ho_Chi_Minh); `calendar_version` names the
    data file version that produced it.
    """
    cal = get_calendar()
    cutoff = parse_hhmm(request.cutoff) if request.cutoff else None
    zero = cal.day_zero(request.start, cutoff)
    due = cal.add_working_days(request.start, request.working_days, cutoff)
    _warn_unreviewed(cal, zero, due.date())
    return Deadline(due=due, due_date=due.date(), day_zero=zero, calendar_version=cal.version)


@activity.defn(name="calendar.working_days_between")
async def working_days_between(request: WorkingDaysRequest) -> WorkingDays:
    """Working days after `start`'s local date up to and including `end`'s local date.

    0 when both fall on the same local date; negative when `end` is before `start`. From a
    deadline's `day_zero` to its `due` this is exactly the deadline's `working_days`, so a
    step finished N working days after day 0 can be classed early / on time / overdue
    against the legal number of days.
    """
    cal = get_calendar()
    n = cal.working_days_between(request.start, request.end)
    _warn_unreviewed(cal, cal.local(request.start).date(), cal.local(request.end).date())
    return WorkingDays(working_days=n, calendar_version=cal.version)


ACTIVITIES: list[Any] = [add_working_days, working_days_between]
