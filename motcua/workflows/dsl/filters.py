"""The filters analysts write in expressions and templates: dates, amounts, places, sex.

One table (FILTERS) serves the expressions (motcua.workflows.dsl.expressions) and the
document and notification templates (motcua.activities.templates), so a filter written in
one works in the other. Each is a pure function of its argument (places come from the pinned
administrative-unit data, motcua.places), so expressions stay replay-safe.

| filter | gives | e.g. |
|---|---|---|
| `vn_date` | the date in Vietnam | `24/11/2026` |
| `vn_long_date` | the date as written in documents | `ngày 24 tháng 11 năm 2026` |
| `vn_datetime` | time and date in Vietnam | `15:30 ngày 24/11/2026` |
| `vnd` | an amount in đồng | `8.000 đ` |
| `place_name` | a commune or province code as a place | `phường Hoàn Kiếm, thành phố Hà Nội` |
| `agency_title` | its people's committee | `Ủy ban nhân dân xã Tân Hòa, tỉnh Đồng Tháp` |
| `vn_sex` | `male` / `female` in Vietnamese | `Nam`, `Nữ` |
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

from motcua import places

# Vietnam keeps +07:00 all year (no daylight saving), so a fixed offset is exact and keeps
# expressions free of the time-zone database inside the workflow.
VN = timezone(timedelta(hours=7), "ICT")
_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def _moment(value: Any, name: str) -> date | datetime | None:
    """A date or datetime from what data holds: a date, a datetime (UTC or aware), ISO
    text, or a date already written dd/mm/yyyy. None for an empty value."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.astimezone(VN) if value.tzinfo else value
    if isinstance(value, date):
        return value
    text = str(value).strip()
    dmy = _DMY.match(text)
    if dmy:
        return date(int(dmy[3]), int(dmy[2]), int(dmy[1]))
    try:
        return _moment(datetime.fromisoformat(text.replace("Z", "+00:00")), name)
    except ValueError:
        pass
    raise ValueError(f"{name} needs a date or a date and time, got text that is neither")


def vn_date(value: Any) -> str:
    """24/11/2026: the calendar date in Vietnam (a UTC moment such as `now` is converted)."""
    moment = _moment(value, "vn_date")
    return "" if moment is None else moment.strftime("%d/%m/%Y")


def vn_long_date(value: Any) -> str:
    """ngày 24 tháng 11 năm 2026."""
    moment = _moment(value, "vn_long_date")
    return "" if moment is None else moment.strftime("ngày %d tháng %m năm %Y")


def vn_datetime(value: Any) -> str:
    """15:30 ngày 24/11/2026 (a date alone gives the date)."""
    moment = _moment(value, "vn_datetime")
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        return moment.strftime("%H:%M ngày %d/%m/%Y")
    return moment.strftime("ngày %d/%m/%Y")


def vnd(amount: Any) -> str:
    """8000 -> 8.000 đ (đồng have no smaller unit: rounded to the đồng)."""
    if amount is None or isinstance(amount, bool):
        raise ValueError("vnd needs an amount in đồng")
    return f"{round(float(amount)):,}".replace(",", ".") + " đ"


def place_name(code: Any) -> str:
    """phường Hoàn Kiếm, thành phố Hà Nội (a commune code); tỉnh Đồng Tháp (a province's)."""
    return places.place_name(str(code))


def agency_title(code: Any) -> str:
    """Ủy ban nhân dân xã Tân Hòa, tỉnh Đồng Tháp: the people's committee of that place."""
    return "Ủy ban nhân dân " + place_name(code)


_SEX = {"male": "Nam", "m": "Nam", "nam": "Nam", "female": "Nữ", "f": "Nữ", "nu": "Nữ", "nữ": "Nữ"}


def vn_sex(value: Any) -> str:
    """male -> Nam, female -> Nữ (anything else is shown as it is)."""
    text = "" if value is None else str(value)
    return _SEX.get(text.strip().lower(), text)


FILTERS: dict[str, Callable[[Any], str]] = {
    "vn_date": vn_date,
    "vn_long_date": vn_long_date,
    "vn_datetime": vn_datetime,
    "vnd": vnd,
    "place_name": place_name,
    "agency_title": agency_title,
    "vn_sex": vn_sex,
}

# Version 1 names of the template filters. Templates written for version 1 still render
# (motcua.activities.templates registers these too); in a definition the validator names
# the new one (E023).
RENAMED = {"date_vn": "vn_date", "long_date_vn": "vn_long_date", "sex_vn": "vn_sex"}
