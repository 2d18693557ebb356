"""Working days: the calendar class, its data file and the calendar.* activities."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from motcua.activities import calendar as cal_mod
from motcua.activities.calendar import (
    ACTIVITIES,
    CalendarFileError,
    Deadline,
    DeadlineRequest,
    WorkingCalendar,
    WorkingDays,
    WorkingDaysRequest,
    add_working_days,
    get_calendar,
    working_days_between,
)
from motcua.settings import ROOT

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CUTOFF = time(15, 0)
REAL_FILE = ROOT / "procedure_defs" / "calendars" / "vn.yaml"


def at(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=VN)


@cache
def shared_calendar() -> WorkingCalendar:
    return WorkingCalendar.load(REAL_FILE)


@pytest.fixture
def cal() -> WorkingCalendar:
    return shared_calendar()


@pytest.fixture(autouse=True)
def _real_procedure_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOTCUA_PROCEDURE_DIR", str(ROOT / "procedure_defs"))


# ---------------------------------------------------------------- the data file


def test_real_file_loads_and_is_versioned(cal: WorkingCalendar) -> None:
    assert cal.version
    assert str(cal.tz) == "Asia/Ho_Chi_Minh"
    assert (cal.office_start, cal.office_end) == (time(8), time(17))
    assert {2025, 2026} <= cal.reviewed_years
    assert get_calendar() is get_calendar()  # cached


def test_activities_exported() -> None:
    names = sorted(str(activity._Definition.must_from_callable(a).name) for a in ACTIVITIES)
    assert names == ["calendar.add_working_days", "calendar.working_days_between"]


# ---------------------------------------------------------------- days


def test_weekends_are_not_working_days(cal: WorkingCalendar) -> None:
    assert cal.is_working_day(date(2025, 10, 10))  # Friday
    assert not cal.is_working_day(date(2025, 10, 11))  # Saturday
    assert not cal.is_working_day(date(2025, 10, 12))  # Sunday
    # Friday 09:00 + 1 working day -> Monday
    assert cal.add_working_days(at(2025, 10, 10), 1) == datetime(2025, 10, 13, 17, tzinfo=VN)


def test_national_day_and_adjacent_day(cal: WorkingCalendar) -> None:
    # 2025: Sat 30/8 - Tue 2/9 off; Mon 1/9 is the adjacent day.
    assert not cal.is_working_day(date(2025, 9, 1))
    assert not cal.is_working_day(date(2025, 9, 2))
    assert cal.is_working_day(date(2025, 9, 3))
    assert cal.add_working_days(at(2025, 8, 29), 1).date() == date(2025, 9, 3)
    # 2027: Thu 2/9 and Fri 3/9.
    assert not cal.is_working_day(date(2027, 9, 2))
    assert not cal.is_working_day(date(2027, 9, 3))
    assert cal.add_working_days(at(2027, 9, 1), 1).date() == date(2027, 9, 6)


def test_reunification_and_labour_day(cal: WorkingCalendar) -> None:
    # 2026: Thu 30/4 and Fri 1/5.
    assert not cal.is_working_day(date(2026, 4, 30))
    assert not cal.is_working_day(date(2026, 5, 1))
    assert cal.add_working_days(at(2026, 4, 29), 1).date() == date(2026, 5, 4)
    # 2027: 1/5 is a Saturday, observed on Monday 3/5.
    assert not cal.is_working_day(date(2027, 5, 3))
    assert cal.add_working_days(at(2027, 4, 29), 1).date() == date(2027, 5, 4)


def test_tet_2027_inside_a_deadline(cal: WorkingCalendar) -> None:
    for d in range(4, 11):
        assert not cal.is_working_day(date(2027, 2, d)), d
    assert cal.is_working_day(date(2027, 2, 11))
    # Tue 2/2 is day 0; Wed 3/2 is day 1; then Tết; 11, 12, 15, 16, 17, 18/2.
    due = cal.add_working_days(at(2027, 2, 2), 7)
    assert due == datetime(2027, 2, 18, 17, tzinfo=VN)
    assert cal.working_days_between(date(2027, 2, 2), due) == 7


def test_culture_day_2026_is_a_day_off(cal: WorkingCalendar) -> None:
    assert not cal.is_working_day(date(2026, 11, 24))  # Tuesday
    assert cal.is_working_day(date(2026, 11, 23))
    assert cal.add_working_days(at(2026, 11, 23), 1).date() == date(2026, 11, 25)


def test_make_up_saturday_from_the_file_is_a_working_day(cal: WorkingCalendar) -> None:
    assert cal.is_working_day(date(2026, 1, 10))  # Saturday, make-up for Fri 2/1
    assert cal.is_working_day(date(2025, 4, 26))  # Saturday, make-up for Fri 2/5
    assert not cal.is_working_day(date(2026, 1, 17))  # an ordinary Saturday
    # Fri 9/1/2026 + 1 -> Sat 10/1
    assert cal.add_working_days(at(2026, 1, 9), 1).date() == date(2026, 1, 10)
    # Received on the make-up Saturday itself: day 0 is that Saturday.
    assert cal.add_working_days(at(2026, 1, 10, 10), 0).date() == date(2026, 1, 10)


def test_extra_day_off_from_the_file_is_not_a_working_day(cal: WorkingCalendar) -> None:
    assert not cal.is_working_day(date(2026, 1, 2))  # Friday, swapped to Sat 10/1
    # Wed 31/12/2025 + 1 -> 1/1 holiday, 2/1 extra day off, weekend -> Mon 5/1
    assert cal.add_working_days(at(2025, 12, 31), 1).date() == date(2026, 1, 5)
    # Received on the extra day off: day 0 is Monday 5/1.
    assert cal.day_zero(at(2026, 1, 2, 10)) == date(2026, 1, 5)


# ---------------------------------------------------------------- day 0 and the cut-off


def test_cutoff_same_day_rule(cal: WorkingCalendar) -> None:
    # Wednesday 8/10/2025.
    assert cal.add_working_days(at(2025, 10, 8, 14, 59), 0, CUTOFF) == datetime(
        2025, 10, 8, 17, tzinfo=VN
    )
    assert cal.add_working_days(at(2025, 10, 8, 15, 1), 0, CUTOFF) == datetime(
        2025, 10, 9, 17, tzinfo=VN
    )
    assert cal.add_working_days(at(2025, 10, 8, 15, 0), 0, CUTOFF).date() == date(2025, 10, 9)
    # Without a cut-off the same day lasts until office hours end.
    assert cal.add_working_days(at(2025, 10, 8, 16, 59), 0).date() == date(2025, 10, 8)
    assert cal.add_working_days(at(2025, 10, 8, 17, 30), 0).date() == date(2025, 10, 9)
    # Early in the morning (filed online) still counts that day.
    assert cal.add_working_days(at(2025, 10, 8, 6, 0), 0, CUTOFF).date() == date(2025, 10, 8)
    # Friday after the cut-off -> Monday.
    assert cal.add_working_days(at(2025, 10, 10, 15, 1), 0, CUTOFF).date() == date(2025, 10, 13)


def test_received_on_saturday(cal: WorkingCalendar) -> None:
    # Saturday 11/10/2025 morning: day 0 is Monday 13/10.
    sat = at(2025, 10, 11, 9)
    assert cal.day_zero(sat, CUTOFF) == date(2025, 10, 13)
    assert cal.add_working_days(sat, 0, CUTOFF).date() == date(2025, 10, 13)
    assert cal.add_working_days(sat, 7).date() == date(2025, 10, 22)


def test_start_in_another_timezone_is_read_in_local_time(cal: WorkingCalendar) -> None:
    # 08:30 UTC is 15:30 in Hanoi: after the cut-off.
    utc = datetime(2025, 10, 8, 8, 30, tzinfo=UTC)
    assert cal.add_working_days(utc, 0, CUTOFF) == datetime(2025, 10, 9, 17, tzinfo=VN)
    # 20:00 UTC on Tuesday is 03:00 Wednesday in Hanoi.
    late = datetime(2025, 10, 7, 20, 0, tzinfo=UTC)
    assert cal.day_zero(late, CUTOFF) == date(2025, 10, 8)


def test_naive_datetime_is_refused(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.add_working_days(datetime(2025, 10, 8, 9), 1)


# ---------------------------------------------------------------- working_days_between


def test_working_days_between_basics(cal: WorkingCalendar) -> None:
    assert cal.working_days_between(at(2025, 10, 8, 9), at(2025, 10, 8, 16)) == 0
    assert cal.working_days_between(date(2025, 10, 10), date(2025, 10, 13)) == 1
    assert cal.working_days_between(date(2025, 10, 13), date(2025, 10, 10)) == -1
    assert cal.working_days_between(date(2025, 10, 11), date(2025, 10, 12)) == 0


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31)),
    n=st.integers(min_value=0, max_value=60),
    with_cutoff=st.booleans(),
)
def test_between_inverts_add(start: datetime, n: int, with_cutoff: bool) -> None:
    cal = shared_calendar()
    start = start.replace(tzinfo=VN)
    cutoff = CUTOFF if with_cutoff else None
    zero = cal.day_zero(start, cutoff)
    due = cal.add_working_days(start, n, cutoff)
    assert cal.is_working_day(zero)
    assert cal.is_working_day(due.date())
    assert due.timetz().replace(tzinfo=None) == time(17)
    assert cal.working_days_between(zero, due) == n
    # From the receipt itself: one more when day 0 is not the day it arrived.
    assert cal.working_days_between(start, due) == n + (zero != start.date())
    assert cal.working_days_between(due, zero) == -n


# ---------------------------------------------------------------- the activities


async def test_add_working_days_activity_direct() -> None:
    req = DeadlineRequest(
        idempotency_key="X:intake",
        dossier_code="H55.242-251008-0001",
        start=at(2025, 10, 8, 15, 1),
        working_days=0,
        cutoff="15:00",
    )
    out = await add_working_days(req)
    assert isinstance(out, Deadline)
    assert out.due == datetime(2025, 10, 9, 17, tzinfo=VN)
    assert out.due.utcoffset() == timedelta(hours=7)
    assert out.due_date == date(2025, 10, 9)
    assert out.day_zero == date(2025, 10, 9)
    assert out.calendar_version == get_calendar().version


async def test_add_working_days_activity_through_activity_environment() -> None:
    env = ActivityEnvironment()
    # What the workflow sends: UTC time from workflow.now(), as a dict through the converter.
    req = DeadlineRequest.model_validate(
        {"start": "2027-02-02T02:00:00Z", "working_days": 7, "cutoff": None}
    )
    out = await env.run(add_working_days, req)
    assert out.due_date == date(2027, 2, 18)
    assert out.due.isoformat() == "2027-02-18T17:00:00+07:00"


async def test_working_days_between_activity() -> None:
    req = WorkingDaysRequest(start=at(2027, 2, 2), end=at(2027, 2, 18, 17))
    out = await working_days_between(req)
    assert out == WorkingDays(working_days=7, calendar_version=get_calendar().version)
    env_out = await ActivityEnvironment().run(working_days_between, req)
    assert env_out.working_days == 7


def test_request_validation() -> None:
    with pytest.raises(ValueError):
        DeadlineRequest(start=datetime(2025, 10, 8, 9), working_days=1)  # naive
    with pytest.raises(ValueError):
        DeadlineRequest(start=at(2025, 10, 8), working_days=-1)
    with pytest.raises(ValueError):
        DeadlineRequest(start=at(2025, 10, 8), working_days=1, cutoff="3pm")
    with pytest.raises(ValueError):
        DeadlineRequest(start=at(2025, 10, 8), working_days=1, surprise=True)  # type: ignore[call-arg]


# ---------------------------------------------------------------- malformed files


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "calendars" / "vn.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def _good() -> dict[str, object]:
    return yaml.safe_load(REAL_FILE.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("version"), "version"),
        (lambda d: d.update(office_hours={"start": "8am", "end": "17:00"}), "office_hours"),
        (lambda d: d.update(office_hours={"start": "17:00", "end": "08:00"}), "not before"),
        (
            lambda d: d.update(
                working_saturdays=[{"date": date(2026, 1, 9), "reason": "r", "source": "s"}]
            ),
            "not a Saturday",
        ),
        (
            lambda d: d.update(
                extra_days_off=[{"date": date(2026, 1, 10), "reason": "r", "source": "s"}]
            ),
            "weekend",
        ),
        (lambda d: d.update(extra_days_off=[{"date": "2026-13-01"}]), "extra_days_off.0"),
        (lambda d: d.update(unknown_key=1), "unknown_key"),
        (lambda d: d.update(timezone="Mars/Olympus", utc_offset=None), "Mars/Olympus"),
    ],
)
def test_malformed_file_names_file_and_problem(tmp_path: Path, mutate, message: str) -> None:
    data = _good()
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(CalendarFileError) as err:
        WorkingCalendar.load(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_not_yaml_and_missing_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "version: [unclosed\n")
    with pytest.raises(CalendarFileError, match="not valid YAML"):
        WorkingCalendar.load(path)
    with pytest.raises(CalendarFileError, match="cannot read"):
        get_calendar(tmp_path / "nowhere.yaml")


async def test_activity_reports_a_malformed_configured_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, "- just\n- a list\n")
    monkeypatch.setenv("MOTCUA_PROCEDURE_DIR", str(tmp_path))
    with pytest.raises(CalendarFileError, match="vn.yaml: expected a mapping"):
        await add_working_days(DeadlineRequest(start=at(2025, 10, 8), working_days=1))


def test_utc_offset_fallback(tmp_path: Path) -> None:
    data = _good()
    data["timezone"] = "Nowhere/Special"
    cal = WorkingCalendar.load(_write(tmp_path, data))
    assert cal.add_working_days(at(2025, 10, 8), 0).utcoffset() == timedelta(hours=7)


def test_file_change_is_picked_up(tmp_path: Path) -> None:
    data = _good()
    path = _write(tmp_path, data)
    first = get_calendar(path)
    data["version"] = "test-2"
    path.write_text(yaml.safe_dump(data) + "\n# changed\n", encoding="utf-8")
    assert get_calendar(path).version == "test-2"
    assert first.version != "test-2"
    assert cal_mod.calendar_path().name == "vn.yaml"
