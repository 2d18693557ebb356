"""The scenarios pass on any day: a subset runs on servers whose clocks were first moved to
awkward days (the eve of Tết, a Friday just before the 15:00 cut-off, the year's last days
three years on), and every check must hold there as it does today.

The moments are computed from the real clock and the working-day calendar when the test
runs, never typed in, so the test means the same thing next month as it does today.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from motcua.activities.calendar import get_calendar
from motcua.simulate.moments import parse_moment
from motcua.simulate.runner import SharedRun

ROOT = Path(__file__).resolve().parent.parent
SUBSET = [
    "scenarios/birth/birth_happy.yaml",  # happy path, same-day deadline
    "scenarios/birth/birth_supplement.yaml",  # supplement round, working-day deadline
    "scenarios/birth/residence_deadline.yaml",  # 7 working days, escalation and apology
    "scenarios/birth/bundle_happy.yaml",  # a bundle of three member cases
]


def clock(name: str) -> datetime | None:
    """The moment a server is moved to before the subset runs; None: leave it at now."""
    calendar = get_calendar()
    now = datetime.now(calendar.tz)
    if name == "now":
        return None
    if name == "29 December, three years on":
        return datetime(now.year + 3, 12, 29, 10, 0, tzinfo=calendar.tz)
    return parse_moment(name).resolve(now, calendar)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "name",
    [
        "now",
        "Monday before next Tết 08:00",
        "next Friday 14:59",
        "29 December, three years on",
    ],
)
async def test_scenarios_pass_whatever_the_date(name: str, mail_sink: Path) -> None:
    moved_to = clock(name)
    async with SharedRun(mail_dir=mail_sink, clock=moved_to) as shared:
        failures = []
        for scenario in SUBSET:
            report = await shared.run(ROOT / scenario)
            if not report.passed:
                failures.append(f"{scenario}:\n{report.failure_text()}")
    assert not failures, f"clock moved to {moved_to or 'now'}:\n" + "\n".join(failures)


def test_the_moments_are_where_they_say() -> None:
    """The clocks above really are the awkward days they are named after."""
    calendar = get_calendar()
    tet_eve = clock("Monday before next Tết 08:00")
    friday = clock("next Friday 14:59")
    assert tet_eve is not None and friday is not None
    assert tet_eve.weekday() == 0
    tet = calendar.tet_starts(tet_eve.year)
    assert 0 < (tet - tet_eve.date()).days <= 7
    assert not calendar.is_working_day(tet)
    assert (friday.weekday(), friday.hour, friday.minute) == (4, 14, 59)
