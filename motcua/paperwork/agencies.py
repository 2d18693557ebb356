"""An agency code as people read it: `UBND-00001` -> "Ủy ban nhân dân phường Hoàn Kiếm,
thành phố Hà Nội".

The definitions route a task to `<kind>-<place code>` (`UBND-` the people's committee,
`CA-` the police, `BHXH-` social insurance; the place a commune's 5 digits or a province's
2), and each names the same agency on its one-stop paperwork in words (`agency_title`,
`'Công an ' ~ place_name`, `'Bảo hiểm xã hội ' ~ place_name`). A bundle's control sheet
crosses several agencies, so it shows the words; the words are pinned data
(motcua.places), so the same code always reads the same. A code of another shape (a test
agency, a ministry) is shown as it is: a sheet never fails over a name.
"""

from __future__ import annotations

from motcua.places import place_name

KIND_VI = {
    "UBND": "Ủy ban nhân dân",
    "CA": "Công an",
    "BHXH": "Bảo hiểm xã hội",
}


def agency_name(code: str) -> str:
    """The agency's Vietnamese name, or `code` itself when it is not `<kind>-<place code>`."""
    kind, _, place = code.partition("-")
    head = KIND_VI.get(kind)
    if head is None or not place.isdigit():
        return code
    try:
        return f"{head} {place_name(place)}"
    except ValueError:  # not a commune or province code
        return code
