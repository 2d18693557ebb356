"""What crosses the twin's boundary (bench/twin.py), and its activity options.

Apart from the workflow module on purpose: the SDK's sandbox runs a workflow's module
again for every workflow it creates (a new case, a replay, a case back in the cache), and
pydantic models defined there would be built again each time. Imported "passed through",
these are built once per worker, as Temporal's documentation advises and as the engine's
own models are (motcua/workflows/contracts.py).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from motcua.workflows.contracts import CaseStatus
from motcua.workflows.working_days import CalendarSnapshot


class BirthInput(BaseModel):
    """What the mother types; the rest is pulled from the registries."""

    dossier_code: str
    mother_pid: str
    birth_certificate_no: str
    child_name: str
    commune_code: str | None = None
    channel: str = "online"
    calendar: CalendarSnapshot | None = None  # the working-day calendar, pinned at the start


class TwinStatus(BaseModel):
    status: CaseStatus
    open_task: str | None = None
    due_at: datetime | None = None


class CallOptions(BaseModel):
    """One activity family's options, as the engine schedules them (its step defaults and
    motcua/activities/profiles.py): seconds per attempt, heartbeat, retry window."""

    timeout: float
    heartbeat: float = 10.0
    window: float


OPTIONS = {
    "calendar": CallOptions(timeout=10, window=600),
    "documents": CallOptions(timeout=60, window=1800),
    "notify": CallOptions(timeout=30, window=3600),
    "registry": CallOptions(timeout=30, window=900),
}
