"""What the citizen API answers: the catalogue, the form, a dossier's status and timeline,
documents and ratings, as pydantic models (the OpenAPI schema is made from them), and the
functions that build them from definitions and case states."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from motcua.cases import offering
from motcua.cases.labels import STATUS_VI, WITH_REASON, event_label
from motcua.cases.parties import parties
from motcua.cases.prefill import Lookup, Prefilled
from motcua.paperwork.portal import PORTAL_STATUS_VI, portal_status
from motcua.workflows.contracts import CaseState, OpenTask
from motcua.workflows.dsl.model import FieldSpec, ProcedureDefinition
from motcua.workflows.dsl.walk import walk_definition

# ---------------------------------------------------------------- the catalogue


class Deadline(BaseModel):
    working_days: int = Field(description="Legal deadline in Vietnamese working days")
    cutoff: str | None = Field(
        None, description="After this time a dossier counts from the next working day"
    )


class FeeOut(BaseModel):
    amount: int = Field(description="VND, at the one-stop counter (per unit with `per`)")
    online: int | None = Field(None, description="VND when filed online")
    per: str | None = Field(None, description="The unit the amount is for (bản, trang)")
    varies: bool = Field(
        description="The fee depends on the dossier (units, pages): the receipt shows it"
    )
    note: str | None = None


class FieldOut(BaseModel):
    name: str
    title: str | None
    type: str
    required: bool


class ProcedureOut(BaseModel):
    id: str
    title: str
    code: str | None = Field(description="National procedure code")
    kind: Literal["procedure", "bundle"]
    members: list[str] = Field(description="For a bundle: the procedures it runs")
    agency_level: str
    legal_basis: list[str]
    deadline: Deadline
    fee: FeeOut
    documents: list[FieldOut] = Field(description="Papers the citizen may attach (file fields)")
    to_type: list[FieldOut] = Field(description="Fields the citizen types")
    prefilled: list[FieldOut] = Field(description="Fields filled from the registries")
    from_login: str | None = Field(
        description="The field filled with the citizen's own id (null with several `parties`)"
    )
    parties: list[FieldOut] = Field(
        description="The personal-id fields of the people who may file it. With several "
        "(a marriage: either spouse), the citizen says which they are with `as` on the form "
        "and the submission; that field is filled with their id, the others are typed"
    )


def _field(name: str, spec: FieldSpec) -> FieldOut:
    return FieldOut(name=name, title=spec.title, type=spec.type, required=spec.required)


def _is_file(spec: FieldSpec) -> bool:
    return spec.type == "file" or (spec.items is not None and spec.items.type == "file")


def procedure_out(defn: ProcedureDefinition) -> ProcedureOut:
    among = parties(defn)
    fields = defn.input.items()
    members = offering.members(defn)
    return ProcedureOut(
        id=defn.id, title=defn.title, code=defn.code,
        kind="bundle" if members else "procedure", members=members,
        agency_level=defn.agency, legal_basis=defn.legal_basis,
        deadline=Deadline(working_days=defn.sla.working_days, cutoff=defn.sla.cutoff),
        fee=FeeOut(amount=defn.fee.amount, online=defn.fee.online, per=defn.fee.per,
                   varies=defn.fee.count is not None or defn.fee.total is not None,
                   note=defn.fee.note),
        documents=[_field(n, s) for n, s in fields if _is_file(s)],
        to_type=[
            _field(n, s) for n, s in fields
            if not _is_file(s) and s.prefill is None and n not in among
        ],
        prefilled=[_field(n, s) for n, s in fields if s.prefill is not None],
        from_login=among[0] if len(among) == 1 else None,
        parties=[_field(n, s) for n, s in fields if n in among],
    )  # fmt: skip


# ---------------------------------------------------------------- the form

Source = Literal["login", "registry", "typed", "default"]


class FormField(BaseModel):
    name: str
    title: str | None
    type: str
    required: bool
    enum: list[str] | None = None
    value: Any = Field(None, description="Empty (null) when the citizen has to type it")
    prefilled: bool = Field(description="Filled from the login or the registries: not typed")
    source: Source | None = None


class LookupOut(BaseModel):
    id: str
    title: str | None
    status: str = Field(
        description="done, not_found (typed instead), needs_input (type the fields it "
        "needs, then ask again), not_needed, unavailable (registry down), not_run"
    )


class FormOut(BaseModel):
    procedure_id: str
    title: str
    party: str | None = Field(
        description="The field filled with the citizen's id: the party they are (null while "
        "a procedure of several parties does not know which)"
    )
    parties: list[str] = Field(description="The fields the citizen may be (choose with `as`)")
    fields: list[FormField]
    to_type: list[str] = Field(description="The fields left empty, for the citizen to type")
    lookups: list[LookupOut]
    opened: str = Field(
        "",
        description="Send back as the submission's `form_opened`: when the form was opened, "
        "sealed (the programme measures the time from opening the form to submitting)",
    )


def form_out(
    defn: ProcedureDefinition, typed: dict[str, Any], found: Prefilled, party: str | None, sub: str
) -> FormOut:
    fields: list[FormField] = []
    for name, spec in defn.input.items():
        value: Any = None
        source: Source | None = None
        if name == party:
            value, source = sub, "login"
        elif name in found.values:
            value, source = found.values[name], "registry"
        elif typed.get(name) is not None:
            value, source = typed[name], "typed"
        elif spec.default is not None:
            value, source = spec.default, "default"
        fields.append(
            FormField(
                name=name,
                title=spec.title,
                type=spec.type,
                required=spec.required,
                enum=spec.enum,
                value=value,
                prefilled=source in ("login", "registry"),
                source=source,
            )  # fmt: skip
        )
    return FormOut(
        procedure_id=defn.id,
        title=defn.title,
        party=party,
        parties=parties(defn),
        fields=fields,
        to_type=[f.name for f in fields if f.value is None],
        lookups=[_lookup(x) for x in found.lookups],
    )


def _lookup(x: Lookup) -> LookupOut:
    return LookupOut(id=x.id, title=x.title, status=x.status)


# ---------------------------------------------------------------- dossiers


class SubmitIn(BaseModel):
    procedure_id: str = Field(max_length=200, examples=["vn.birth_registration"])
    dossier: dict[str, Any] = Field(
        default_factory=dict,
        description="The fields the citizen typed; the pre-filled ones may be left out",
    )
    party: str | None = Field(
        None, alias="as", max_length=100, examples=["wife_pid"],
        description="Which of the procedure's `parties` the citizen is (a marriage: "
        "husband_pid or wife_pid). Needed only where several may file and the citizen's own "
        "id is not typed in one of their fields",
    )  # fmt: skip
    form_opened: str | None = Field(
        None, max_length=100, description="The form's `opened`, as it handed it out"
    )


class Submitted(BaseModel):
    dossier_code: str
    procedure_id: str
    repeated: bool = Field(description="True when this Idempotency-Key had submitted it already")


class DossierItem(BaseModel):
    dossier_code: str
    procedure_id: str
    title: str | None
    submitted_at: datetime | None
    status: str | None = Field(description="The case's status (None when it cannot be read now)")
    status_label: str | None


class TaskView(BaseModel):
    dossier_code: str = Field(description="The case holding it (a bundle's member: CODE.step)")
    step_id: str
    title: str | None
    agency: str
    waiting_for: Literal["officer", "citizen"]
    due_at: datetime | None
    supplement_due_at: datetime | None
    missing: list[str] = Field(description="For a supplement: what the officer asked for")


class EventView(BaseModel):
    at: datetime
    kind: str
    label: str
    step_id: str | None
    step_title: str | None
    reason: str | None = None
    dossier_code: str = Field(description="The case it happened in (a bundle's member: CODE.step)")
    member: str | None = Field(
        None, description="For a bundle's member: the bundle's step that runs it"
    )
    member_title: str | None = Field(None, description="That member procedure's title")


class MemberView(BaseModel):
    step_id: str
    dossier_code: str
    status: str
    status_label: str


class DossierView(BaseModel):
    dossier_code: str
    procedure_id: str
    title: str | None
    status: str
    status_label: str
    portal_status: int = Field(description="The national portal's status code (1-10)")
    portal_label: str
    started_at: datetime
    due_at: datetime | None
    reason: str | None
    open_tasks: list[TaskView]
    members: list[MemberView]
    timeline: list[EventView]
    result: dict[str, Any] = Field(description="The procedure's output, once it has one")


def step_titles(procedure_id: str) -> dict[str, str]:
    """step id -> title, from the offered definition of `procedure_id` and its members."""
    catalogue = offering.offered()
    titles: dict[str, str] = {}
    pending = [procedure_id]
    while pending:
        found = catalogue.get(pending.pop())
        if found is None:
            continue
        defn = found[1]
        for step, _ in walk_definition(defn):
            if step.title:
                titles.setdefault(step.id, step.title)
        pending += offering.members(defn)
    return titles


def procedure_title(procedure_id: str) -> str | None:
    found = offering.offered().get(procedure_id)
    return found[1].title if found else None


def _task(code: str, t: OpenTask, titles: dict[str, str]) -> TaskView:
    return TaskView(
        dossier_code=code, step_id=t.step_id, title=titles.get(t.step_id), agency=t.agency,
        waiting_for=t.waiting_for, due_at=t.due_at, supplement_due_at=t.supplement_due_at,
        missing=list(t.missing),
    )  # fmt: skip


def _timeline(state: CaseState, member: str | None = None) -> list[EventView]:
    """The events of `state` a citizen reads; `member`: the bundle's step running it."""
    titles = step_titles(state.procedure_id)
    member_title = procedure_title(state.procedure_id) if member else None
    timeline = []
    for e in state.events:
        label = event_label(e.kind, e.detail)
        if label is None:
            continue
        timeline.append(
            EventView(
                at=e.at,
                kind=e.kind,
                label=label,
                step_id=e.step_id,
                step_title=titles.get(e.step_id or ""),
                reason=e.detail or None if e.kind in WITH_REASON else None,
                dossier_code=state.dossier_code,
                member=member,
                member_title=member_title,
            )  # fmt: skip
        )
    return timeline


def dossier_view(state: CaseState, members: dict[str, CaseState]) -> DossierView:
    """The case as its citizen follows it. `members`: a bundle's member cases by the step
    that runs them; their open tasks and their timelines (each agency's decisions) are
    merged into the bundle's, in time order, each event naming its member."""
    titles = step_titles(state.procedure_id)
    code = state.dossier_code
    tasks = [_task(code, t, titles) for t in state.open_tasks]
    timeline = _timeline(state)
    for step_id, member in members.items():
        tasks += [_task(member.dossier_code, t, titles) for t in member.open_tasks]
        timeline += _timeline(member, step_id)
    timeline.sort(key=lambda e: e.at)  # stable: the bundle's own first at the same moment
    portal = portal_status(state)
    return DossierView(
        dossier_code=code,
        procedure_id=state.procedure_id,
        title=procedure_title(state.procedure_id),
        status=state.status.value,
        status_label=STATUS_VI.get(state.status.value, state.status.value),
        portal_status=portal,
        portal_label=PORTAL_STATUS_VI[portal],
        started_at=state.started_at,
        due_at=state.due_at,
        reason=state.reason,
        open_tasks=tasks,
        members=[
            MemberView(
                step_id=s,
                dossier_code=f"{code}.{s}",
                status=v,
                status_label=STATUS_VI.get(v, v),
            )  # fmt: skip
            for s, v in state.children.items()
        ],
        timeline=timeline,
        result=state.output if state.status.value == "completed" else {},
    )


class SupplementIn(BaseModel):
    step_id: str | None = Field(
        None, max_length=80, description="The task asking for it (needed only when several do)"
    )
    documents: dict[str, Any] = Field(description="The dossier fields sent again or added")
    note: str = Field("", max_length=2000)


class SupplementOut(BaseModel):
    dossier_code: str = Field(description="The case that received it")
    step_id: str
    message: str


class DocumentOut(BaseModel):
    document_ref: str = Field(description="Its name in the result store (download with it)")
    dossier_code: str = Field(description="The case that issued it (a bundle's member too)")
    title: str
    template: str
    signed: bool
    sha256: str
    size: int
    issued_at: datetime
    verification_url: str


class RatingIn(BaseModel):
    stars: int = Field(ge=1, le=5, description="1 (very poor) to 5 (very good)")
    comment: str = Field("", max_length=1000)


class RatingOut(BaseModel):
    dossier_code: str
    stars: int
    comment: str
    rated_at: datetime
