"""The process-control sheet of an integrated bundle (liên thông), from its members' hand-offs.

A bundle's own case holds no officer tasks: each member case (birth registration at the
commune people's committee, permanent residence at the commune police, the child's card at
provincial social insurance) holds its own. So the bundle's sheet is the one-stop desk's
reception, then the bundle's own hand-offs (if its definition has tasks) and every member's,
in time order, each row naming its member procedure and its agency in words
(motcua.paperwork.agencies). A member's first hand-off is from the desk that received the
bundle; each next from the holder before it in that member.

The member states are data (`members`: the bundle's step id -> that member case's state),
so the sheet is built without a server; the caller asks each member workflow
(`<bundle code>.<step id>`) for its `state`, and may name the procedures in words
(motcua.paperwork.titles). A member listed in the bundle's `children` whose state the
caller could not read is named in `missing`, not silently left out. A member that is
itself a bundle shows its own hand-offs only (none, usually).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from pydantic import Field

from motcua.activities.calendar import WorkingCalendar, get_calendar
from motcua.cases.labels import STATUS_VI
from motcua.paperwork.agencies import agency_name
from motcua.paperwork.control_sheet import RECEPTION, ControlSheet, SheetRow, sheet_rows
from motcua.workflows.contracts import CaseState

DESK = "Bộ phận Một cửa"
FILED = {"online": "Công dân (nộp hồ sơ trực tuyến)"}
FILED_AT_DESK = "Công dân (nộp hồ sơ tại Bộ phận Một cửa)"
RECEIVED = "Tiếp nhận hồ sơ liên thông"


class BundleSheetRow(SheetRow):
    member: str = Field(description="The bundle's step that started the member; '' for its own")
    member_code: str = Field(description="The dossier code of the case the row belongs to")
    procedure_id: str
    procedure_title: str = Field(description="The procedure's title, or its id if unknown")
    agency_name: str = Field(description="The agency in words (its code if it has none)")

    def extra(self) -> list[tuple[str, str]]:
        return [("Thủ tục", self.procedure_title)]


class BundleControlSheet(ControlSheet):
    rows: Sequence[BundleSheetRow] = Field(default_factory=list)
    members: dict[str, str] = Field(
        default_factory=dict, description="The bundle's step id -> its member's status"
    )
    missing: list[str] = Field(
        default_factory=list, description="Members started whose state was not given"
    )

    def extra(self) -> list[tuple[str, str]]:
        parts = [
            f"{self.dossier_code}.{step} ({STATUS_VI.get(status, status)})"
            + (" - chưa đọc được trạng thái" if step in self.missing else "")
            for step, status in self.members.items()
        ]
        return [("Hồ sơ thành phần", "; ".join(parts) or "chưa có")]


def receiving_agency(dossier_code: str) -> str:
    """The agency code a dossier code starts with (UBND-00070 of UBND-00070-261123-0001),
    or '' for a code of another shape."""
    from motcua.dossier_codes import parse

    parsed = parse(dossier_code)
    return parsed.agency if parsed else ""


def build_bundle_control_sheet(
    bundle: CaseState,
    members: Mapping[str, CaseState],
    calendar: WorkingCalendar | None = None,
    now: datetime | None = None,
    *,
    titles: Mapping[str, str] | None = None,
) -> BundleControlSheet:
    """The sheet of `bundle` from its own rows and its `members`' (step id -> state), in
    time order after the reception row; `titles` (procedure id -> title) names the
    procedures (default: their ids); `now` classes open steps as `build_control_sheet`.
    ValueError if a member's state belongs to another case or to no step of the bundle."""
    cal = calendar or get_calendar()
    titles = titles or {}
    for step, member in members.items():
        if step not in bundle.children or member.dossier_code != f"{bundle.dossier_code}.{step}":
            raise ValueError(
                f"member '{step}' ({member.dossier_code}) is not a member of bundle "
                f"{bundle.dossier_code} (its members: {', '.join(bundle.children) or 'none'}); "
                "pass each member case's state under the bundle's step id that started it"
            )
    code = receiving_agency(bundle.dossier_code)
    desk = f"{DESK} ({agency_name(code)})" if code else RECEPTION
    own = ("", bundle)
    cases = [own, *((s, members[s]) for s in bundle.children if s in members)]
    rows = [_reception(bundle, code, desk, titles)]
    for step, case in cases:
        title = titles.get(case.procedure_id, case.procedure_id)
        for row in sheet_rows(case, cal, now, first_from=desk, agency_label=agency_name):
            rows.append(
                BundleSheetRow(
                    **row.model_dump(),
                    member=step,
                    member_code=case.dossier_code,
                    procedure_id=case.procedure_id,
                    procedure_title=title,
                    agency_name=agency_name(row.agency) if row.agency else "",
                )
            )
    rows.sort(key=lambda r: r.handed_at)  # stable: the reception, then the bundle, by member
    for no, row in enumerate(rows, start=1):
        row.no = no
    return BundleControlSheet(
        dossier_code=bundle.dossier_code,
        procedure_id=bundle.procedure_id,
        status=bundle.status.value,
        received_at=bundle.started_at,
        due_at=bundle.due_at,
        rows=rows,
        calendar_version=cal.version,
        members=dict(bundle.children),
        missing=[s for s in bundle.children if s not in members],
    )


def _reception(
    bundle: CaseState, code: str, desk: str, titles: Mapping[str, str]
) -> BundleSheetRow:
    """Row 1: the citizen hands the dossier to the desk of the agency that received it."""
    return BundleSheetRow(
        no=1,
        step_id="reception",
        handed_from=FILED.get(bundle.channel, FILED_AT_DESK),
        handed_to=desk,
        role="reception",
        agency=code,
        handed_at=bundle.started_at,
        closed_at=bundle.started_at,
        result=RECEIVED,
        timing="no_deadline",
        member="",
        member_code=bundle.dossier_code,
        procedure_id=bundle.procedure_id,
        procedure_title=titles.get(bundle.procedure_id, bundle.procedure_id),
        agency_name=agency_name(code) if code else "",
    )
