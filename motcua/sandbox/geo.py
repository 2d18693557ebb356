"""Provinces and communes of Vietnam's two-level local government (from 1 July 2025).

The 34 provinces and 3,321 communes (xã, phường, đặc khu) with their official codes and
names come from the `vietnam-provinces` package (data retrieved 2025-10-18). Codes are
rendered as the official fixed-width strings: 2 digits for a province, 5 for a commune.

Personal ids keep the old 63-province birth-registration codes (001–096). Each 2025
province kept the code of one of the provinces merged into it, so `"0" + province code` is
always a valid old code lying inside the new province: that is the PPP the sandbox gives a
child whose birth a commune of that province registers. `PREDECESSORS` lists, for each new
province, the old codes merged into it (Resolution 202/2025/QH15); citizens of the
synthetic population are mostly born in one of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import motcua.places
from motcua.places import Commune, Province

# New province code -> the old (63-province) birth-registration codes merged into it.
PREDECESSORS: dict[str, tuple[str, ...]] = {
    "01": ("001",),
    "04": ("004",),
    "08": ("008", "002"),
    "11": ("011",),
    "12": ("012",),
    "14": ("014",),
    "15": ("015", "010"),
    "19": ("019", "006"),
    "20": ("020",),
    "22": ("022",),
    "24": ("024", "027"),
    "25": ("025", "026", "017"),
    "31": ("031", "030"),
    "33": ("033", "034"),
    "37": ("037", "035", "036"),
    "38": ("038",),
    "40": ("040",),
    "42": ("042",),
    "44": ("044", "045"),
    "46": ("046",),
    "48": ("048", "049"),
    "51": ("051", "062"),
    "52": ("052", "064"),
    "56": ("056", "058"),
    "66": ("066", "054"),
    "68": ("068", "067", "060"),
    "75": ("075", "070"),
    "79": ("079", "074", "077"),
    "80": ("080", "072"),
    "82": ("082", "087"),
    "86": ("086", "083", "084"),
    "91": ("091", "089"),
    "92": ("092", "093", "094"),
    "96": ("096", "095"),
}
OLD_PROVINCE_CODES: tuple[str, ...] = tuple(sorted(c for cs in PREDECESSORS.values() for c in cs))

# Approximate population in millions after the merger: only the weights the synthetic
# population is drawn with.
POPULATION_WEIGHT: dict[str, float] = {
    "01": 8.7, "04": 0.6, "08": 1.9, "11": 0.65, "12": 0.5, "14": 1.3, "15": 1.8,
    "19": 1.8, "20": 0.8, "22": 1.4, "24": 3.6, "25": 4.0, "31": 4.7, "33": 3.6,
    "37": 4.4, "38": 4.3, "40": 3.8, "42": 1.6, "44": 1.9, "46": 1.4, "48": 3.1,
    "51": 2.2, "52": 3.6, "56": 2.2, "66": 3.3, "68": 3.9, "75": 4.5, "79": 14.0,
    "80": 3.3, "82": 4.4, "86": 4.3, "91": 4.9, "92": 4.2, "96": 2.6,
}  # fmt: skip


@dataclass(frozen=True)
class Geography:
    provinces: dict[str, Province]
    communes: dict[str, Commune]
    communes_by_province: dict[str, tuple[Commune, ...]]

    def address(self, street: str, commune_code: str) -> dict[str, str]:
        """The contract's address object for a street in a commune."""
        commune = self.communes[commune_code]
        province = self.provinces[commune.province_code]
        return {
            "street": street,
            "commune_code": commune.code,
            "commune_name": commune.name,
            "province_code": province.code,
            "province_name": province.name,
        }


@lru_cache(maxsize=1)
def load() -> Geography:
    places = motcua.places.load()
    by_province: dict[str, tuple[Commune, ...]] = {code: () for code in places.provinces}
    for commune in sorted(places.communes.values(), key=lambda c: c.code):
        by_province[commune.province_code] += (commune,)
    if set(places.provinces) != set(PREDECESSORS):
        raise RuntimeError("vietnam-provinces data does not match the 34 provinces of 2025")
    return Geography(places.provinces, places.communes, by_province)
