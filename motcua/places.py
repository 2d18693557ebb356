"""Vietnam's provinces and communes (two-level local government, from 1 July 2025).

The 34 provinces and 3,321 communes (xã, phường, đặc khu) with their official codes and
names, from the pinned `vietnam-provinces` package. Codes are the official fixed-width
strings: 2 digits for a province, 5 for a commune. The data is constant for a given
package version (uv.lock pins it), so expressions inside a case may read it: a replay
reads the same names.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True, slots=True)
class Province:
    code: str  # "01"
    name: str  # "Thành phố Hà Nội", "Đồng Tháp"
    division_type: str  # "tỉnh" | "thành phố trung ương"

    @property
    def birth_code(self) -> str:
        """The PPP of the personal ids of children whose birth it registers: each 2025
        province kept the code of one of the provinces merged into it."""
        return "0" + self.code

    @property
    def short_name(self) -> str:  # "Hà Nội"
        return self.name.removeprefix("Thành phố ")

    @property
    def place(self) -> str:
        """As it follows a commune's name: "thành phố Hà Nội", "tỉnh Đồng Tháp"."""
        if self.division_type == "tỉnh":
            return f"tỉnh {self.short_name}"
        return f"thành phố {self.short_name}"


@dataclass(frozen=True, slots=True)
class Commune:
    code: str  # "00070"
    name: str  # "Phường Hoàn Kiếm"
    division_type: str  # "xã" | "phường" | "đặc khu"
    province_code: str

    @property
    def place(self) -> str:
        """Inside a sentence: "phường Hoàn Kiếm" (the division type in lower case)."""
        return self.division_type + self.name[len(self.division_type) :]


@dataclass(frozen=True)
class Places:
    provinces: dict[str, Province]
    communes: dict[str, Commune]


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


@lru_cache(maxsize=1)
def load() -> Places:
    # Imported here: the package's enum modules take ~0.1 s to import, which every CLI
    # command would pay for a filter it does not call.
    from vietnam_provinces import NESTED_DIVISIONS_JSON_PATH

    raw = json.loads(NESTED_DIVISIONS_JSON_PATH.read_text(encoding="utf-8"))
    provinces: dict[str, Province] = {}
    communes: dict[str, Commune] = {}
    for p in raw:
        code = f"{int(p['code']):02d}"
        provinces[code] = Province(code, _nfc(p["name"]), _nfc(p["division_type"]))
        for w in p["wards"]:
            commune = Commune(
                f"{int(w['code']):05d}", _nfc(w["name"]), _nfc(w["division_type"]), code
            )
            communes[commune.code] = commune
    return Places(provinces, communes)


def place_name(code: str) -> str:
    """A commune or province code as a place: "phường Hoàn Kiếm, thành phố Hà Nội" (a
    commune), "tỉnh Đồng Tháp" (a province). ValueError for a code that is neither."""
    places = load()
    text = str(code).strip()
    if text in places.communes:
        commune = places.communes[text]
        return f"{commune.place}, {places.provinces[commune.province_code].place}"
    if text in places.provinces:
        return places.provinces[text].place
    raise ValueError("expected a commune code (5 digits) or a province code (2 digits)")
