"""The programme's measures (motcua.readmodel.measures), as JSON or CSV.

Who may call: supervisors (their own agency only), auditors and admins (any agency).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import Response

from motcua.api.deps import require
from motcua.api.identity import Principal
from motcua.dossier_codes import VIETNAM
from motcua.readmodel import measures

router = APIRouter(tags=["programme"])
Reader = Annotated[Principal, Depends(require("supervisor", "auditor", "admin"))]
MAX_DAYS = 3 * 366


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(), VIETNAM).astimezone(UTC)


@router.get(
    "/programme/measures",
    response_model=measures.MeasuresReport,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def programme_measures(
    caller: Reader,
    since: Annotated[
        date | None, Query(description="First day (Vietnam); default 90 days ago")
    ] = None,
    until: Annotated[date | None, Query(description="Last day, included; default today")] = None,
    period: Annotated[
        measures.Period, Query(description="Group by month, quarter or year")
    ] = "month",
    procedure: Annotated[str | None, Query(max_length=200, description="Procedure id")] = None,
    agency: Annotated[
        str | None, Query(max_length=200, description="Receiving agency (a supervisor: theirs)")
    ] = None,
    format: Annotated[
        Literal["json", "csv"], Query(description="json, or csv for a spreadsheet")
    ] = "json",
) -> measures.MeasuresReport | Response:
    """Per procedure, receiving agency and period: the share filed online, on-time rate,
    processing time against the legal deadline, satisfaction, fields typed after pre-fill,
    minutes from opening the form to submitting, stalled and overdue now; with the targets."""
    now = datetime.now(UTC)
    today = now.astimezone(VIETNAM).date()
    last = until or today
    first = since or last - timedelta(days=90)
    if first > last:
        raise HTTPException(422, f"since ({first}) is after until ({last})")
    if (last - first).days > MAX_DAYS:
        raise HTTPException(422, f"at most {MAX_DAYS} days at once; ask for a shorter span")
    if caller.role == "supervisor":
        if agency and agency != caller.agency:
            raise HTTPException(403, "a supervisor sees the measures of their own agency only")
        agency = caller.agency
    report = measures.measure(
        since=_start_of(first), until=_start_of(last + timedelta(days=1)), now=now,
        period=period, procedure=procedure, agency=agency,
    )  # fmt: skip
    if format == "csv":
        name = f"measures-{first}-{last}.csv"
        return Response(
            measures.as_csv(report.measures),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return report
