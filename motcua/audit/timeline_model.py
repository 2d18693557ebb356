"""The timeline of a case: what an auditor reads of its history, one entry per thing done.

Every entry names the history events it comes from (`event_ids`, Temporal's event ids, so
anyone holding the history can check it) and the step it belongs to (`step_id`, None for
what belongs to the case as a whole, such as its deadline). `run` counts the times a step
ran: a step run again in a supplement round gets its own idempotency key, `…#2`.

Entries are a union told apart by `kind`; JSON with `Timeline.model_dump(mode="json")`.
Hashes are lowercase hexadecimal SHA-256 (motcua.audit.masking.sha256_json); values come
masked unless the timeline says `personal_data`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

ActivityOutcome = Literal["completed", "failed", "timed_out", "canceled", "pending"]


class EntryBase(BaseModel):
    event_ids: list[int] = Field(description="The history events this entry comes from")
    at: datetime = Field(description="When it happened (the first of its events, UTC)")
    step_id: str | None = Field(None, description="The step it belongs to; None: the case's")
    run: int = Field(1, description="Which run of the step (supplement rounds run steps again)")


class ReceivedEntry(EntryBase):
    """The dossier the case started with, as filed (and checked) before the case began."""

    kind: Literal["received"] = "received"
    channel: str | None = Field(None, description="'online' or the one-stop centre")
    dossier: Any = None
    dossier_sha256: str = Field(description="SHA-256 of the canonical JSON of the dossier")


class StepEntry(EntryBase):
    """A step's first or last event in the history. Steps that leave no event (`set`, a
    `switch` itself) have none."""

    kind: Literal["step"] = "step"
    phase: Literal["started", "finished"]
    step_kind: str | None = Field(None, description="call, task, document, notify, procedure…")
    title: str | None = Field(None, description="The step's title in its definition")


class ActivityFacts(EntryBase):
    activity: str = Field(description="The activity's name, as the definition calls it")
    idempotency_key: str | None = Field(None, description="{dossier_code}:{step_id}[#run]")
    request_sha256: str = Field(description="SHA-256 of the canonical JSON of the request")
    answer_sha256: str | None = Field(None, description="The same of the answer, if any")
    attempts: int = Field(0, description="Attempts made (0: never started)")
    outcome: ActivityOutcome
    error: str | None = Field(
        None, description="Why it failed; for one that succeeded, its last retried error"
    )


class CallEntry(ActivityFacts):
    """A call to a registry (population, civil status, residence, social insurance,
    health), the agency's register book, the working-day calendar or any other activity."""

    kind: Literal["call"] = "call"
    system: str = Field(description="What was called: the activity name's first part")
    request: Any = None
    answer: Any = None


class DocumentEntry(ActivityFacts):
    """A document issued (documents.issue), as the activity reported it."""

    kind: Literal["document"] = "document"
    title: str | None = None
    template: str | None = None
    sign_as: str | None = None
    document_sha256: str | None = Field(None, description="SHA-256 of the PDF's bytes")
    document_ref: str | None = None
    size: int | None = None
    verification_code: str | None = None
    signed: bool | None = Field(None, description="True: the PDF carries the agency's signature")
    replayed: bool | None = Field(None, description="True: issued before, under the same key")


class Delivery(BaseModel):
    channel: str
    status: str = Field(description="queued | no_address | sending | sent | failed")
    address: str | None = None
    attempts: int = 0
    error: str | None = None


class NotificationEntry(ActivityFacts):
    """A notification sent (notify.send): to whom, by which channels, and how it went."""

    kind: Literal["notification"] = "notification"
    template: str | None = None
    channels: list[str] = Field(default_factory=list)
    recipient: Any = None
    subject: str | None = None
    deliveries: list[Delivery] = Field(default_factory=list)


class UpdateFacts(EntryBase):
    update_id: str
    error: str | None = Field(None, description="The Update failed after it was accepted")


class DecisionEntry(UpdateFacts):
    """An officer's decision (the `decide` Update)."""

    kind: Literal["decision"] = "decision"
    actor: str
    role: str
    agency: str
    action: str
    comment: str | None = None
    missing: list[str] = Field(default_factory=list, description="For request_supplement")
    form: dict[str, Any] = Field(default_factory=dict)
    decided_at: datetime | None = None


class AssignmentEntry(UpdateFacts):
    """A supervisor gave a task to one officer (the `assign` Update)."""

    kind: Literal["assignment"] = "assignment"
    actor: str
    officer: str
    reason: str | None = None


class SupplementEntry(UpdateFacts):
    """The citizen's supplement (the `supplement` Update): the fields it sent."""

    kind: Literal["supplement"] = "supplement"
    actor: str | None = None
    fields: list[str] = Field(default_factory=list)
    documents: dict[str, Any] = Field(default_factory=dict)
    note: str | None = None


class StallEntry(EntryBase):
    """The case stopped on a step for an officer to retry, provide, skip or abort. From
    the failed call when there is one; otherwise (an expression that failed) from the case's
    status turning `stalled` or from the resume that names the step."""

    kind: Literal["stall"] = "stall"
    activity: str | None = None
    error: str | None = None
    attempts: int | None = None


class ResumeEntry(UpdateFacts):
    """An officer resumed a stalled step (the `resume` Update)."""

    kind: Literal["resume"] = "resume"
    actor: str
    action: str = Field(description="retry | provide | skip | abort")
    reason: str | None = None
    result: Any = Field(None, description="What `provide` gave in the call's place")


class TimerEntry(EntryBase):
    """A wait: a task's deadline, a `wait` step, the apology moment."""

    kind: Literal["timer"] = "timer"
    timer_id: str
    seconds: float
    fires_at: datetime
    outcome: Literal["fired", "canceled", "pending"]


class DeadlineEntry(EntryBase):
    """The case's legal deadline, set at the start or moved (the apology)."""

    kind: Literal["deadline"] = "deadline"
    due_at: datetime


class MemberStatusEntry(EntryBase):
    """A member case told its bundle how it stands (the `member_status` signal)."""

    kind: Literal["member_status"] = "member_status"
    status: str


class MessageEntry(EntryBase):
    """Any other signal or Update the case received (an awaited `event`, say)."""

    kind: Literal["message"] = "message"
    channel: Literal["signal", "update"]
    name: str
    data: Any = None


class CancelRequestEntry(EntryBase):
    kind: Literal["cancel_requested"] = "cancel_requested"
    cause: str | None = None


class EngineErrorEntry(EntryBase):
    """A workflow task failed (the worker's code could not go on; it is retried)."""

    kind: Literal["engine_error"] = "engine_error"
    cause: str
    error: str | None = None


class MemberEntry(EntryBase):
    """A member case of a bundle, started as a child workflow, and how it ended. Its own
    timeline is nested when its history could be fetched."""

    kind: Literal["member"] = "member"
    workflow_id: str
    run_id: str | None = None
    procedure_id: str | None = None
    procedure_version: int | None = None
    definition_hash: str | None = None
    status: str = Field("running", description="The member's outcome (running while open)")
    reason: str | None = None
    output: Any = None
    timeline: Timeline | None = None


class EndEntry(EntryBase):
    """How the case ended."""

    kind: Literal["end"] = "end"
    status: str = Field(description="completed | rejected | aborted | failed | terminated …")
    reason: str | None = None
    code: str | None = Field(None, description="The failure's type, for a failed case")
    output: Any = None


Entry = Annotated[
    ReceivedEntry
    | StepEntry
    | CallEntry
    | DocumentEntry
    | NotificationEntry
    | DecisionEntry
    | AssignmentEntry
    | SupplementEntry
    | StallEntry
    | ResumeEntry
    | TimerEntry
    | DeadlineEntry
    | MemberStatusEntry
    | MessageEntry
    | CancelRequestEntry
    | EngineErrorEntry
    | MemberEntry
    | EndEntry,
    Field(discriminator="kind"),
]


class Timeline(BaseModel):
    dossier_code: str
    workflow_id: str
    run_id: str | None = None
    parent: str | None = Field(None, description="The bundle's dossier code, for a member")
    procedure_id: str | None = None
    procedure_version: int | None = None
    definition_hash: str | None = None
    channel: str | None = None
    status: str = Field(description="The case's status: its end, or the last it showed")
    started_at: datetime
    closed_at: datetime | None = None
    personal_data: bool = Field(description="False: personal data is masked")
    history_events: int
    entries: list[Entry] = Field(default_factory=list)


MemberEntry.model_rebuild()
