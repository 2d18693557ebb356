"""Dossier codes in the one-stop format `<agency code>-<yymmdd>-<daily sequence>`.

Example: `UBND-00001-261123-0042` is the 42nd dossier received by the People's Committee of
commune 00001 on 23/11/2026. The date is the day in Vietnam (Asia/Ho_Chi_Minh), whatever
the machine's time zone; the sequence restarts at 0001 every day for every agency and has
at least four digits (a 10,000th dossier on one day gets `10000`).

The code is the workflow id of the case, so it is shown to citizens, printed on receipts
and typed into Temporal's tools. The agency code therefore names an agency, never a
person: letters, digits, `-` and `.` only, and no run of 9 or more digits (the length of
an identity card, a personal id or a phone number).

The sequence lives in the `dossier_sequence` table (one row per agency and day). Drawing a
number is one atomic statement, `INSERT ... ON CONFLICT DO UPDATE SET last = last + 1
RETURNING last`, on SQLite (3.35+) and PostgreSQL alike: two processes drawing at the same
moment get two different consecutive numbers, and the first draw of a day, when two
processes both try to insert the row, cannot fail. Other databases get an
update-then-insert that retries when it loses the insert race.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel

from motcua.db import get_engine

try:
    from zoneinfo import ZoneInfo

    VIETNAM: tzinfo = ZoneInfo("Asia/Ho_Chi_Minh")
except Exception:  # noqa: BLE001 - no tz database: Vietnam has had UTC+7 without DST since 1975
    VIETNAM = timezone(timedelta(hours=7), "ICT")

AGENCY_PATTERN = re.compile(r"^[A-Z0-9](?:[A-Z0-9.\-]{0,38}[A-Z0-9])?$")
_LONG_DIGITS = re.compile(r"\d{9,}")
CODE_PATTERN = re.compile(r"^(?P<agency>[A-Z0-9][A-Z0-9.\-]*)-(?P<day>\d{6})-(?P<seq>\d{4,})$")
_INSERT_ATTEMPTS = 10


class DossierSequenceRow(SQLModel, table=True):
    __tablename__ = "dossier_sequence"

    agency: str = Field(primary_key=True, max_length=40)
    day: date = Field(primary_key=True)
    last: int = 0


@dataclass(frozen=True)
class DossierCode:
    agency: str
    day: date
    sequence: int

    def __str__(self) -> str:
        return f"{self.agency}-{self.day:%y%m%d}-{self.sequence:04d}"


def agency_problem(agency: str) -> str | None:
    """Why `agency` cannot prefix a dossier code, or None. Never repeats the value."""
    if not AGENCY_PATTERN.match(agency):
        return (
            "an agency code is 1-40 characters: capital letters, digits, '-' or '.', "
            "starting and ending with a letter or digit (e.g. UBND-00001)"
        )
    if _LONG_DIGITS.search(agency):
        return (
            "an agency code may not contain 9 or more digits in a row "
            "(it could be a personal id or a phone number)"
        )
    return None


def today_in_vietnam(now: datetime | None = None) -> date:
    """The calendar day in Vietnam at `now` (default: the current time)."""
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return moment.astimezone(VIETNAM).date()


def next_sequence(agency: str, day: date, *, url: str | None = None) -> int:
    """Draw the next number of `agency`'s sequence for `day` (1 for the first)."""
    problem = agency_problem(agency)
    if problem:
        raise ValueError(problem)
    engine = get_engine(url)
    dialect = engine.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        return _update_or_insert(agency, day, url)
    with engine.begin() as conn:
        return _upsert(conn, dialect, agency, day)


def _upsert(conn: Connection, dialect: str, agency: str, day: date) -> int:
    table = DossierSequenceRow.__table__  # type: ignore[attr-defined]
    insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
    upsert = (
        insert(table)
        .values(agency=agency, day=day, last=1)
        .on_conflict_do_update(
            index_elements=[table.c.agency, table.c.day], set_={"last": table.c.last + 1}
        )
        .returning(table.c.last)
    )
    return int(conn.execute(upsert).scalar_one())


def _update_or_insert(agency: str, day: date, url: str | None) -> int:
    table = DossierSequenceRow.__table__  # type: ignore[attr-defined]
    engine = get_engine(url)
    for _ in range(_INSERT_ATTEMPTS):
        with engine.begin() as conn:
            bumped = conn.execute(
                update(table)
                .where(table.c.agency == agency, table.c.day == day)
                .values(last=table.c.last + 1)
            )
            if bumped.rowcount == 1:
                row = conn.execute(
                    table.select().where(table.c.agency == agency, table.c.day == day)
                ).one()
                return int(row.last)
        try:
            with engine.begin() as conn:
                conn.execute(table.insert().values(agency=agency, day=day, last=1))
            return 1
        except IntegrityError:
            continue  # another process inserted the day's row first: bump it instead
    raise RuntimeError(f"could not draw a dossier number after {_INSERT_ATTEMPTS} attempts")


def next_code(agency: str, *, now: datetime | None = None, url: str | None = None) -> str:
    """A new dossier code for `agency`, e.g. `UBND-00001-261123-0042`."""
    day = today_in_vietnam(now)
    return str(DossierCode(agency, day, next_sequence(agency, day, url=url)))


def parse(code: str) -> DossierCode | None:
    """The parts of a dossier code, or None if `code` is not one (member codes included)."""
    match = CODE_PATTERN.match(code)
    if match is None:
        return None
    try:
        day = datetime.strptime(match["day"], "%y%m%d").date()
    except ValueError:
        return None
    return DossierCode(match["agency"], day, int(match["seq"]))


def agency_for(level: str, dossier: dict[str, object]) -> str | None:
    """The default code prefix for a procedure's `agency` level and dossier, if derivable.

    A commune procedure is received by the commune People's Committee (`UBND-<commune
    code>`), a province procedure by the province's (`UBND-<province code>`).
    """
    key = {"commune": "commune_code", "province": "province_code"}.get(level)
    value = dossier.get(key) if key else None
    if isinstance(value, str) and value.isdigit():
        return f"UBND-{value}"
    return None
