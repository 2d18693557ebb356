"""The procedure language: pydantic models for a whole procedure definition.

These models are the single source of the language's schema: the loader validates YAML
against them, `motcua schema` exports them as JSON Schema, and the workflow receives the
validated definition in its start input. Cross-reference checks (names, roles, activities,
reachability) live in `validation.py`; these models only check shape and types.

Every step is a mapping with an `id`, an optional `when` guard, and exactly one *kind key*
(`call`, `task`, `parallel`, ...). The kind key selects the model.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

IDENT = r"^[a-z_][a-z0-9_]*$"
PROCEDURE_ID = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """'30s', '5m', '2h', '3d' or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as '30s', '5m', '2h' or '3d'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    raise ValueError(f"expected a duration such as '30s', '5m', '2h' or '3d', got {value!r}")


Duration = Annotated[float, BeforeValidator(parse_duration)]


class Strict(BaseModel):
    """Base for every language node: unknown keys are errors, `with` is spelled `with`."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, serialize_by_alias=True, frozen=False
    )


# ---------------------------------------------------------------- dossier schema

FieldType = Literal[
    "string",
    "text",
    "int",
    "number",
    "bool",
    "date",
    "datetime",
    "pid",  # 12-digit personal id (số định danh cá nhân)
    "phone",
    "email",
    "province_code",
    "commune_code",
    "enum",
    "object",
    "list",
    "file",
]


class FieldSpec(Strict):
    """One typed field of a dossier, a task form or a step's result."""

    type: FieldType = "string"
    title: str | None = Field(None, description="Label shown to citizens/officers (Vietnamese)")
    required: bool = True
    enum: list[str] | None = Field(None, description="Allowed values for type 'enum'")
    pattern: str | None = Field(None, description="Regular expression a string must match")
    max_length: int | None = Field(
        None, ge=1, description="Longest text accepted (default: string 200, text 5000)"
    )
    fields: dict[str, FieldSpec] | None = Field(None, description="Members of type 'object'")
    items: FieldSpec | None = Field(None, description="Element type of type 'list'")
    default: Any = None
    prefill: str | None = Field(
        None, description="Expression that pre-fills this field from a prefill look-up"
    )
    supplementable: bool | None = Field(
        None,
        description="May a supplement send this dossier field again without an officer "
        "naming it? Default: yes for files and lists of files, no for anything else",
    )

    @property
    def may_supplement(self) -> bool:
        if self.supplementable is not None:
            return self.supplementable
        return self.type == "file" or (self.items is not None and self.items.type == "file")


Schema = dict[str, FieldSpec]


# ---------------------------------------------------------------- shared parts


class SLA(Strict):
    """A deadline in Vietnamese working days (0 = the same working day)."""

    working_days: int = Field(ge=0)
    cutoff: str | None = Field(
        None,
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="Local time after which a same-day dossier counts from the next working day",
    )


class RetrySpec(Strict):
    """How a failing call is retried before its case stalls. By default for the activity's
    retry window (motcua/activities/profiles.py), however many attempts that takes; lost
    workers and timed-out attempts are retried in the same window."""

    window: Duration | None = Field(
        None, description="Retry for this long before stalling (default: the activity's)"
    )
    max_attempts: int | None = Field(
        None,
        ge=1,
        description="Stop after this many attempts, lost and timed-out ones included "
        "(default: no limit inside the window)",
    )
    initial_interval: Duration = 1.0
    backoff: float = Field(2.0, ge=1.0)
    max_interval: Duration = 60.0


class StepBase(Strict):
    id: str = Field(pattern=IDENT)
    title: str | None = None
    when: str | None = Field(None, description="Expression; the step is skipped when false")


# ---------------------------------------------------------------- step kinds


class UndoSpec(Strict):
    """How `compensate` undoes a call that wrote to a registry."""

    call: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")


class CallStep(StepBase):
    """Call a registered activity; its result is bound to the step id."""

    call: str = Field(description="Registered activity name, e.g. population.get_citizen")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    timeout: Duration | None = Field(
        None, description="One attempt's time limit (default: the activity's)"
    )
    retry: RetrySpec = Field(default_factory=RetrySpec)
    on_exhausted: Literal["stall", "fail", "continue"] = "stall"
    skippable: bool = False
    result: Schema | None = Field(None, description="Schema of a result an officer may provide")
    undo: UndoSpec | None = None


class SupplementSpec(Strict):
    working_days: int = Field(7, ge=0)
    on_timeout: Literal["reject", "continue"] = "reject"


TaskAction = str  # approve | reject | request_supplement, checked by the validator


class TaskSpec(Strict):
    role: str
    agency: str = Field(description="Agency code or expression naming the competent agency")
    actions: list[TaskAction] = Field(min_length=1)
    instructions: str | None = None
    form: Schema = Field(default_factory=dict)
    sla: SLA | None = None
    escalate_to: str | None = Field(None, description="Role told when the task is overdue")
    supplement: SupplementSpec = Field(default_factory=SupplementSpec)
    on_supplement: list[Step] = Field(
        default_factory=list,
        description="Steps run when a supplement is requested (the request document, a notice); "
        "the task id is bound to the decision and `supplement_due_at` to the deadline",
    )


class TaskStep(StepBase):
    """An officer task; decided through the `decide` Update."""

    task: TaskSpec


class ParallelStep(StepBase):
    """Named branches that run at the same time; the step ends when all have ended."""

    parallel: dict[str, list[Step]] = Field(min_length=1)


class SwitchCase(Strict):
    when: str
    steps: list[Step]


class SwitchSpec(Strict):
    cases: list[SwitchCase] = Field(min_length=1)
    default: list[Step] = Field(default_factory=list)


class SwitchStep(StepBase):
    """Run the steps of the first case whose `when` holds, else `default`."""

    switch: SwitchSpec


class WaitSpec(Strict):
    """Exactly one of duration, working_days or event."""

    duration: Duration | None = None
    working_days: int | None = Field(None, ge=0)
    event: str | None = Field(None, pattern=IDENT)
    timeout: Duration | None = Field(None, description="For event: give up after this long")


class WaitStep(StepBase):
    wait: WaitSpec


class SetStep(StepBase):
    """Bind names to values (expressions) for later steps."""

    set: dict[str, Any] = Field(min_length=1)


class FailSpec(Strict):
    message: str
    code: str = "PROCEDURE_FAILED"


class FailStep(StepBase):
    """End the case as failed (a technical or legal impossibility)."""

    fail: FailSpec


class RejectSpec(Strict):
    reason: str


class RejectStep(StepBase):
    """End the case as rejected, with a reason the citizen reads."""

    reject: RejectSpec


class ProcedureSpec(Strict):
    id: str = Field(pattern=PROCEDURE_ID)
    input: dict[str, Any] = Field(default_factory=dict)
    on_reject: Literal["continue", "reject", "fail"] = "continue"
    on_fail: Literal["continue", "reject", "fail"] = "fail"


class ProcedureStep(StepBase):
    """Run another procedure as a child case (a member of an integrated bundle)."""

    procedure: ProcedureSpec


class CompensateSpec(Strict):
    steps: list[str] | None = Field(
        None, description="Steps to undo (default: every completed step with `undo`)"
    )


class CompensateStep(StepBase):
    """Undo, newest first, earlier call steps that wrote to a registry."""

    compensate: CompensateSpec = Field(default_factory=CompensateSpec)


class DocumentSpec(Strict):
    template: str
    sign_as: str = Field(description="Agency whose certificate signs the document")
    title: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class DocumentStep(StepBase):
    """Sugar: render a template to PDF and sign it (call documents.issue)."""

    document: DocumentSpec
    timeout: Duration = 60.0
    retry: RetrySpec = Field(default_factory=RetrySpec)

    def as_call(self) -> CallStep:
        return CallStep(
            id=self.id,
            title=self.title,
            when=self.when,
            call=DOCUMENT_ACTIVITY,
            with_=self.document.model_dump(),
            timeout=self.timeout,
            retry=self.retry,
        )


Channel = Literal["email", "sms", "app"]


def _email_only() -> list[Channel]:
    return ["email"]


class NotifySpec(Strict):
    to: str = Field(description="Expression giving the recipient (a citizen record or address)")
    template: str
    channels: list[Channel] = Field(default_factory=_email_only)
    data: dict[str, Any] = Field(default_factory=dict)


class NotifyStep(StepBase):
    """Sugar: send a templated notification (call notify.send)."""

    notify: NotifySpec
    timeout: Duration = 30.0
    retry: RetrySpec = Field(default_factory=RetrySpec)

    def as_call(self) -> CallStep:
        return CallStep(
            id=self.id,
            title=self.title,
            when=self.when,
            call=NOTIFY_ACTIVITY,
            with_=self.notify.model_dump(),
            timeout=self.timeout,
            retry=self.retry,
            on_exhausted="continue",  # a failed notice must not block a legal decision
        )


DOCUMENT_ACTIVITY = "documents.issue"
NOTIFY_ACTIVITY = "notify.send"

STEP_KINDS: dict[str, type[StepBase]] = {
    "call": CallStep,
    "task": TaskStep,
    "parallel": ParallelStep,
    "switch": SwitchStep,
    "wait": WaitStep,
    "set": SetStep,
    "fail": FailStep,
    "reject": RejectStep,
    "procedure": ProcedureStep,
    "compensate": CompensateStep,
    "document": DocumentStep,
    "notify": NotifyStep,
}


def step_kind(value: Any) -> str | None:
    """The kind key of a step given as a mapping or a model (None if it has none)."""
    if isinstance(value, dict):
        kinds = [k for k in STEP_KINDS if k in value]
        return kinds[0] if len(kinds) == 1 else None
    for kind, cls in STEP_KINDS.items():
        if type(value) is cls:
            return kind
    return None


Step = Annotated[
    Annotated[CallStep, Tag("call")]
    | Annotated[TaskStep, Tag("task")]
    | Annotated[ParallelStep, Tag("parallel")]
    | Annotated[SwitchStep, Tag("switch")]
    | Annotated[WaitStep, Tag("wait")]
    | Annotated[SetStep, Tag("set")]
    | Annotated[FailStep, Tag("fail")]
    | Annotated[RejectStep, Tag("reject")]
    | Annotated[ProcedureStep, Tag("procedure")]
    | Annotated[CompensateStep, Tag("compensate")]
    | Annotated[DocumentStep, Tag("document")]
    | Annotated[NotifyStep, Tag("notify")],
    Discriminator(
        step_kind,
        custom_error_type="step_kind",
        custom_error_message="a step needs exactly one kind key: " + ", ".join(STEP_KINDS),
    ),
]


# ---------------------------------------------------------------- the procedure


class Fee(Strict):
    """Fees in VND; online submission is usually free. A fee per unit (per copy, per page)
    names the unit as a citizen reads it and the number of units in the dossier:
    `{amount: 8000, per: bản, count: input.copies}`; the receipt then shows the total."""

    amount: int = Field(0, ge=0, description="The fee, or the fee per unit with `per`")
    online: int | None = Field(None, ge=0, description="The same when filed online")
    per: str | None = Field(None, description="The unit the amount is for (bản, trang)")
    count: str | None = Field(None, description="Expression: how many units (with `per`)")
    total: str | None = Field(
        None, description="Expression: the fee of this dossier when no unit price says it"
    )
    note: str | None = None

    @model_validator(mode="after")
    def _count_goes_with_per(self) -> Fee:
        if (self.per is None) != (self.count is None):
            raise ValueError("a fee per unit needs both `per` (the unit) and `count`")
        return self


class ApologySpec(Strict):
    """The written apology with a new date, sent while a case is still open this many
    working days before its legal deadline (the one-stop rules ask for at least one). A
    same-day procedure says `before_working_days: 0` and the time `at` which, on the due
    day, a case still open gets its apology (docs/decisions/0006-same-day-apology.md)."""

    before_working_days: int = Field(1, ge=0)
    at: str | None = Field(
        None,
        pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
        description="Local time on the apology day (default: the end of office hours)",
    )
    extend_working_days: int = Field(ge=1, description="How far the new date moves the deadline")
    steps: list[Step] = Field(min_length=1, description="`case.new_due_at` is in scope")


class DocumentDecl(Strict):
    title: str
    template: str


class NotificationDecl(Strict):
    title: str
    template: str


class SubjectSpec(Strict):
    """What a dossier is about, for the one-open-dossier rule (motcua/open_dossiers.py):
    a kind shared by every procedure about the same thing (a bundle and its member), and
    the input fields that identify it."""

    kind: str = Field(pattern=IDENT, description="e.g. birth, death")
    fields: list[str] = Field(min_length=1, description="Input fields naming the subject")


class OneStopAgency(Strict):
    name: str = Field(description="The receiving agency as a citizen reads it (an expression)")
    sign_as: str = Field(description="Whose certificate signs the one-stop forms")
    code: str | None = Field(None, description="Agency code deciding tasks that name none")


class OneStopApplicant(Strict):
    name: str
    pid: str
    email: str | None = None
    phone: str | None = None


class OneStopResult(Strict):
    text: str = Field(description="What the result notice says")
    document: str | None = Field(None, description="The step whose document goes with it")
    pickup: str | None = Field(None, description="Where the paper result can be collected")


class OneStopForm(Strict):
    form_no: str = Field(description="As printed at the top, e.g. 'Mẫu CT04'")
    title: str | None = Field(None, description="The step's title, when it differs")


class OneStop(Strict):
    """The one-stop paperwork the engine writes in (motcua/workflows/dsl/one_stop.py)."""

    agency: OneStopAgency
    applicant: OneStopApplicant
    channels: list[Literal["email", "sms", "push"]] = Field(default=["email", "sms"])
    received: list[Any] = Field(default_factory=list, description="Listed on the receipt")
    note: str | None = Field(None, description="A note on the receipt")
    result: OneStopResult | None = None
    skip: list[str] = Field(default_factory=list, description="Pieces switched off, by step id")
    quiet: list[str] = Field(
        default_factory=list,
        description="More pieces, by step id, that a member case leaves to its bundle",
    )
    forms: dict[str, str | OneStopForm] = Field(
        default_factory=dict,
        description="Forms of its own, by template: {receipt: Mẫu CT04} or {form_no, title}",
    )
    member_says: list[str] = Field(
        default_factory=list,
        description="Pieces, by step id, that a member case still says (e.g. tell_rejected "
        "when its bundle goes on without it)",
    )
    fields: dict[str, str] = Field(
        default_factory=dict, description="More lines on the receipt: {label: expression}"
    )
    title: str | None = Field(None, description="The procedure as the paperwork names it")
    apology_reason: str | None = Field(None, description="Why, in the apology with a new date")
    when: dict[str, str] = Field(
        default_factory=dict,
        description="A condition on a piece, by step id: {refusal: \"birth.status != 'rejected'\"}",
    )
    receive_after: str | None = Field(
        None,
        description="The step after which the dossier counts as received (the receipt goes "
        "there): checks before it refuse with form 03 only. Default: after the opening sets",
    )


class ProcedureDefinition(Strict):
    id: str = Field(pattern=PROCEDURE_ID)
    version: int = Field(ge=1)
    title: str = Field(description="Vietnamese title of the procedure")
    code: str | None = Field(None, description="National procedure code, e.g. 1.001193")
    legal_basis: list[str] = Field(default_factory=list)
    agency: Literal["commune", "province", "national"]
    fee: Fee = Field(default_factory=Fee)
    sla: SLA
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="Named figures (e.g. unconfirmed deadlines): `params.X`"
    )
    roles: list[str] = Field(default_factory=list, description="Roles that may act on tasks")
    input: Schema = Field(default_factory=dict)
    subject: SubjectSpec | None = Field(
        None, description="While a dossier about this subject is open, another is refused"
    )
    prefill: list[CallStep] = Field(
        default_factory=list, description="Registry look-ups run before the form and at start"
    )
    steps: list[Step] = Field(min_length=1)
    on_reject: list[Step] = Field(default_factory=list)
    on_abort: list[Step] = Field(default_factory=list)
    apology: ApologySpec | None = None
    output: dict[str, Any] = Field(default_factory=dict)
    documents: dict[str, DocumentDecl] = Field(default_factory=dict)
    notifications: dict[str, NotificationDecl] = Field(default_factory=dict)
    one_stop: OneStop | None = Field(
        None, description="Receipt, notices, forms 02/03, apology: written in as steps"
    )

    @model_validator(mode="after")
    def _subject_fields_are_inputs(self) -> ProcedureDefinition:
        if self.subject is not None:
            unknown = [f for f in self.subject.fields if f not in self.input]
            if unknown:
                raise ValueError(f"subject.fields names no input field: {', '.join(unknown)}")
        return self


for _model in (
    TaskSpec,
    TaskStep,
    ParallelStep,
    SwitchCase,
    SwitchSpec,
    FieldSpec,
    ApologySpec,
    ProcedureDefinition,
):
    _model.model_rebuild()
