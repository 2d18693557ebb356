"""The civil-status register (hộ tịch): its entries, and the ones already in it when the
sandbox starts, for the births, marriages and deaths of the synthetic population.

Every citizen's birth was registered, every couple's marriage and every recorded death.
Registrations older than `PAPER_DAYS` come from the paper books, numbered as the books
number them, entry and year: "12/2001". Newer ones are in the electronic register, numbered
as the sandbox numbers new registrations (`KS.<commune>.<year>.<serial>`); new ones continue
the serials after them.

`existing(world)` is a pure function of the world and draws from its own random stream,
so the people the seed gives are the same as without it. Each date sits a fixed number of
days before the world's `today`, and paper or electronic is decided on that distance, so
the same seed gives the same registrations on any day (their dates, and the year in their
numbers, move with the day). A paper entry number is counted across the whole sandbox, not
per commune book as on paper, so every number is unique.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from motcua.sandbox.data import DAYS_PER_YEAR, VN_TZ, Citizen, World

Kind = Literal["birth", "death", "marriage"]
PREFIX = {"birth": "KS", "death": "KT", "marriage": "KH"}  # khai sinh, khai tử, kết hôn
PAPER_DAYS = round(10 * DAYS_PER_YEAR)  # the electronic register began about ten years ago
LEGAL_AGE_DAYS = {"male": round(20 * DAYS_PER_YEAR), "female": round(18 * DAYS_PER_YEAR)}


@dataclass(slots=True)
class Registration:
    registration_no: str
    kind: Kind
    subject_pids: tuple[str, ...]  # the child, the dead, or husband and wife
    registered_at: datetime
    commune_code: str
    undo: dict[str, Any] | None = None  # what a cancellation restores beyond the obvious
    cancelled: bool = False
    cancel_reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The registry's answer (docs/sandbox-api.md)."""
        return {
            "registration_no": self.registration_no,
            "kind": self.kind,
            "subject_pids": list(self.subject_pids),
            "registered_at": self.registered_at.isoformat(),
            "cancelled": self.cancelled,
        }


def electronic_no(kind: Kind, commune_code: str, year: int, serial: int) -> str:
    """An electronic registration number, as the sandbox gives new registrations."""
    return f"{PREFIX[kind]}.{commune_code}.{year}.{serial:06d}"


def existing(world: World) -> tuple[dict[str, Registration], int]:
    """The registrations already in the register, by number, in generation order; and the
    last electronic serial they use."""
    rng = random.Random(f"{world.seed}/civil-register")
    register: dict[str, Registration] = {}
    paper = electronic = 0
    for kind, subjects, day, commune_code in _events(world, rng):
        slot = int(rng.random() * 36)  # office hours, 07:00 to 15:45, a quarter apart
        at = datetime.combine(day, time(7 + slot // 4, slot % 4 * 15), VN_TZ)
        if (world.today - day).days > PAPER_DAYS:
            paper += 1
            no = f"{paper}/{day.year}"
        else:
            electronic += 1
            no = electronic_no(kind, commune_code, day.year, electronic)
        register[no] = Registration(no, kind, subjects, at, commune_code)
    return register, electronic


def _events(world: World, rng: random.Random) -> Iterator[tuple[Kind, tuple[str, ...], date, str]]:
    today, people = world.today, world.citizens
    eldest: dict[str, date] = {}  # mother's pid -> her eldest child's birth date
    for c in people.values():
        if c.mother_pid and c.birth_date < eldest.get(c.mother_pid, today):
            eldest[c.mother_pid] = c.birth_date
    for c in people.values():
        yield "birth", (c.pid,), _after(c.birth_date, 45, today, rng), c.commune_code
        wife = people.get(c.spouse_pid or "")
        if c.sex == "male" and wife is not None and wife.spouse_pid == c.pid:
            day = _wedding(c, wife, eldest.get(wife.pid, today), today, rng)
            yield "marriage", (c.pid, wife.pid), day, wife.commune_code
    for c in people.values():
        if c.death_date is not None:
            yield "death", (c.pid,), _after(c.death_date, 15, today, rng), c.commune_code


def _after(day: date, within: int, today: date, rng: random.Random) -> date:
    """A day 1 to `within` days after `day`, before today (so never later than now)."""
    return min(today - timedelta(days=1), day + timedelta(days=1 + int(rng.random() * within)))


def _wedding(
    husband: Citizen, wife: Citizen, eldest_child: date, today: date, rng: random.Random
) -> date:
    """A day within ten years of both being of age, before their eldest child if it fits
    (and never after a death or today)."""
    of_age = max(
        husband.birth_date + timedelta(days=LEGAL_AGE_DAYS["male"]),
        wife.birth_date + timedelta(days=LEGAL_AGE_DAYS["female"]),
    )
    ends = [today, eldest_child, husband.death_date or today, wife.death_date or today]
    latest = min(ends) - timedelta(days=1)
    span = min(max(0, (latest - of_age).days), PAPER_DAYS)
    return min(today - timedelta(days=1), of_age + timedelta(days=int(rng.random() * span)))
