"""Test samples: records of each kind from the sandbox's current state, so tests and
scenarios never hard-code a personal id or a registration number (docs/sandbox-api.md).

`samples(sb, count, kinds)` gives up to `count` records of each kind asked for (every kind
by default), in generation order: the same seed gives the same samples on any day. A record
a test uses up (a mother whose child is registered, a cancelled registration) leaves its
list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from motcua.sandbox.civil_register import Registration
from motcua.sandbox.data import age_on
from motcua.sandbox.state import Sandbox

PEOPLE = (
    "adult_with_household",
    "adult_without_household",
    "married",
    "unmarried_men",
    "unmarried_women",
    "under_age_men",
    "under_age_women",
    "child_under_6",
    "child_6_or_older",
    "dead",
)
HEALTH = ("mother_with_birth_certificate", "dead_with_death_notice", "death_notice_pending")
REGISTRATIONS = (
    "birth_registration",
    "marriage_registration",
    "death_registration",
    "paper_registration",
)
KINDS = (*PEOPLE, *HEALTH, *REGISTRATIONS, "household")


class Picker:
    """Up to `count` records of each wanted kind."""

    def __init__(self, count: int, kinds: Iterable[str]) -> None:
        self.count = count
        self.out: dict[str, list[Any]] = {k: [] for k in kinds}

    def wants(self, group: tuple[str, ...]) -> bool:
        return any(len(self.out.get(k, ())) < self.count for k in group if k in self.out)

    def add(self, kind: str, item: Any) -> None:
        got = self.out.get(kind)
        if got is not None and len(got) < self.count:
            got.append(item)


def samples(sb: Sandbox, count: int, kinds: Iterable[str] = KINDS) -> dict[str, list[Any]]:
    """Up to `count` records of each of `kinds` (names from KINDS), in generation order."""
    pick = Picker(count, kinds)
    if pick.wants(PEOPLE):
        people(sb, pick)
    if pick.wants(HEALTH):
        health_records(sb, pick)
    if pick.wants(REGISTRATIONS):
        registrations(sb, pick)
    if pick.wants(("household",)):
        for household in sb.world.households.values():
            if len(household.members) >= 2:
                pick.add("household", household.household_id)
    return pick.out


def people(sb: Sandbox, pick: Picker) -> None:
    world, today = sb.world, sb.today()
    carded = {c["child_pid"] for c in sb.cards.values() if c["status"] == "active"}
    for c in world.citizens.values():
        if not c.alive:
            pick.add("dead", c.pid)
            continue
        age = age_on(c.birth_date, today)
        spouse = world.citizens.get(c.spouse_pid or "")
        is_married = spouse is not None and spouse.alive
        if age >= 18:
            pick.add("adult_with_household" if c.household_id else "adult_without_household", c.pid)
        if is_married and c.sex == "male" and spouse is not None:
            pick.add("married", {"husband_pid": c.pid, "wife_pid": spouse.pid})
        if not is_married and c.sex == "male" and age >= 16:
            pick.add("unmarried_men" if age >= 20 else "under_age_men", c.pid)
        if not is_married and c.sex == "female" and age >= 14:
            pick.add("unmarried_women" if age >= 18 else "under_age_women", c.pid)
        if age < 6 and c.pid not in carded:
            pick.add("child_under_6", c.pid)
        elif 6 <= age < 16:
            pick.add("child_6_or_older", c.pid)


def health_records(sb: Sandbox, pick: Picker) -> None:
    world = sb.world
    for cert in world.birth_certificates.values():
        mother = world.citizens.get(cert.mother_pid)
        if cert.certificate_no not in sb.certificates_used and mother and mother.alive:
            pick.add(
                "mother_with_birth_certificate",
                {
                    "mother_pid": cert.mother_pid,
                    "father_pid": cert.father_pid,
                    "certificate_no": cert.certificate_no,
                    "commune_code": mother.commune_code,
                },
            )
    for notice in world.death_notices.values():
        person = world.citizens.get(notice.pid)
        if person is None:
            continue
        kind = "death_notice_pending" if person.alive else "dead_with_death_notice"
        pick.add(
            kind,
            {
                "pid": notice.pid,
                "notice_no": notice.notice_no,
                "death_date": notice.death_date.isoformat(),
                "commune_code": person.commune_code,
            },
        )


def registrations(sb: Sandbox, pick: Picker) -> None:
    """Registrations that stand: not cancelled; a birth of a living citizen; a marriage of
    two living spouses still married to each other."""
    for reg in sb.registrations.values():
        if not pick.wants(REGISTRATIONS):
            return
        if reg.cancelled or not stands(sb, reg):
            continue
        item = registration_sample(reg)
        pick.add(f"{reg.kind}_registration", item)
        if item["paper"]:
            pick.add("paper_registration", item)


def stands(sb: Sandbox, reg: Registration) -> bool:
    people = sb.world.citizens
    if reg.kind == "birth":
        child = people.get(reg.subject_pids[0])
        return child is not None and child.alive
    if reg.kind == "marriage":
        husband, wife = (people.get(pid) for pid in reg.subject_pids)
        return (
            husband is not None
            and wife is not None
            and husband.alive
            and wife.alive
            and husband.spouse_pid == wife.pid
        )
    return True


def registration_sample(reg: Registration) -> dict[str, Any]:
    """What a scenario reads: `samples.birth_registration[0].registration_no`, …"""
    item = {
        **reg.as_json(),
        "registered_on": reg.registered_at.date().isoformat(),
        "commune_code": reg.commune_code,
        "paper": "/" in reg.registration_no,
    }
    if reg.kind == "marriage":
        item["husband_pid"], item["wife_pid"] = reg.subject_pids
    else:
        item["pid"] = reg.subject_pids[0]
    return item
