"""The programme's measures (the one-stop reform's targets), per procedure, receiving agency
and period, from the read model and the citizens' submissions and ratings.

- online: the share of dossiers filed online (the case's channel);
- on time: the share of closed dossiers closed by their legal deadline;
- processing against the deadline: time taken over time allowed, per closed dossier; the
  target is at least 30% shorter (a ratio of 0.7 or less);
- satisfaction: the share of ratings of 4 or 5 stars (target 95%);
- fields typed after pre-fill, and minutes from opening the form to submitting (target
  under 5), from the online submissions that sent the form's `opened` mark;
- stalled and overdue: open dossiers stalled now, and past their deadline now.

A dossier counts in the period its case started in (Vietnam time), under the agency that
received it (its code's prefix: a bundle's members count under the bundle's agency).
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from sqlmodel import col, select

from motcua import db
from motcua.api.submissions import Rating, Submission
from motcua.dossier_codes import VIETNAM
from motcua.readmodel.projection import OPEN
from motcua.readmodel.tables import DossierView

Period = Literal["month", "quarter", "year"]
SHORTER_BY = 0.30  # processing at least 30% shorter than the legal deadline
SATISFIED_SHARE = 0.95
FORM_MINUTES = 5.0


class Targets(BaseModel):
    processing_ratio_at_most: float = 1 - SHORTER_BY
    satisfaction_at_least: float = SATISFIED_SHARE
    form_minutes_under: float = FORM_MINUTES


class Measure(BaseModel):
    procedure_id: str
    agency: str | None = Field(description="The agency that received the dossiers")
    period: str = Field(description="2026-12, 2026-Q4 or 2026")
    dossiers: int
    online_share: float | None
    closed: int
    on_time_rate: float | None
    processing_ratio_mean: float | None = Field(
        description="Mean of time taken / time the legal deadline allowed, closed dossiers"
    )
    processing_target_share: float | None = Field(
        description="Share of closed dossiers processed at least 30% faster than allowed"
    )
    ratings: int
    satisfaction: float | None = Field(description="Share of ratings of 4 or 5 stars")
    submissions_measured: int = Field(description="Online submissions with form timings")
    typed_fields_mean: float | None
    form_minutes_median: float | None
    form_under_target_share: float | None
    stalled_now: int
    overdue_now: int


class MeasuresReport(BaseModel):
    as_of: datetime
    since: datetime
    until: datetime
    period: Period
    targets: Targets = Targets()
    measures: list[Measure]


@dataclass
class _Group:
    dossiers: int = 0
    online: int = 0
    closed: int = 0
    on_time: int = 0
    ratios: list[float] = field(default_factory=list)
    stars: list[int] = field(default_factory=list)
    typed: list[int] = field(default_factory=list)
    minutes: list[float] = field(default_factory=list)
    stalled: int = 0
    overdue: int = 0


def period_of(moment: datetime, period: Period) -> str:
    local = db.utc(moment).astimezone(VIETNAM)
    if period == "year":
        return f"{local.year}"
    if period == "quarter":
        return f"{local.year}-Q{(local.month - 1) // 3 + 1}"
    return f"{local.year}-{local.month:02d}"


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: list[float] | list[int]) -> float | None:
    return round(statistics.fmean(values), 4) if values else None


def measure(
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    period: Period = "month",
    procedure: str | None = None,
    agency: str | None = None,
) -> MeasuresReport:
    """The measures of the dossiers started in [since, until)."""
    query = select(  # type: ignore[call-overload]  # five columns; sqlmodel types four
        DossierView, Rating.stars, Submission.typed_fields, Submission.form_opened_at,
        Submission.submitted_at,
    )  # fmt: skip
    query = (
        query.outerjoin(Rating, col(Rating.dossier_code) == col(DossierView.dossier_code))
        .outerjoin(Submission, col(Submission.dossier_code) == col(DossierView.dossier_code))
        .where(col(DossierView.started_at) >= since, col(DossierView.started_at) < until)
    )
    if procedure:
        query = query.where(col(DossierView.procedure_id) == procedure)
    if agency:
        query = query.where(col(DossierView.received_by) == agency)
    groups: dict[tuple[str, str | None, str], _Group] = {}
    with db.session() as s:
        for d, stars, typed, opened, submitted in s.exec(query):
            key = (d.procedure_id, d.received_by, period_of(d.started_at, period))
            _count(groups.setdefault(key, _Group()), d, stars, typed, opened, submitted, now)
    ordered = sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2]))
    return MeasuresReport(
        as_of=now, since=since, until=until, period=period,
        measures=[_measure(k, g) for k, g in ordered],
    )  # fmt: skip


def _count(
    g: _Group,
    d: DossierView,
    stars: int | None,
    typed: int | None,
    opened: datetime | None,
    submitted: datetime | None,
    now: datetime,
) -> None:
    g.dossiers += 1
    g.online += d.channel == "online"
    started = db.utc(d.started_at)
    due = db.utc(d.due_at) if d.due_at else None
    if d.closed_at is not None:
        closed = db.utc(d.closed_at)
        g.closed += 1
        if due is not None:
            g.on_time += closed <= due
            if due > started:
                g.ratios.append((closed - started) / (due - started))
    elif d.status in OPEN:  # CaseStatus values are strings
        g.stalled += d.status == "stalled"
        g.overdue += due is not None and due < now
    if stars is not None:
        g.stars.append(stars)
    if typed is not None:
        g.typed.append(typed)
    if opened is not None and submitted is not None:
        g.minutes.append((db.utc(submitted) - db.utc(opened)).total_seconds() / 60)


def _measure(key: tuple[str, str | None, str], g: _Group) -> Measure:
    procedure_id, agency, period = key
    return Measure(
        procedure_id=procedure_id,
        agency=agency,
        period=period,
        dossiers=g.dossiers,
        online_share=_share(g.online, g.dossiers),
        closed=g.closed,
        on_time_rate=_share(g.on_time, g.closed),
        processing_ratio_mean=_mean(g.ratios),
        processing_target_share=_share(sum(r <= 1 - SHORTER_BY for r in g.ratios), len(g.ratios)),
        ratings=len(g.stars),
        satisfaction=_share(sum(s >= 4 for s in g.stars), len(g.stars)),
        submissions_measured=len(g.minutes),
        typed_fields_mean=_mean(g.typed),
        form_minutes_median=round(statistics.median(g.minutes), 2) if g.minutes else None,
        form_under_target_share=_share(sum(m < FORM_MINUTES for m in g.minutes), len(g.minutes)),
        stalled_now=g.stalled,
        overdue_now=g.overdue,
    )


def as_csv(measures: Iterable[Measure]) -> str:
    """One row per procedure, agency and period; empty cells where nothing was measured."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(Measure.model_fields), lineterminator="\n")
    writer.writeheader()
    for m in measures:
        writer.writerow({k: "" if v is None else v for k, v in m.model_dump().items()})
    return out.getvalue()
