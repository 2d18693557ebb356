"""The programme's measures (motcua.readmodel.measures) from known dossiers, on SQLite and
on a throwaway PostgreSQL database, and who may read them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from motcua import db
from motcua.api.app import create_app
from motcua.api.identity import issue_token
from motcua.api.submissions import Rating, Submission
from motcua.readmodel import measures, projection
from motcua.workflows.contracts import CaseState, CaseStatus, Event, Projection

NOW = datetime.now(UTC).replace(microsecond=0)
STARTED = NOW - timedelta(days=10)
AGENCY = "UBND-00001"
PROCEDURE = "vn.test.measures"


def _dossier(n: int, status: CaseStatus, *, channel: str = "online", took: float = 0) -> str:
    """Dossier n, started 10 days ago with 10 days allowed; closed `took` days after it
    started when its status is final."""
    code = f"{AGENCY}-{STARTED:%y%m%d}-{n:04d}"
    events = [Event(at=STARTED, step_id=None, kind="received")]
    if status not in projection.OPEN:
        events.append(Event(at=STARTED + timedelta(days=took), step_id=None, kind=status.value))
    due = (
        STARTED + timedelta(days=10)
        if status != CaseStatus.waiting_officer
        else NOW - timedelta(hours=1)
    )
    state = CaseState(
        dossier_code=code, procedure_id=PROCEDURE, procedure_version=1, definition_hash="0" * 64,
        status=status, started_at=STARTED, due_at=due, events=events, channel=channel,
    )  # fmt: skip
    projection.write(Projection(revision=1, state=state))
    return code


def _seed() -> None:
    fast = _dossier(1, CaseStatus.completed, took=3)  # 30% of the time allowed
    late = _dossier(2, CaseStatus.completed, channel=AGENCY, took=12)  # past its deadline
    _dossier(3, CaseStatus.stalled)
    _dossier(4, CaseStatus.waiting_officer)  # its deadline passed an hour ago
    with db.session() as s:
        s.add(Rating(dossier_code=fast, owner="c1", procedure_id=PROCEDURE, stars=5, rated_at=NOW))
        s.add(Rating(dossier_code=late, owner="c2", procedure_id=PROCEDURE, stars=3, rated_at=NOW))
        s.add(
            Submission(
                owner="c1", idempotency_key="k1", request_mac="m", procedure_id=PROCEDURE,
                dossier_code=fast, claimed_at=STARTED, submitted_at=STARTED,
                typed_fields=3, form_opened_at=STARTED - timedelta(minutes=2),
            )
        )  # fmt: skip
        s.commit()


def test_the_measures_of_known_dossiers(database: str) -> None:
    _seed()
    report = measures.measure(
        since=STARTED - timedelta(days=1), until=NOW + timedelta(days=1), now=NOW
    )
    [m] = report.measures
    assert (m.procedure_id, m.agency, m.dossiers, m.closed) == (PROCEDURE, AGENCY, 4, 2)
    assert (m.online_share, m.on_time_rate) == (0.75, 0.5)
    assert m.processing_ratio_mean == 0.75 and m.processing_target_share == 0.5  # 0.3 and 1.2
    assert (m.ratings, m.satisfaction) == (2, 0.5)
    assert (m.submissions_measured, m.typed_fields_mean, m.form_minutes_median) == (1, 3.0, 2.0)
    assert m.form_under_target_share == 1.0
    assert (m.stalled_now, m.overdue_now) == (1, 1)
    assert report.targets.satisfaction_at_least == 0.95
    other = measures.measure(since=NOW + timedelta(days=1), until=NOW + timedelta(days=2), now=NOW)
    assert other.measures == []


def _bearer(role: str, **claims: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token('u1', role, **claims)}"}


def test_who_reads_the_measures_and_as_what(database: str) -> None:
    _seed()
    with TestClient(create_app(connect_temporal=False)) as http:
        ours = http.get("/programme/measures", headers=_bearer("supervisor", agency=AGENCY))
        assert ours.status_code == 200 and ours.json()["measures"][0]["dossiers"] == 4
        theirs = http.get(
            "/programme/measures", params={"agency": AGENCY},
            headers=_bearer("supervisor", agency="UBND-00002"),
        )  # fmt: skip
        assert theirs.status_code == 403
        sheet = http.get(
            "/programme/measures", params={"format": "csv"}, headers=_bearer("auditor")
        )
        header, row = sheet.text.splitlines()[:2]
        assert header.startswith("procedure_id,agency,period,dossiers,online_share")
        assert row.startswith(f"{PROCEDURE},{AGENCY},")
        backwards = http.get(
            "/programme/measures",
            params={"since": f"{NOW:%Y-%m-%d}", "until": f"{NOW - timedelta(days=31):%Y-%m-%d}"},
            headers=_bearer("admin"),
        )  # fmt: skip
        assert backwards.status_code == 422 and "after until" in backwards.json()["detail"]
        assert http.get("/programme/measures", headers=_bearer("citizen")).status_code == 403
