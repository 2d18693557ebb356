"""Moments relative to the run ("next working day 09:00"), their place in scenario files,
and the sandbox world that stays the same on any day."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from motcua.activities.calendar import get_calendar
from motcua.sandbox import geo
from motcua.sandbox.data import age_on, generate
from motcua.simulate import ScenarioError, load_scenario
from motcua.simulate.moments import MomentError, parse_moment
from motcua.simulate.runner import run_scenario

VN = ZoneInfo("Asia/Ho_Chi_Minh")
CAL = get_calendar()


def at(text: str, now: datetime) -> datetime:
    return parse_moment(text).resolve(now, CAL)


# Fixed reference clocks are fine here: these are pure calendar facts about known days,
# and nothing starts a case on them.
WEDNESDAY = datetime(2026, 12, 2, 10, 0, tzinfo=VN)
THU_BEFORE_NEW_YEAR = datetime(2026, 12, 31, 16, 0, tzinfo=VN)  # Friday 1/1/2027 is a holiday


def test_next_working_day_skips_weekends_and_holidays() -> None:
    assert at("next working day 09:00", WEDNESDAY) == datetime(2026, 12, 3, 9, 0, tzinfo=VN)
    assert at("the next working day at 09:00", THU_BEFORE_NEW_YEAR) == datetime(
        2027, 1, 4, 9, 0, tzinfo=VN
    )


def test_weekdays_plain_and_working() -> None:
    assert at("a Friday at 14:59", THU_BEFORE_NEW_YEAR) == datetime(2027, 1, 1, 14, 59, tzinfo=VN)
    assert at("next working Friday 14:59", THU_BEFORE_NEW_YEAR) == datetime(
        2027, 1, 8, 14, 59, tzinfo=VN
    )
    assert at("NEXT monday 8:00", WEDNESDAY) == datetime(2026, 12, 7, 8, 0, tzinfo=VN)


def test_tet_and_offsets() -> None:
    # The 2027 break starts Thursday 4 February (29 Tết); the calendar says so, not this test.
    start = CAL.tet_starts(2027)
    assert start == date(2027, 2, 4) and not CAL.is_working_day(start)
    assert at("next Tết 10:00", WEDNESDAY).date() == start
    assert at("3 working days before the next Tết holiday at 08:00", WEDNESDAY) == datetime(
        2027, 2, 1, 8, 0, tzinfo=VN
    )
    assert at("Monday before next Tet 09:00", WEDNESDAY).date() == date(2027, 2, 1)
    assert at("2 days after next working day 09:00", WEDNESDAY).date() == date(2026, 12, 5)


def test_a_moment_is_always_ahead_of_the_clock() -> None:
    # On the Monday before Tết, at 10:00, "Monday before next Tết 09:00" is already past: the
    # next year's break is meant.
    monday = datetime(2027, 2, 1, 10, 0, tzinfo=VN)
    assert at("Monday before next Tết 09:00", monday).year == 2028
    now = datetime(2026, 12, 4, 8, 0, tzinfo=VN)  # a Friday morning
    for text in ("next working day 07:00", "next Friday 07:00", "next Tết 00:00"):
        assert at(text, now) > now


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("tomorrow 09:00", "cannot read 'tomorrow 09:00' as a time"),
        ("next working day", "next working day 09:00"),  # no time: the examples say how
        ("next working day 24:00", "24:00 is not a time of day"),
        ("next Fryday 09:00", "'next working Friday 14:59'"),
    ],
)
def test_unreadable_moments_say_what_would_do(text: str, says: str) -> None:
    with pytest.raises(MomentError) as info:
        parse_moment(text)
    assert says in str(info.value)


SCENARIO = """\
name: Thử
procedure: procedure_defs/examples/every_step.yaml
start: {{at: {at}}}
input: {{full_name: Nguyễn Văn A}}
expect: {{status: completed}}
"""


def write(tmp_path: Path, at_text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(at=at_text), encoding="utf-8")
    return path


def test_scenario_reads_relative_and_absolute_starts(tmp_path: Path) -> None:
    assert load_scenario(write(tmp_path, "next working day 09:00")).start.at == (
        "next working day 09:00"
    )
    absolute = load_scenario(write(tmp_path, '"2027-03-01T09:00:00+07:00"')).start.at
    assert absolute == datetime(2027, 3, 1, 9, 0, tzinfo=VN)


def test_scenario_with_an_unreadable_start_is_located(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, "the day after tomorrow"))
    [line] = str(info.value).splitlines()
    assert ":3:" in line and "E004" in line and "cannot read 'the day after tomorrow'" in line


async def test_a_past_date_is_refused_with_how_to_write_it(tmp_path: Path) -> None:
    yesterday = (datetime.now(VN) - timedelta(days=1)).replace(microsecond=0)
    report = await run_scenario(write(tmp_path, f'"{yesterday.isoformat()}"'))
    [failure] = report.failures()
    assert "is already past" in failure.detail
    assert "`at: next working day 09:00`" in failure.detail


def test_the_sandbox_world_is_the_same_people_on_any_day() -> None:
    places = geo.load()

    def people(today: date) -> list[tuple[object, ...]]:
        world = generate(42, 500, today, places)
        return [
            (c.full_name, c.sex, age_on(c.birth_date, today), c.alive, bool(c.email), c.phone)
            for c in world.citizens.values()
        ] + [
            ((today - b.birth_date).days, b.mother_pid[6:])
            for b in world.birth_certificates.values()
        ]

    first = people(date(2026, 12, 1))
    for other in (date(2027, 2, 1), date(2028, 2, 29), date(2029, 12, 29)):
        assert people(other) == first, other
