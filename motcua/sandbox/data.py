"""The synthetic population: citizens, households, birth certificates and death notices.

`generate(seed, citizens, today)` is a pure function of its arguments: the same seed,
size and reference date give the same data. Every date is placed a fixed number of days
before `today`, clear of birthdays, so another `today` gives the same people with the same
ages, names and records, their dates moved with the day: a scenario that picks
`samples.married[2]` gets the same person whatever day it runs.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from itertools import accumulate
from typing import Literal

from motcua.sandbox import vocab
from motcua.sandbox.geo import OLD_PROVINCE_CODES, POPULATION_WEIGHT, PREDECESSORS, Geography

VN_TZ = timezone(timedelta(hours=7), "ICT")  # Vietnam has no daylight saving time
Sex = Literal["male", "female"]
NATIONALITY = "Việt Nam"


def century_sex_digit(year: int, sex: str) -> str:
    """G of a personal id: 0/1 for 1900s male/female, 2/3 for 2000s, 4/5 for 2100s, …"""
    century = year // 100 - 19
    if not 0 <= century <= 4:
        raise ValueError("birth year outside 1900–2399")
    return str(century * 2 + (1 if sex == "female" else 0))


def make_pid(ppp: str, birth_date: date, sex: str, serial: int) -> str:
    """Personal id `PPP G YY NNNNNN` (12 digits, no check digit)."""
    g = century_sex_digit(birth_date.year, sex)
    return f"{ppp}{g}{birth_date.year % 100:02d}{serial:06d}"


def pid_matches(pid: str, birth_date: date, sex: str) -> bool:
    """Whether `pid` has the structure of a personal id for that birth date and sex."""
    return (
        len(pid) == 12
        and pid.isdigit()
        and pid[:3] in OLD_PROVINCE_CODES
        and pid[3] == century_sex_digit(birth_date.year, sex)
        and pid[4:6] == f"{birth_date.year % 100:02d}"
    )


DAYS_PER_YEAR = 365.2425


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def age_on(birth: date, day: date) -> int:
    """Age in full years on `day`."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def ascii_slug(text: str) -> str:
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if ch.isascii() and ch.isalnum()).lower()


@dataclass(slots=True)
class Citizen:
    pid: str
    full_name: str
    birth_date: date
    sex: Sex
    ethnicity: str
    nationality: str
    street: str
    commune_code: str
    household_id: str | None
    phone: str | None = None
    email: str | None = None
    alive: bool = True
    death_date: date | None = None
    spouse_pid: str | None = None
    mother_pid: str | None = None
    father_pid: str | None = None
    residence_status: Literal["registered", "deregistered"] | None = None


@dataclass(slots=True)
class Household:
    household_id: str
    head_pid: str
    members: list[str]
    street: str
    commune_code: str


@dataclass(frozen=True, slots=True)
class BirthCertificate:
    """Giấy chứng sinh: issued by the hospital, not yet a registration."""

    certificate_no: str
    mother_pid: str
    father_pid: str | None  # not on the certificate: what the samples suggest for tests
    birth_date: date
    sex: Sex
    place_of_birth: str
    issued_by: str
    issued_at: datetime


@dataclass(frozen=True, slots=True)
class DeathNotice:
    """Giấy báo tử."""

    notice_no: str
    pid: str
    death_date: date
    place_of_death: str
    issued_by: str


@dataclass
class World:
    seed: int
    today: date
    citizens: dict[str, Citizen] = field(default_factory=dict)
    households: dict[str, Household] = field(default_factory=dict)
    birth_certificates: dict[str, BirthCertificate] = field(default_factory=dict)
    death_notices: dict[str, DeathNotice] = field(default_factory=dict)
    phones: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)


def hospital(geo: Geography, province_code: str, rng: random.Random) -> str:
    province = geo.provinces[province_code]
    special = {
        "01": ("Bệnh viện Phụ sản Hà Nội", "Bệnh viện Phụ sản Trung ương", "Bệnh viện Bạch Mai"),
        "79": ("Bệnh viện Từ Dũ", "Bệnh viện Hùng Vương", "Bệnh viện Nhân dân 115"),
    }.get(province_code)
    if special and rng.random() < 0.7:
        return rng.choice(special)
    level = "tỉnh" if province.division_type == "tỉnh" else "thành phố"
    return f"Bệnh viện Đa khoa {level} {province.short_name}"


class _Generator:
    def __init__(self, seed: int, size: int, today: date, geo: Geography) -> None:
        self.rng = random.Random(seed)
        self.size = size
        self.geo = geo
        self.world = World(seed=seed, today=today)
        self.province_codes = sorted(geo.provinces)
        self.province_cum = list(accumulate(POPULATION_WEIGHT[c] for c in self.province_codes))
        self.family_cum = list(accumulate(vocab.FAMILY_WEIGHTS))
        self.household_seq = 0

    # -- people ---------------------------------------------------------------------------
    def family_name(self, south: bool) -> str:
        name = self.rng.choices(vocab.FAMILY_NAMES, cum_weights=self.family_cum)[0]
        return vocab.SOUTHERN.get(name, name) if south else name

    def birth_date(self, age: int) -> date:
        # A whole number of days before `today`, at least 3 days clear of a birthday: the
        # same seed then gives the same people with the same ages on any `today` (leap days
        # move an anniversary by at most one day), so scenarios pass on any day.
        days = round(age * DAYS_PER_YEAR) + self.rng.randint(3, 360)
        return self.world.today - timedelta(days=days)

    def pid(self, ppp: str, birth: date, sex: str) -> str:
        while True:
            pid = make_pid(ppp, birth, sex, self.rng.randrange(1_000_000))
            if pid not in self.world.citizens:
                return pid

    def phone(self) -> str:
        while True:
            number = self.rng.choice(vocab.MOBILE_PREFIXES) + f"{self.rng.randrange(10**7):07d}"
            if number not in self.world.phones:
                self.world.phones.add(number)
                return number

    def email(self, family: str, given: str, birth: date) -> str:
        base = f"{ascii_slug(given)}.{ascii_slug(family)}{birth.year % 100:02d}"
        domain = self.rng.choice(vocab.EMAIL_DOMAINS)
        address, n = f"{base}@{domain}", 1
        while address in self.world.emails:
            n += 1
            address = f"{base}{n}@{domain}"
        self.world.emails.add(address)
        return address

    def person(
        self,
        sex: Sex,
        age: int,
        family: str,
        home: tuple[str, str, str, str],  # province, commune, street, household id
        ethnicity: str,
        mother: Citizen | None = None,
        father: Citizen | None = None,
    ) -> Citizen:
        rng = self.rng
        province, commune, street, household_id = home
        birth = self.birth_date(age)
        young = age < 37  # born in 1990 or later, counted from 2026 (naming fashions)
        if sex == "male":
            middles = vocab.MALE_MIDDLE_YOUNG if young else vocab.MALE_MIDDLE_OLD
            given = rng.choice(vocab.MALE_GIVEN)
        else:
            middles = vocab.FEMALE_MIDDLE_YOUNG if young else vocab.FEMALE_MIDDLE_OLD
            given = rng.choice(vocab.FEMALE_GIVEN)
        middle = rng.choice(middles)
        if rng.random() < 0.12 and young:  # two middle names: Nguyễn Ngọc Bảo Anh
            middle = f"{middle} {rng.choice(middles)}" if middle != "Thị" else middle
        full_name = f"{family} {middle} {given}"
        local = rng.random() < (0.9 if mother else 0.75)
        ppp = rng.choice(PREDECESSORS[province]) if local else rng.choice(OLD_PROVINCE_CODES)
        citizen = Citizen(
            pid=self.pid(ppp, birth, sex),
            full_name=full_name,
            birth_date=birth,
            sex=sex,
            ethnicity=ethnicity,
            nationality=NATIONALITY,
            street=street,
            commune_code=commune,
            household_id=household_id or None,
            phone=self.phone() if age >= 15 and rng.random() < 0.92 else None,
            email=self.email(family, given, birth) if age >= 18 and rng.random() < 0.55 else None,
            mother_pid=mother.pid if mother else None,
            father_pid=father.pid if father else None,
            residence_status="registered" if household_id else None,
        )
        self.world.citizens[citizen.pid] = citizen
        return citizen

    def street(self, commune_code: str, province: str) -> str:
        rng = self.rng
        commune = self.geo.communes[commune_code]
        if commune.division_type == "phường":
            return f"Số {rng.randint(1, 300)}, đường {rng.choice(vocab.STREETS)}"
        if province in ("04", "08", "11", "12", "14", "15") and rng.random() < 0.5:
            return f"Bản {rng.choice(vocab.HAMLET_NAMES)}"
        if int(province) >= 75 and rng.random() < 0.7:
            return f"Ấp {rng.choice(vocab.HAMLET_NAMES)}"
        return f"Thôn {rng.randint(1, 12)}"

    # -- households ---------------------------------------------------------------------
    def household(self) -> None:
        rng, world = self.rng, self.world
        room = self.size - len(world.citizens)
        province = rng.choices(self.province_codes, cum_weights=self.province_cum)[0]
        commune = rng.choice(self.geo.communes_by_province[province]).code
        street = self.street(commune, province)
        south = int(province) >= 46
        names, weights = vocab.ETHNICITY_BY_PROVINCE.get(province, vocab.ETHNICITY_DEFAULT)
        ethnicity = rng.choices(names, weights)[0]
        registered = rng.random() >= 0.01  # a few adults live without a registered household
        self.household_seq += 1
        household_id = f"HK{province}{self.household_seq:08d}" if registered else ""
        home = (province, commune, street, household_id)
        members: list[Citizen] = []
        roll = rng.random()
        if roll < 0.68 and room >= 2:
            husband_age = 21 + int(rng.betavariate(1.5, 2.2) * 60)
            wife_age = max(18, husband_age - rng.randint(-2, 7))
            husband = self.person("male", husband_age, self.family_name(south), home, ethnicity)
            wife = self.person("female", wife_age, self.family_name(south), home, ethnicity)
            husband.spouse_pid, wife.spouse_pid = wife.pid, husband.pid
            members += [husband, wife]
            for _ in range(rng.choices((0, 1, 2, 3), (0.15, 0.3, 0.4, 0.15))[0]):
                child_age = wife_age - rng.randint(19, 40)
                if 0 <= child_age <= 28 and len(world.citizens) < self.size:
                    sex: Sex = rng.choice(("male", "female"))
                    child = self.person(
                        sex, child_age, husband.full_name.split()[0], home, ethnicity, wife, husband
                    )
                    members.append(child)
            elder_age = husband_age + rng.randint(22, 35)
            if rng.random() < 0.18 and elder_age <= 98 and len(world.citizens) < self.size:
                sex = rng.choice(("male", "female"))
                family = husband.full_name.split()[0] if sex == "male" else self.family_name(south)
                elder = self.person(sex, elder_age, family, home, ethnicity)
                husband.mother_pid = elder.pid if sex == "female" else None
                husband.father_pid = elder.pid if sex == "male" else None
                members.append(elder)
        elif roll < 0.9 or room < 2:
            sex = rng.choice(("male", "female"))
            members.append(
                self.person(sex, rng.randint(18, 85), self.family_name(south), home, ethnicity)
            )
        else:
            mother = self.person(
                "female", rng.randint(22, 50), self.family_name(south), home, ethnicity
            )
            members.append(mother)
            family = self.family_name(south)
            for _ in range(rng.randint(1, 2)):
                child_age = rng.randint(0, 15)
                if child_age <= age_on(mother.birth_date, world.today) - 19:
                    if len(world.citizens) < self.size:
                        sex = rng.choice(("male", "female"))
                        members.append(self.person(sex, child_age, family, home, ethnicity, mother))
        if household_id:
            world.households[household_id] = Household(
                household_id=household_id,
                head_pid=members[0].pid,
                members=[m.pid for m in members],
                street=street,
                commune_code=commune,
            )

    # -- health records and deaths ------------------------------------------------------
    def deaths(self) -> None:
        rng, world = self.rng, self.world
        today = world.today
        people = list(world.citizens.values())
        old = [c for c in people if age_on(c.birth_date, today) >= 50]
        wanted = max(3, round(len(people) * 0.012))
        rng.shuffle(old)
        dead: list[Citizen] = []
        for c in old:
            if len(dead) >= wanted:
                break
            if rng.random() < (age_on(c.birth_date, today) - 40) / 60:
                dead.append(c)
        for i, c in enumerate(dead):
            recent = i < max(3, wanted // 3)
            days_ago = rng.randint(1, 300) if recent else rng.randint(1, 1800)
            c.alive = False
            c.death_date = today - timedelta(days=days_ago)
            if days_ago <= 365:
                self.death_notice(c, c.death_date)
        # Notices the hospitals issued for deaths not yet registered: still alive on record.
        pending = [
            c for c in old if c.alive and c.household_id and age_on(c.birth_date, today) >= 60
        ]
        for c in pending[: max(3, len(people) // 1000)]:
            self.death_notice(c, today - timedelta(days=rng.randint(1, 10)))

    def death_notice(self, c: Citizen, death_date: date) -> None:
        rng, world = self.rng, self.world
        province = self.geo.communes[c.commune_code].province_code
        issued_by = hospital(self.geo, province, rng)
        if rng.random() < 0.3:
            commune = self.geo.communes[c.commune_code]
            issued_by = f"Trạm Y tế {commune.name}"
            place = f"Tại nhà, {c.street}, {commune.name}"
        else:
            place = issued_by
        no = f"GBT-{province}-{death_date.year}-{len(world.death_notices) + 1:06d}"
        world.death_notices[no] = DeathNotice(no, c.pid, death_date, place, issued_by)

    def birth_certificates(self) -> None:
        rng, world = self.rng, self.world
        today = world.today
        mothers = [
            c
            for c in world.citizens.values()
            if c.sex == "female" and c.alive and 20 <= age_on(c.birth_date, today) <= 40
        ]
        count = min(len(mothers), max(3, len(world.citizens) // 400))
        for i, mother in enumerate(mothers[:: max(1, len(mothers) // count)][:count]):
            born = today - timedelta(days=rng.randint(0, 30))
            province = self.geo.communes[mother.commune_code].province_code
            issued_by = hospital(self.geo, province, rng)
            issued_day = min(today, born + timedelta(days=rng.randint(0, 2)))
            issued_at = datetime.combine(issued_day, time(rng.randint(7, 16), 0), VN_TZ)
            father = world.citizens.get(mother.spouse_pid or "")
            no = f"GCS-{province}-{born.year}-{i + 1:06d}"
            short = self.geo.provinces[province].short_name
            place = issued_by if short in issued_by else f"{issued_by}, {short}"
            world.birth_certificates[no] = BirthCertificate(
                certificate_no=no,
                mother_pid=mother.pid,
                father_pid=father.pid if father and father.alive else None,
                birth_date=born,
                sex=rng.choice(("male", "female")),
                place_of_birth=place,
                issued_by=issued_by,
                issued_at=issued_at,
            )


def generate(seed: int, citizens: int, today: date, geo: Geography) -> World:
    """A population of exactly `citizens` people (at least 2), reproducible from the seed."""
    if citizens < 2:
        raise ValueError("the sandbox needs at least 2 citizens")
    g = _Generator(seed, citizens, today, geo)
    while len(g.world.citizens) < citizens:
        g.household()
    g.deaths()
    g.birth_certificates()
    return g.world
