"""What crosses the ProcedureWorkflow boundary: start input, Updates, query and result.

These names are an interface for the CLI, the API and Temporal's own tools (see
DESIGN.md, "Names that outside tools rely on").
"""

from __future__ import annotations

import hashlib
import json
import threading  # replay-safe: guards the worker-wide cache of definitions
from collections import OrderedDict
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from motcua.workflows.dsl.model import ProcedureDefinition
from motcua.workflows.working_days import CalendarSnapshot

WORKFLOW_TYPE = "ProcedureWorkflow"
TASK_QUEUE = "motcua"

DOSSIER_CODE = SearchAttributeKey.for_keyword("DossierCode")
PROCEDURE_ID = SearchAttributeKey.for_keyword("ProcedureId")
CASE_STATUS = SearchAttributeKey.for_keyword("CaseStatus")
AGENCY = SearchAttributeKey.for_keyword("Agency")
DUE_AT = SearchAttributeKey.for_datetime("DueAt")
SEARCH_ATTRIBUTES = (DOSSIER_CODE, PROCEDURE_ID, CASE_STATUS, AGENCY, DUE_AT)


def initial_search_attributes(dossier_code: str, procedure_id: str) -> TypedSearchAttributes:
    """What a starter sets, so a case is findable before its first workflow task runs."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(DOSSIER_CODE, dossier_code),
            SearchAttributePair(PROCEDURE_ID, procedure_id),
            SearchAttributePair(CASE_STATUS, "running"),
        ]
    )


class CaseStatus(StrEnum):
    running = "running"
    waiting_officer = "waiting_officer"
    waiting_citizen = "waiting_citizen"
    stalled = "stalled"
    completed = "completed"
    rejected = "rejected"
    aborted = "aborted"
    failed = "failed"


class CompiledProcedure(BaseModel):
    """A validated definition pinned to a case, with its content hash."""

    definition: ProcedureDefinition
    hash: str

    @classmethod
    def of(cls, definition: ProcedureDefinition) -> CompiledProcedure:
        """Pin a definition with the sha256 of its canonical JSON."""
        return cls(definition=definition, hash=hashlib.sha256(canonical(definition)).hexdigest())

    @property
    def ref(self) -> DefinitionRef:
        d = self.definition
        return DefinitionRef(id=d.id, version=d.version, hash=self.hash)


def canonical(definition: ProcedureDefinition) -> bytes:
    """The bytes a definition's hash is taken of (and the definition store keeps)."""
    text = json.dumps(
        definition.model_dump(mode="json"),
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return text.encode()


class DefinitionRef(BaseModel):
    """A definition named by its content hash; the definition itself is in the definition
    store (motcua.activities.definitions), so a bundle's members are stored once (ADR 0012)."""

    id: str
    version: int
    hash: str


# Definitions shared by the cases on this worker, by content hash (the workflow sandbox
# passes this module through, so every case sees one table). Bounded: a worker serving
# many versions keeps the most recent.
_SHARED: OrderedDict[str, CompiledProcedure] = OrderedDict()
SHARED_DEFINITIONS = 256
_SHARED_LOCK = threading.Lock()


def shared(procedure: CompiledProcedure) -> CompiledProcedure:
    """The worker's one copy of `procedure`: thousands of cached cases of one procedure hold
    one definition instead of one each. Only an equal definition is shared (compared, not
    trusted by its hash), so a case runs exactly what its start input says either way."""
    with _SHARED_LOCK:  # workflow tasks run in several threads
        found = _SHARED.get(procedure.hash)
        if found is not None and found.definition == procedure.definition:
            _SHARED.move_to_end(procedure.hash)
            return found
        if found is None:
            _SHARED[procedure.hash] = procedure
            if len(_SHARED) > SHARED_DEFINITIONS:
                _SHARED.popitem(last=False)
        return procedure


class TokenTrust(BaseModel):
    """Whose tokens a case believes (motcua.workflows.tokens): pinned at the start, so the
    case checks an officer's token itself, even against a client that talks to Temporal
    directly. The keys are the issuer's public JWKS at the time the case started."""

    issuer: str
    audience: str
    jwks: dict[str, Any]


class CaseStart(BaseModel):
    """The start input: everything a case needs, so its history is self-contained.

    A case gets its definition in one of two ways: in full (`procedure`), or, for a member of
    a bundle, by reference (`procedure_ref`), which the case fetches from the definition
    store as its first act, so the definition is recorded once in the tree, in the member's
    own history (ADR 0012). A bundle names its members by reference (`member_refs`); cases
    started before that carry them in full (`members`).
    """

    dossier_code: str
    procedure: CompiledProcedure | None = None
    procedure_ref: DefinitionRef | None = None
    members: dict[str, CompiledProcedure] = Field(
        default_factory=dict, description="Child procedures a bundle may start, by id"
    )
    member_refs: dict[str, DefinitionRef] = Field(
        default_factory=dict, description="The same, by reference to the definition store"
    )
    dossier: dict[str, Any] = Field(default_factory=dict)
    channel: str = Field("online", description="'online' or the one-stop centre that received it")
    parent: str | None = None
    calendar: CalendarSnapshot | None = Field(
        None, description="The working-day calendar pinned at the start (ADR 0009)"
    )
    trust: TokenTrust | None = Field(
        None, description="When set, a decision or resume needs a valid token (ADR 0013)"
    )

    @model_validator(mode="after")
    def _one_definition(self) -> CaseStart:
        if (self.procedure is None) == (self.procedure_ref is None):
            raise ValueError("a case start needs exactly one of procedure and procedure_ref")
        return self

    @property
    def pinned(self) -> DefinitionRef:
        """Which definition this case runs, whether it holds it yet or not."""
        if self.procedure is not None:
            return self.procedure.ref
        assert self.procedure_ref is not None
        return self.procedure_ref


class DecideInput(BaseModel):
    step_id: str
    action: str
    role: str
    agency: str
    actor: str
    comment: str = ""
    form: dict[str, Any] = Field(default_factory=dict)
    missing: list[str] = Field(
        default_factory=list, description="For request_supplement: everything missing"
    )
    token: str | None = Field(
        None, description="The officer's bearer token; required by a case that pins `trust`"
    )


class Decision(BaseModel):
    step_id: str
    action: str
    role: str
    agency: str
    actor: str
    comment: str = ""
    form: dict[str, Any] = Field(default_factory=dict)
    missing: list[str] = Field(default_factory=list)
    at: datetime


ResumeAction = Literal["retry", "provide", "skip", "abort"]


class AssignInput(BaseModel):
    """Update `assign`: a supervisor gives an open task to one officer of its agency."""

    step_id: str
    officer: str = Field(description="The officer's account id; the task is theirs to decide")
    actor: str = Field(description="The supervisor who assigns it")
    reason: str = ""
    token: str | None = Field(
        None, description="The supervisor's signed token, for a case that checks tokens"
    )


class ResumeInput(BaseModel):
    step_id: str
    action: ResumeAction
    actor: str
    reason: str
    result: dict[str, Any] | None = None
    token: str | None = Field(
        None, description="The officer's bearer token; required by a case that pins `trust`"
    )


class ResumeRecord(BaseModel):
    step_id: str
    action: ResumeAction
    actor: str
    reason: str
    at: datetime


class SupplementInput(BaseModel):
    step_id: str
    actor: str
    documents: dict[str, Any] = Field(default_factory=dict)
    note: str = ""


class OpenTask(BaseModel):
    step_id: str
    role: str
    agency: str
    actions: list[str]
    opened_at: datetime
    due_at: datetime | None = None
    escalated: bool = False
    escalate_to: str | None = None
    waiting_for: Literal["officer", "citizen"] = "officer"
    supplement_due_at: datetime | None = None
    missing: list[str] = Field(default_factory=list)
    assignee: str | None = Field(None, description="The officer a supervisor assigned it to")


class TaskRecord(BaseModel):
    """One hand-off of the case: to an officer (a task) or back to the citizen (a supplement).
    The process-control sheet is built from these."""

    step_id: str
    role: str
    agency: str
    waiting_for: Literal["officer", "citizen"] = "officer"
    opened_at: datetime
    due_at: datetime | None = None
    closed_at: datetime | None = None
    action: str | None = None
    actor: str | None = None
    escalated: bool = False
    assignee: str | None = None


class Stall(BaseModel):
    step_id: str
    activity: str
    error: str
    attempts: int
    since: datetime
    skippable: bool = False


class Event(BaseModel):
    """One entry of the case's own timeline (what happened, not who the citizen is)."""

    at: datetime
    step_id: str | None
    kind: str
    detail: str = ""


class CaseState(BaseModel):
    dossier_code: str
    procedure_id: str
    procedure_version: int
    definition_hash: str
    status: CaseStatus
    current_steps: list[str] = Field(default_factory=list)
    started_at: datetime
    due_at: datetime | None = None
    open_tasks: list[OpenTask] = Field(default_factory=list)
    tasks: list[TaskRecord] = Field(default_factory=list)
    stalls: list[Stall] = Field(default_factory=list)
    decisions: list[Decision] = Field(default_factory=list)
    resumes: list[ResumeRecord] = Field(default_factory=list)
    children: dict[str, str] = Field(default_factory=dict, description="step id -> status")
    events: list[Event] = Field(default_factory=list)
    problems: list[Event] = Field(
        default_factory=list, description="Errors that did not stop the case (the apology's)"
    )
    reason: str | None = None
    output: dict[str, Any] = Field(default_factory=dict)
    channel: str = Field("online", description="'online' or the one-stop centre that received it")
    parent: str | None = Field(None, description="The bundle's dossier code, for a member case")
    revision: int = Field(
        0, description="How many times the case has been projected to the read model (0: never)"
    )


class Projection(BaseModel):
    """Input of the `readmodel.project` local activity: the case's state as of its
    `revision`-th change that the read model shows (motcua.readmodel). A snapshot, not a
    delta: a projection that failed is repaired by the next one."""

    revision: int
    state: CaseState


class CaseResult(BaseModel):
    dossier_code: str
    status: CaseStatus
    reason: str | None = None
    output: dict[str, Any] = Field(default_factory=dict)
    children: dict[str, str] = Field(default_factory=dict)


class MemberStatus(BaseModel):
    """Signal `member_status`: a member case tells its bundle how it stands, so the
    bundle's status (and its CaseStatus search attribute) shows a stalled member."""

    step_id: str = Field(description="The bundle's procedure step that started the member")
    status: CaseStatus


class EventInput(BaseModel):
    """Signal `event`: something a `wait: {event: name}` step waits for."""

    name: str
    data: dict[str, Any] = Field(default_factory=dict)
