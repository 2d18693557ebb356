"""The registry adapters against the real sandbox (docs/sandbox-api.md), no mocks.

Each adapter module: an answer, a NotFound, an injected failure and an outage (both
Unavailable, retryable), and for writes the same key twice (one ledger entry) and a refusal
(non-retryable). Every error message is checked for the personal ids the test used. One
adapter also runs inside a real ProcedureWorkflow that stalls during an outage and completes
after the officer's retry.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from motcua.activities.registries import (
    civil_status,
    health,
    http,
    population,
    residence,
    social_insurance,
)
from motcua.workflows.contracts import CaseResult, CaseStatus, CompiledProcedure, ResumeInput
from motcua.workflows.dsl.model import ProcedureDefinition
from motcua.workflows.procedure import ProcedureWorkflow
from tests.helpers import new_worker, start_case, state_when
from tests.sandbox_server import sandbox_fixture

UNKNOWN_PID = "099999999999"


# ---------------------------------------------------------------- fixtures and helpers


sandbox = sandbox_fixture(seed=42, citizens=2_000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest_asyncio.fixture
async def admin(sandbox: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    """Adapters pointed at the sandbox; a client for its admin and ledger endpoints."""
    monkeypatch.setenv("MOTCUA_SANDBOX_URL", sandbox)
    for name in ("POPULATION", "CIVIL_STATUS", "RESIDENCE", "SOCIAL_INSURANCE", "HEALTH"):
        monkeypatch.delenv(f"MOTCUA_{name}_URL", raising=False)
    monkeypatch.delenv("MOTCUA_HTTP_TIMEOUT", raising=False)
    async with httpx.AsyncClient(base_url=sandbox, timeout=10) as client:
        (await client.delete("/_admin/faults")).raise_for_status()
        yield client
        (await client.delete("/_admin/faults")).raise_for_status()


@pytest_asyncio.fixture
async def samples(admin: httpx.AsyncClient) -> dict[str, Any]:
    answer = await admin.get("/_admin/samples")
    answer.raise_for_status()
    samples: dict[str, Any] = answer.json()
    return samples


def key() -> str:
    return f"T00.1-261123-{uuid.uuid4().hex[:6]}:step"


async def run(fn: Callable[[Any], Awaitable[Any]], req: Any) -> Any:
    """Run an activity as a worker would, with Temporal's activity context."""
    return await ActivityEnvironment().run(fn, req)


async def refused(
    fn: Callable[[Any], Awaitable[Any]], req: Any, *, secrets: tuple[str, ...] = ()
) -> ApplicationError:
    """The ApplicationError the activity raises; its message holds none of `secrets`."""
    with pytest.raises(ApplicationError) as caught:
        await run(fn, req)
    err = caught.value
    for secret in (*secrets, *_ids_in(req)):
        assert secret not in str(err), f"personal id leaked into {str(err)!r}"
        assert secret not in repr(err.details)
    return err


def _ids_in(req: Any) -> list[str]:
    """Every long digit string in an input: personal ids and similar."""
    found: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, str) and len(v) >= 9 and v.isdigit():
            found.append(v)

    walk(req.model_dump(mode="json", exclude={"idempotency_key", "dossier_code"}))
    return found


async def fault(admin: httpx.AsyncClient, service: str, **spec: Any) -> None:
    body = {"latency_ms": 0, "error_rate": 0.0, "outage": False, **spec}
    (await admin.put(f"/_admin/faults/{service}", json=body)).raise_for_status()


async def ledger(admin: httpx.AsyncClient, prefix: str, idem: str) -> list[dict[str, Any]]:
    answer = await admin.get(f"/{prefix}/_ledger")
    answer.raise_for_status()
    return [e for e in answer.json() if e["key"] == idem]


async def assert_unavailable(
    admin: httpx.AsyncClient, service: str, fn: Callable[[Any], Awaitable[Any]], req: Any
) -> None:
    """An injected failure, then an outage: both Unavailable and retryable."""
    for spec in ({"error_rate": 1.0}, {"outage": True}):
        await fault(admin, service, **spec)
        err = await refused(fn, req)
        assert (err.type, err.non_retryable) == ("Unavailable", False), spec
        assert "HTTP 5" in str(err)
        await admin.delete("/_admin/faults")


async def assert_once(
    admin: httpx.AsyncClient, prefix: str, fn: Callable[[Any], Awaitable[Any]], req: Any
) -> Any:
    """The same key twice: the same answer, and the service applied it once."""
    first = await run(fn, req)
    again = await run(fn, req)
    assert again == first
    assert len(await ledger(admin, prefix, req.idempotency_key)) == 1
    return first


# ---------------------------------------------------------------- the shared client


async def test_http_unreachable_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()  # nobody listens once the probe socket is closed
    monkeypatch.setenv("MOTCUA_POPULATION_URL", f"http://127.0.0.1:{port}/population")
    pid = "079123456789"
    err = await refused(population.get_citizen, population.GetCitizenInput(pid=pid))
    assert (err.type, err.non_retryable) == ("Unavailable", False)
    assert err.message == "population citizen look-up: unreachable (ConnectError)"


async def test_http_write_without_key_is_refused_before_sending() -> None:
    req = civil_status.CancelRegistrationInput(registration_no="KS-1", reason="nhầm")
    err = await refused(civil_status.cancel_registration, req)
    assert (err.type, err.non_retryable) == ("InvalidInput", True)
    assert "needs an idempotency_key" in str(err)


@pytest.mark.parametrize(
    ("status", "body", "kind", "retryable"),
    [
        (404, {"error": "not_found", "message": "no such citizen"}, "NotFound", False),
        (422, {"error": "not_eligible", "message": "already married"}, "NotEligible", False),
        (422, {"error": "invalid", "message": "bad date"}, "InvalidInput", False),
        (422, {"error": "idempotency_conflict"}, "IdempotencyConflict", False),
        (409, {"error": "duplicate", "message_id": "m-1"}, "Duplicate", False),
        (500, {"error": "error"}, "Unavailable", True),
        (503, {"error": "unavailable"}, "Unavailable", True),
        (502, None, "Unavailable", True),
        (429, None, "Unavailable", True),
        (403, None, "Refused", False),
    ],
)
def test_http_error_mapping(
    status: int, body: dict[str, Any] | None, kind: str, retryable: bool
) -> None:
    err = http._error("population citizen look-up", status, body)
    assert (err.type, err.non_retryable) == (kind, not retryable)
    code = (body or {}).get("error", "error")
    assert err.message.startswith(f"population citizen look-up: {code} (HTTP {status})")
    if kind == "Duplicate":
        assert err.details == ({"message_id": "m-1"},)


def test_http_error_masks_digit_runs_in_the_registry_message() -> None:
    body = {"error": "not_found", "message": "citizen 079123456789 not found"}
    err = http._error("population citizen look-up", 404, body)
    assert err.message == "population citizen look-up: not_found (HTTP 404): citizen … not found"


def test_http_timeout_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (http.timeout().connect, http.timeout().read) == (3.0, 10.0)
    monkeypatch.setenv("MOTCUA_HTTP_TIMEOUT", "0.5")
    assert (http.timeout().connect, http.timeout().read) == (0.5, 0.5)
    monkeypatch.setenv("MOTCUA_HTTP_TIMEOUT", "1,20")
    assert (http.timeout().connect, http.timeout().read) == (1.0, 20.0)


async def test_http_slow_registry_times_out(
    admin: httpx.AsyncClient, samples: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOTCUA_HTTP_TIMEOUT", "0.3")
    await fault(admin, "population", latency_ms=1500)
    req = population.GetCitizenInput(pid=adult(samples))
    err = await refused(population.get_citizen, req)
    assert (err.type, err.non_retryable) == ("Unavailable", False)
    assert err.message == "population citizen look-up: timed out (ReadTimeout)"


# ---------------------------------------------------------------- population


def adult(samples: dict[str, Any]) -> str:
    pid: str = samples["adult_with_household"][0]
    return pid


async def test_population_get_citizen_and_household(
    admin: httpx.AsyncClient, samples: dict[str, Any]
) -> None:
    pid = adult(samples)
    citizen = await run(population.get_citizen, population.GetCitizenInput(pid=pid))
    assert isinstance(citizen, population.Citizen)
    assert (citizen.pid, citizen.alive) == (pid, True)
    assert citizen.full_name and citizen.address.commune_code and citizen.household_id
    req = population.GetHouseholdInput(household_id=citizen.household_id)
    household = await run(population.get_household, req)
    assert isinstance(household, population.Household)
    assert pid in household.members
    assert household.address.commune_code == citizen.address.commune_code


async def test_population_not_found(admin: httpx.AsyncClient) -> None:
    err = await refused(population.get_citizen, population.GetCitizenInput(pid=UNKNOWN_PID))
    assert (err.type, err.non_retryable) == ("NotFound", True)
    assert err.message == "population citizen look-up: not_found (HTTP 404): citizen not found"
    req = population.GetHouseholdInput(household_id="HK-NONE")
    err = await refused(population.get_household, req)
    assert (err.type, err.non_retryable) == ("NotFound", True)


async def test_population_unavailable(admin: httpx.AsyncClient, samples: dict[str, Any]) -> None:
    req = population.GetCitizenInput(pid=adult(samples))
    await assert_unavailable(admin, "population", population.get_citizen, req)


# ---------------------------------------------------------------- civil status


async def birth(samples: dict[str, Any]) -> civil_status.RegisterBirthInput:
    """A birth to register: a sample mother and her certificate from the health registry."""
    sample = samples["mother_with_birth_certificate"][0]
    lookup = health.GetBirthCertificateInput(certificate_no=sample["certificate_no"])
    cert = await run(health.get_birth_certificate, lookup)
    return civil_status.RegisterBirthInput(
        idempotency_key=key(),
        birth_certificate_no=cert.certificate_no,
        child=civil_status.Child(
            full_name="Nguyễn Văn An",
            birth_date=cert.child.birth_date,
            sex=cert.child.sex,
            ethnicity="Kinh",
            nationality="Việt Nam",
            place_of_birth=cert.child.place_of_birth,
        ),
        mother_pid=cert.mother_pid,
        father_pid=sample["father_pid"],
        commune_code=sample["commune_code"],
    )


async def test_civil_status_birth_once_then_cancelled(
    admin: httpx.AsyncClient, samples: dict[str, Any]
) -> None:
    req = await birth(samples)
    done = await assert_once(admin, "civil-status", civil_status.register_birth, req)
    assert isinstance(done, civil_status.BirthRegistered)
    child = await run(population.get_citizen, population.GetCitizenInput(pid=done.child_pid))
    assert child.full_name == "Nguyễn Văn An"
    look = civil_status.GetRegistrationInput(registration_no=done.registration_no)
    registration = await run(civil_status.get_registration, look)
    assert (registration.kind, registration.subject_pids) == ("birth", [done.child_pid])
    assert not registration.cancelled
    cancel = civil_status.CancelRegistrationInput(
        idempotency_key=req.idempotency_key + ":undo",
        registration_no=done.registration_no,
        reason="hồ sơ bị hủy",
    )
    cancelled = await assert_once(admin, "civil-status", civil_status.cancel_registration, cancel)
    assert cancelled.cancelled
    assert (await run(civil_status.get_registration, look)).cancelled
    err = await refused(population.get_citizen, population.GetCitizenInput(pid=done.child_pid))
    assert err.type == "NotFound"


async def test_civil_status_write_replayed_after_lost_answer(
    admin: httpx.AsyncClient, samples: dict[str, Any]
) -> None:
    """The registry applied the write but the answer was lost: the retry gets the stored
    answer and nothing is applied twice."""
    req = await birth(samples)
    await fault(admin, "civil-status", error_rate=1.0, error_after_apply=True)
    err = await refused(civil_status.register_birth, req)
    assert (err.type, err.non_retryable) == ("Unavailable", False)
    await admin.delete("/_admin/faults")
    done = await run(civil_status.register_birth, req)
    entries = await ledger(admin, "civil-status", req.idempotency_key)
    assert [e["response"]["child_pid"] for e in entries] == [done.child_pid]


async def test_civil_status_same_key_other_body_conflicts(
    admin: httpx.AsyncClient, samples: dict[str, Any]
) -> None:
    req = await birth(samples)
    await run(civil_status.register_birth, req)
    child = req.child.model_copy(update={"full_name": "Nguyễn Văn Bình"})
    err = await refused(civil_status.register_birth, req.model_copy(update={"child": child}))
    assert (err.type, err.non_retryable) == ("IdempotencyConflict", True)


async def test_civil_status_marriage_refused_when_married(
    admin: httpx.AsyncClient, samples: dict[str, Any]
) -> None:
    husband, wife = samples["unmarried_men"][0], samples["unmarried_women"][0]
    commune = samples["mother_with_birth_certificate"][0]["commune_code"]
    req = civil_status.RegisterMarriageInput(
        idempotency_key=key(), husband_pid=husband, wife_pid=wife, commune_code=commune
    )
    await assert_once(admin, "civil-status", civil_status.register_marriage, req)
    again = req.model_copy(update={"idempotency_key": key()})
    err = await refused(civil_status.register_marriage, again)
    assert (err.type, err.non_retryable) == ("NotEligible", True)
    assert err.message == (
        "civil_status marriage registration: not_eligible (HTTP 422): a spouse is already married"
    )
    assert await ledger(admin, "civil-status", again.idempotency_key) == []


async def test_civil_status_death_once(admin: httpx.AsyncClient, samples: dict[str, Any]) -> None:
    sample = samples["death_notice_pending"][0]
    lookup = health.GetDeathNoticeInput(notice_no=sample["notice_no"])
    notice = await run(health.get_death_notice, lookup)
    req = civil_status.RegisterDeathInput(
        idempotency_key=key(),
        pid=notice.pid,
        death_date=notice.death_date,
        place_of_death=notice.place_of_death,
        death_notice_no=notice.notice_no,
        commune_code=sample["commune_code"],
    )
    await assert_once(admin, "civil-status", civil_status.register_death, req)
    person = await run(population.get_citizen, population.GetCitizenInput(pid=notice.pid))
    assert (person.alive, person.death_date) == (False, notice.death_date)


async def test_civil_status_not_found_and_unavailable(admin: httpx.AsyncClient) -> None:
    req = civil_status.GetRegistrationInput(registration_no="KS.NONE")
    err = await refused(civil_status.get_registration, req)
    assert (err.type, err.non_retryable) == ("NotFound", True)
    await assert_unavailable(admin, "civil-status", civil_status.get_registration, req)


async def test_civil_status_write_during_outage_applies_nothing(
    admin: httpx.AsyncClient, samples: dict[str, Any]
) -> None:
    req = await birth(samples)
    await assert_unavailable(admin, "civil-status", civil_status.register_birth, req)
    assert await ledger(admin, "civil-status", req.idempotency_key) == []


# ---------------------------------------------------------------- residence


def move_in(pid: str, samples: dict[str, Any]) -> residence.RegisterPermanentInput:
    return residence.RegisterPermanentInput(
        idempotency_key=key(),
        pid=pid,
        address=residence.StreetAddress(
            street="Số 12 ngõ 34 phố Láng",
            commune_code=samples["mother_with_birth_certificate"][0]["commune_code"],
        ),
        relation_to_head="chủ hộ",
    )


async def test_residence_register_once_then_cancelled(
    admin: httpx.AsyncClient, samples: dict[str, Any]
) -> None:
    born = await run(civil_status.register_birth, await birth(samples))
    err = await refused(residence.get_person, residence.GetPersonInput(pid=born.child_pid))
    assert (err.type, err.non_retryable) == ("NotFound", True)  # a newborn has no residence
    req = move_in(born.child_pid, samples)
    registered = await assert_once(admin, "residence", residence.register_permanent, req)
    person = await run(residence.get_person, residence.GetPersonInput(pid=born.child_pid))
    assert (person.status, person.household_id) == ("registered", registered.household_id)
    assert person.address.street == "Số 12 ngõ 34 phố Láng"
    cancel = residence.CancelRegistrationInput(
        idempotency_key=req.idempotency_key + ":undo",
        residence_no=registered.residence_no,
        reason="hồ sơ bị hủy",
    )
    cancelled = await assert_once(admin, "residence", residence.cancel_registration, cancel)
    assert (cancelled.kind, cancelled.cancelled) == ("permanent", True)


async def test_residence_deregister_once_then_refused(
    admin: httpx.AsyncClient, samples: dict[str, Any]
) -> None:
    pid = adult(samples)
    req = residence.DeregisterPermanentInput(idempotency_key=key(), pid=pid, reason="đã chết")
    done = await assert_once(admin, "residence", residence.deregister_permanent, req)
    assert done.deregistration_no
    person = await run(residence.get_person, residence.GetPersonInput(pid=pid))
    assert (person.status, person.household_id) == ("deregistered", None)
    again = req.model_copy(update={"idempotency_key": key()})
    err = await refused(residence.deregister_permanent, again)
    assert (err.type, err.non_retryable) == ("NotEligible", True)


async def test_residence_refusals(admin: httpx.AsyncClient, samples: dict[str, Any]) -> None:
    err = await refused(residence.get_person, residence.GetPersonInput(pid=UNKNOWN_PID))
    assert (err.type, err.non_retryable) == ("NotFound", True)
    req = move_in(adult(samples), samples)
    await run(residence.register_permanent, req)
    other = req.model_copy(update={"relation_to_head": "con"})
    err = await refused(residence.register_permanent, other)
    assert (err.type, err.non_retryable) == ("IdempotencyConflict", True)


async def test_residence_unavailable(admin: httpx.AsyncClient, samples: dict[str, Any]) -> None:
    req = residence.GetPersonInput(pid=adult(samples))
    await assert_unavailable(admin, "residence", residence.get_person, req)


# ---------------------------------------------------------------- social insurance


def child_card(pid: str, province: str) -> social_insurance.IssueChildCardInput:
    return social_insurance.IssueChildCardInput(
        idempotency_key=key(),
        child_pid=pid,
        primary_care_facility="Trạm y tế xã",
        province_code=province,
    )


async def test_social_insurance_child_card_once_then_revoked(
    admin: httpx.AsyncClient, samples: dict[str, Any]
) -> None:
    child = samples["child_under_6"][0]
    look = population.GetCitizenInput(pid=child)
    province = (await run(population.get_citizen, look)).address.province_code
    req = child_card(child, province)
    card = await assert_once(admin, "social-insurance", social_insurance.issue_child_card, req)
    assert card.card_no == f"TE1{province}{card.social_insurance_no}"
    assert card.valid_from < card.valid_to
    get = social_insurance.GetCardInput(card_no=card.card_no)
    got = await run(social_insurance.get_card, get)
    assert (got.child_pid, got.status) == (child, "active")
    revoke = social_insurance.RevokeCardInput(
        idempotency_key=req.idempotency_key + ":undo", card_no=card.card_no, reason="hủy hồ sơ"
    )
    await assert_once(admin, "social-insurance", social_insurance.revoke_card, revoke)
    assert (await run(social_insurance.get_card, get)).status == "revoked"


async def test_social_insurance_refusals(admin: httpx.AsyncClient, samples: dict[str, Any]) -> None:
    older = samples["child_6_or_older"][0]
    req = child_card(older, "01")
    err = await refused(social_insurance.issue_child_card, req)
    assert (err.type, err.non_retryable) == ("NotEligible", True)
    assert err.message.endswith("the child is 6 or older")
    living = adult(samples)
    claim = social_insurance.ClaimFuneralInput(
        idempotency_key=key(), deceased_pid=living, claimant_pid=living, kind="funeral"
    )
    err = await refused(social_insurance.claim_funeral, claim)
    assert (err.type, err.non_retryable) == ("NotEligible", True)
    assert await ledger(admin, "social-insurance", claim.idempotency_key) == []
    missing = social_insurance.GetCardInput(card_no="TE1010000000000")
    err = await refused(social_insurance.get_card, missing)
    assert (err.type, err.non_retryable) == ("NotFound", True)


async def test_social_insurance_funeral_claim_once(
    admin: httpx.AsyncClient, samples: dict[str, Any]
) -> None:
    deceased = samples["dead_with_death_notice"][0]["pid"]
    req = social_insurance.ClaimFuneralInput(
        idempotency_key=key(), deceased_pid=deceased, claimant_pid=adult(samples), kind="funeral"
    )
    claim = await assert_once(admin, "social-insurance", social_insurance.claim_funeral, req)
    assert (claim.status, claim.amount_vnd) == ("approved", 23_400_000)


async def test_social_insurance_unavailable(admin: httpx.AsyncClient) -> None:
    req = social_insurance.GetCardInput(card_no="TE1010000000000")
    await assert_unavailable(admin, "social-insurance", social_insurance.get_card, req)


# ---------------------------------------------------------------- health


async def test_health_documents(admin: httpx.AsyncClient, samples: dict[str, Any]) -> None:
    sample = samples["mother_with_birth_certificate"][0]
    req = health.GetBirthCertificateInput(certificate_no=sample["certificate_no"])
    cert = await run(health.get_birth_certificate, req)
    assert isinstance(cert, health.BirthCertificate)
    assert cert.mother_pid == sample["mother_pid"]
    sample = samples["death_notice_pending"][0]
    look = health.GetDeathNoticeInput(notice_no=sample["notice_no"])
    notice = await run(health.get_death_notice, look)
    assert (notice.pid, notice.death_date.isoformat()) == (sample["pid"], sample["death_date"])


async def test_health_not_found_and_unavailable(
    admin: httpx.AsyncClient, samples: dict[str, Any]
) -> None:
    req = health.GetDeathNoticeInput(notice_no="GBT.NONE")
    err = await refused(health.get_death_notice, req)
    assert (err.type, err.non_retryable) == ("NotFound", True)
    cert_no = samples["mother_with_birth_certificate"][0]["certificate_no"]
    look = health.GetBirthCertificateInput(certificate_no=cert_no)
    await assert_unavailable(admin, "health", health.get_birth_certificate, look)


# ---------------------------------------------------------------- in a real workflow

LOOKUP = """
id: vn.test.citizen_lookup
version: 1
title: Tra cứu công dân
agency: commune
sla: {working_days: 1}
input:
  pid: {type: pid}
steps:
  - id: citizen
    call: population.get_citizen
    with: {pid: "{{ input.pid }}"}
    retry: {max_attempts: 2, initial_interval: 1s}
output: {name: "{{ citizen.full_name }}", commune: "{{ citizen.address.commune_code }}"}
"""


async def test_workflow_stalls_in_outage_and_completes_after_retry(
    ts_env: WorkflowEnvironment, admin: httpx.AsyncClient, samples: dict[str, Any]
) -> None:
    pid = adult(samples)
    procedure = CompiledProcedure.of(ProcedureDefinition.model_validate(yaml.safe_load(LOOKUP)))
    await fault(admin, "population", outage=True)
    async with new_worker(ts_env.client) as worker:
        handle = await start_case(ts_env.client, worker, procedure, {"pid": pid})
        state = await state_when(handle, lambda s: s.status == CaseStatus.stalled)
        stall = state.stalls[0]
        assert (stall.step_id, stall.activity, stall.attempts) == (
            "citizen",
            "population.get_citizen",
            2,
        )
        assert "population citizen look-up: unavailable (HTTP 503)" in stall.error
        assert pid not in stall.error
        await admin.delete("/_admin/faults")
        retry = ResumeInput(
            step_id="citizen", action="retry", actor="cb02", reason="CSDL dân cư đã hoạt động"
        )
        await handle.execute_update(ProcedureWorkflow.resume, retry)
        result: CaseResult = await handle.result()
    citizen = await run(population.get_citizen, population.GetCitizenInput(pid=pid))
    assert result.status == CaseStatus.completed
    assert result.output == {"name": citizen.full_name, "commune": citizen.address.commune_code}
