"""The birth registration's happy path, hand-written as a plain Temporal workflow.

The twin of `ProcedureWorkflow` running procedure_defs/civil_status/birth_registration.yaml
(standalone, no father): the same activity calls with the same arguments and options in
the same order, the same timers (the deadline's apology, the review task's escalation),
deadlines counted in the workflow from the calendar pinned in the start input (ADR 0009),
one `decide` Update with a validator, and as many search-attribute upserts. It also asks
the engine's one patch (its generation marker) first: the engine's histories carry that
marker, and a hand-written workflow that had evolved the same way would carry one too.
So both histories hold the same events (bench/engine_vs_twin.py checks it), and what a
benchmark measures between the two is the cost of interpreting YAML.

Only the happy path and its timers are here: no rejection, supplement, stall or
compensation, which the benchmark never drives. Its models are in bench/twin_models.py.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from twin_models import OPTIONS, BirthInput, TwinStatus

    from motcua.activities.calendar import Deadline, DeadlineRequest
    from motcua.activities.registries.civil_status import BirthRegistered
    from motcua.activities.registries.health import BirthCertificate
    from motcua.activities.registries.population import Address, Citizen
    from motcua.workflows.contracts import (
        AGENCY,
        CASE_STATUS,
        DOSSIER_CODE,
        DUE_AT,
        PROCEDURE_ID,
        CaseResult,
        CaseStatus,
        DecideInput,
        Decision,
    )
    from motcua.workflows.working_days import add_working_days

WORKFLOW_NAME = "BirthRegistrationTwin"
PROCEDURE = "vn.birth_registration"
TITLE = "Đăng ký khai sinh"
RECEIPT_TITLE = "Giấy tiếp nhận hồ sơ và hẹn trả kết quả"
EXTRACT_TITLE = "Trích lục khai sinh"
VN = timezone(timedelta(hours=7), "ICT")  # Vietnam keeps +07:00 all year (no DST)
REVIEW, ROLE, ESCALATE_TO = "review", "civil_status_officer", "commune_chair"
ACTIONS = ("approve", "reject", "request_supplement")
CUTOFF = "15:00"  # a dossier received later counts from the next working day
APOLOGY_HOUR = 16  # local time on the due day
# The engine's one patch marker for all its changes so far (motcua/workflows/procedure.py,
# ENGINE_GENERATION), asked first thing as the engine does.
GENERATION_PATCH = "engine-generation-2026-12"
SEARCH_KEYS: dict[str, SearchAttributeKey[Any]] = {
    "DossierCode": DOSSIER_CODE,
    "ProcedureId": PROCEDURE_ID,
    "CaseStatus": CASE_STATUS,
    "Agency": AGENCY,
    "DueAt": DUE_AT,
}


# The engine's default retry: backoff from 1 s to 60 s, no attempt limit inside the window.
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=60))


def vn_date(moment: datetime) -> str:
    return moment.astimezone(VN).strftime("%d/%m/%Y")


def agency_name(address: Address) -> str:
    """'Ủy ban nhân dân phường Ba Đình, thành phố Hà Nội', from the mother's address."""
    commune, province = address.commune_name, address.province_name
    where = province[:1].lower() + province[1:]
    if not province.startswith("Thành phố"):
        where = "tỉnh " + province
    return f"Ủy ban nhân dân {commune[:1].lower()}{commune[1:]}, {where}"


def place_name(address: Address) -> str:
    """The commune's name without its kind, for the extract's place of registration."""
    place = address.commune_name
    for kind in ("Đặc khu ", "Phường ", "Xã "):
        place = place.replace(kind, "", 1)
    return place


@workflow.defn(name=WORKFLOW_NAME)
class BirthRegistrationTwin:
    @workflow.init
    def __init__(self, start: BirthInput) -> None:
        self.start = start
        self.status = CaseStatus.running
        self.started_at = workflow.now()
        self.due_at: datetime | None = None
        self.contact: dict[str, Any] = {}
        self.task_agency: str | None = None  # set while the review task is open
        self.escalated = False
        self.decision: Decision | None = None
        self.synced: dict[str, Any] = {}

    @workflow.run
    async def run(self, start: BirthInput) -> CaseResult:
        workflow.patched(GENERATION_PATCH)
        # What the starter set (code, procedure, status) is not upserted again.
        self.synced |= {"DossierCode": start.dossier_code, "ProcedureId": PROCEDURE}
        self.synced["CaseStatus"] = self.status.value
        self.due_at = await self._deadline(self.started_at)
        self._upsert(DueAt=self.due_at)
        apology = asyncio.create_task(self._apology())
        try:
            output = await self._register(start)
            self.status = CaseStatus.completed
            self._upsert(CaseStatus=self.status.value)
        finally:
            if not apology.done():
                apology.cancel()
        return CaseResult(dossier_code=start.dossier_code, status=self.status, output=output)

    async def _register(self, start: BirthInput) -> dict[str, Any]:
        """Pre-fill from the registries, receipt, review, register, extract, tell."""
        mother, child = await self._prefill(start)
        commune = start.commune_code or mother.address.commune_code
        await self._acknowledge(start, mother)
        await self._review(f"UBND-{commune}")
        registered: BirthRegistered = await self._call(
            "civil_status.register_birth",
            "register",
            BirthRegistered,
            birth_certificate_no=start.birth_certificate_no,
            child=child,
            mother_pid=start.mother_pid,
            father_pid=None,
            commune_code=commune,
        )
        extract = await self._extract(start, mother, child, registered)
        result = (
            f"Đã đăng ký khai sinh cho trẻ {start.child_name}; "
            f"số định danh cá nhân của trẻ: {registered.child_pid}"
        )
        await self._notify(
            "tell_result",
            "result_ready",
            {"procedure_title": TITLE, "result": result, "document": extract["document_ref"]},
        )
        return {
            "child_pid": registered.child_pid,
            "registration_no": registered.registration_no,
            "child_name": start.child_name,
            "child_birth_date": child["birth_date"],
            "commune_code": commune,
            "extract_ref": extract["document_ref"],
        }

    async def _prefill(self, start: BirthInput) -> tuple[Citizen, dict[str, Any]]:
        """The mother from the population register, the newborn from the hospital's birth
        certificate: she types neither."""
        mother: Citizen = await self._call(
            "population.get_citizen", "mother", Citizen, pid=start.mother_pid
        )
        cert: BirthCertificate = await self._call(
            "health.get_birth_certificate",
            "birth_cert",
            BirthCertificate,
            certificate_no=start.birth_certificate_no,
        )
        self.contact = {
            "full_name": mother.full_name,
            "pid": start.mother_pid,
            "email": mother.email,
            "phone": mother.phone,
        }
        child = {
            "full_name": start.child_name,
            "birth_date": cert.child.birth_date.isoformat(),
            "sex": cert.child.sex,
            "ethnicity": mother.ethnicity,
            "nationality": mother.nationality,
            "place_of_birth": cert.child.place_of_birth,
        }
        return mother, child

    async def _acknowledge(self, start: BirthInput, mother: Citizen) -> None:
        """The receipt (form 01) with the due date, and the notice that says so."""
        received, due = vn_date(self.started_at), vn_date(self._due())
        office = agency_name(mother.address)
        receipt = {
            "agency_name": office,
            "procedure_title": TITLE,
            "procedure_code": "1.001193",
            "applicant_name": mother.full_name,
            "applicant_pid": start.mother_pid,
            "channel": start.channel,
            "received_at": received,
            "due_date": due,
            "documents": [
                "Tờ khai đăng ký khai sinh (biểu mẫu điện tử)",
                f"Giấy chứng sinh số {start.birth_certificate_no}",
            ],
        }
        await self._document("receipt", "receipt", RECEIPT_TITLE, receipt)
        told = {"agency_name": office, "procedure_title": TITLE, "received_at": received}
        await self._notify("tell_received", "received", {**told, "due_date": due})

    async def _extract(
        self,
        start: BirthInput,
        mother: Citizen,
        child: dict[str, Any],
        registered: BirthRegistered,
    ) -> dict[str, Any]:
        """The signed birth extract (trích lục khai sinh)."""
        data = {
            "agency_name": agency_name(mother.address),
            "registration_no": registered.registration_no,
            "registered_on": vn_date(registered.registered_at),
            "child_name": child["full_name"],
            **{k: child[k] for k in ("birth_date", "sex", "ethnicity", "nationality")},
            "place_of_birth": child["place_of_birth"],
            "native_place": "",
            "child_pid": registered.child_pid,
            "mother_name": mother.full_name,
            "mother_pid": start.mother_pid,
            "father_name": "",
            "father_pid": "",
            "place": place_name(mother.address),
        }
        extract: dict[str, Any] = await self._document(
            "extract", "birth_extract", EXTRACT_TITLE, data
        )
        return extract

    # ------------------------------------------------------------------ the officer

    async def _review(self, agency: str) -> None:
        """Open the review task and wait for `decide`; past its deadline it escalates."""
        task_due = await self._deadline(workflow.now())
        self.task_agency = agency
        self.status = CaseStatus.waiting_officer
        self._upsert(CaseStatus=self.status.value, Agency=agency)
        timeout = max((task_due - workflow.now()).total_seconds(), 0.001)
        try:
            await workflow.wait_condition(lambda: self.decision is not None, timeout=timeout)
        except TimeoutError:
            self.escalated = True  # the commune chair may decide from now on
            await workflow.wait_condition(lambda: self.decision is not None)
        self.task_agency = None
        self.status = CaseStatus.running
        self._upsert(CaseStatus=self.status.value)
        assert self.decision is not None
        if self.decision.action != "approve":
            raise ApplicationError(f"the twin has no '{self.decision.action}' path")

    @workflow.update
    def decide(self, decision: DecideInput) -> Decision:
        self.decision = Decision(**decision.model_dump(), at=workflow.now())
        return self.decision

    @decide.validator
    def validate_decide(self, decision: DecideInput) -> None:
        """Refuse a wrong step, action, role or agency before anything is recorded."""
        problem = None
        roles = {ROLE, ESCALATE_TO} if self.escalated else {ROLE}
        if not decision.actor.strip():
            problem = "actor must not be empty"
        elif decision.step_id != REVIEW or self.task_agency is None or self.decision:
            problem = f"no open task '{decision.step_id}'"
        elif decision.action not in ACTIONS:
            problem = f"action '{decision.action}' is not allowed"
        elif decision.role not in roles:
            problem = f"role '{decision.role}' may not decide '{REVIEW}'; it needs {ROLE}"
        elif decision.agency != self.task_agency:
            problem = f"agency '{decision.agency}' is not competent"
        if problem is not None:
            raise ApplicationError(problem, type="Refused", non_retryable=True)

    @workflow.query
    def status_now(self) -> TwinStatus:
        return TwinStatus(
            status=self.status,
            open_task=REVIEW if self.task_agency is not None else None,
            due_at=self.due_at,
        )

    # ------------------------------------------------------------------ the deadline

    async def _apology(self) -> None:
        """On the due day at 16:00 a case still open moves its deadline one working day
        on, and the mother gets a written apology with the new date."""
        moment = await self._deadline(self.started_at)
        moment = moment.replace(hour=APOLOGY_HOUR, minute=0, second=0, microsecond=0)
        await workflow.sleep(max((moment - workflow.now()).total_seconds(), 0))
        new_due = await self._deadline(self.started_at, working_days=1)
        dates = {"due_date": vn_date(self._due()), "new_due_date": vn_date(new_due)}
        await self._notify("tell_apology", "overdue_apology", {"procedure_title": TITLE, **dates})
        self.due_at = new_due
        self._upsert(DueAt=new_due)

    def _due(self) -> datetime:
        assert self.due_at is not None
        return self.due_at

    async def _deadline(self, start: datetime, working_days: int = 0) -> datetime:
        """End of office hours on the working day due: counted from the pinned calendar,
        or asked of the calendar activity past its window (or without one)."""
        if self.start.calendar is not None:
            due = add_working_days(self.start.calendar, start, working_days, CUTOFF)
            if due is not None:
                return due
        request = DeadlineRequest(start=start, working_days=working_days, cutoff=CUTOFF)
        deadline: Deadline = await self._activity("calendar.add_working_days", request, Deadline)
        return deadline.due

    # ------------------------------------------------------------------ activities

    async def _call(self, name: str, step: str, result: type[Any], **args: Any) -> Any:
        """A registry, document or notice call, with the case's idempotency key."""
        code = self.start.dossier_code
        payload = {**args, "idempotency_key": f"{code}:{step}", "dossier_code": code}
        return await self._activity(name, payload, result)

    async def _document(self, step: str, template: str, title: str, data: dict[str, Any]) -> Any:
        data = {"issued_at": workflow.now().isoformat(), **data}  # dated by the workflow clock
        args = {"template": template, "sign_as": "commune", "title": title, "data": data}
        return await self._call("documents.issue", step, dict, **args)

    async def _notify(self, step: str, template: str, data: dict[str, Any]) -> None:
        args = {"to": self.contact, "template": template, "channels": ["email", "sms"]}
        await self._call("notify.send", step, dict, **args, data=data)

    async def _activity(self, name: str, arg: Any, result: type[Any]) -> Any:
        family = name.split(".", 1)[0]
        options = OPTIONS.get(family, OPTIONS["registry"])
        return await workflow.execute_activity(
            name,
            arg,
            result_type=result,
            start_to_close_timeout=timedelta(seconds=options.timeout),
            heartbeat_timeout=timedelta(seconds=options.heartbeat),
            schedule_to_close_timeout=timedelta(seconds=options.window),
            retry_policy=RETRY,
        )

    def _upsert(self, **values: Any) -> None:
        """Upsert what changed only (as the engine does), so no event is redundant."""
        updates = []
        for name, value in values.items():
            if self.synced.get(name) != value:
                self.synced[name] = value
                updates.append(SEARCH_KEYS[name].value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)
