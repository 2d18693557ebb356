"""The sandbox registries against docs/sandbox-api.md, on a real subprocess server."""

from __future__ import annotations

import time
import unicodedata
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest

from motcua.sandbox import geo
from motcua.sandbox.data import age_on, generate, pid_matches
from tests.sandbox_server import sandbox_server

TODAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with sandbox_server(seed=42, citizens=3_000, today=TODAY) as url:
        yield url


@pytest.fixture(scope="module")
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=10) as client:
        yield client


@pytest.fixture(scope="module")
def samples(http: httpx.Client) -> dict[str, list[Any]]:
    answer = http.get("/_admin/samples", params={"count": 20})
    assert answer.status_code == 200
    body: dict[str, list[Any]] = answer.json()
    return body


@pytest.fixture(autouse=True)
def no_faults(http: httpx.Client) -> Iterator[None]:
    yield
    http.delete("/_admin/faults")


def key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


def ledger(http: httpx.Client, service: str) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = http.get(f"/{service}/_ledger").json()
    return body


# -- data -----------------------------------------------------------------------------------


def test_generation_is_deterministic_fast_and_well_formed() -> None:
    g = geo.load()
    started = time.perf_counter()
    world = generate(42, 10_000, TODAY, g)
    elapsed = time.perf_counter() - started
    assert elapsed < 3.0, f"10,000 citizens took {elapsed:.2f} s"
    again = generate(42, 10_000, TODAY, g)
    assert list(world.citizens.values()) == list(again.citizens.values())
    assert world.birth_certificates == again.birth_certificates
    assert list(generate(43, 10_000, TODAY, g).citizens) != list(world.citizens)
    assert len(world.citizens) == 10_000
    for c in world.citizens.values():
        assert pid_matches(c.pid, c.birth_date, c.sex), c.pid
        assert unicodedata.is_normalized("NFC", c.full_name)
        assert len(c.full_name.split()) >= 3
        assert c.commune_code in g.communes
        if c.phone:
            assert len(c.phone) == 10 and c.phone.startswith("0") and c.phone.isdigit()
    families = [c.full_name.split()[0] for c in world.citizens.values()]
    assert 0.3 < families.count("Nguyễn") / len(families) < 0.46
    assert any(not c.alive for c in world.citizens.values())
    assert any(age_on(c.birth_date, TODAY) < 6 for c in world.citizens.values())
    for cert in world.birth_certificates.values():
        assert world.citizens[cert.mother_pid].sex == "female"


def test_geography_is_the_2025_two_level_one() -> None:
    g = geo.load()
    assert len(g.provinces) == 34
    assert len(g.communes) == 3321
    assert g.provinces["01"].name == "Thành phố Hà Nội"
    assert g.provinces["79"].name == "Thành phố Hồ Chí Minh"
    assert all(unicodedata.is_normalized("NFC", c.name) for c in g.communes.values())
    assert len(geo.OLD_PROVINCE_CODES) == 63
    assert all(p.birth_code in geo.OLD_PROVINCE_CODES for p in g.provinces.values())


def test_healthz(http: httpx.Client) -> None:
    assert http.get("/healthz").json() == {"status": "ok", "citizens": 3000, "seed": 42}


# -- population and health ------------------------------------------------------------------


def test_citizen_and_household(http: httpx.Client, samples: dict[str, list[Any]]) -> None:
    pid = samples["adult_with_household"][0]
    citizen = http.get(f"/population/citizens/{pid}").json()
    assert set(citizen) == {
        "pid", "full_name", "birth_date", "sex", "ethnicity", "nationality", "address",
        "household_id", "phone", "email", "alive", "death_date",
    }  # fmt: skip
    assert set(citizen["address"]) == {
        "street", "commune_code", "commune_name", "province_code", "province_name",
    }  # fmt: skip
    household = http.get(f"/population/households/{citizen['household_id']}").json()
    assert pid in household["members"] and household["head_pid"] in household["members"]
    assert http.get("/population/citizens/000000000000").json()["error"] == "not_found"
    assert http.get("/population/households/HK-none").status_code == 404
    assert http.get("/population/nothing-here").status_code == 404


def test_health_records(http: httpx.Client, samples: dict[str, list[Any]]) -> None:
    m = samples["mother_with_birth_certificate"][0]
    cert = http.get(f"/health/birth-certificates/{m['certificate_no']}").json()
    assert cert["mother_pid"] == m["mother_pid"]
    assert set(cert["child"]) == {"birth_date", "sex", "place_of_birth"}
    d = samples["dead_with_death_notice"][0]
    notice = http.get(f"/health/death-notices/{d['notice_no']}").json()
    assert notice["pid"] == d["pid"]
    assert http.get("/health/birth-certificates/nope").status_code == 404
    assert http.get("/health/death-notices/nope").status_code == 404


# -- civil status ---------------------------------------------------------------------------


def birth_body(http: httpx.Client, m: dict[str, Any]) -> dict[str, Any]:
    cert = http.get(f"/health/birth-certificates/{m['certificate_no']}").json()
    return {
        "birth_certificate_no": m["certificate_no"],
        "child": {
            "full_name": "Nguyễn Ngọc Bảo An",
            "ethnicity": "Kinh",
            "nationality": "Việt Nam",
            **cert["child"],
        },
        "mother_pid": m["mother_pid"],
        "father_pid": m["father_pid"],
        "commune_code": m["commune_code"],
    }


def test_birth_idempotent_and_cancellable(
    http: httpx.Client, samples: dict[str, list[Any]]
) -> None:
    body = birth_body(http, samples["mother_with_birth_certificate"][1])
    headers = key()
    first = http.post("/civil-status/births", json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = http.post("/civil-status/births", json=body, headers=headers)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert [e["key"] for e in ledger(http, "civil-status")].count(headers["Idempotency-Key"]) == 1
    other = {**body, "child": {**body["child"], "full_name": "Trần Văn Khác"}}
    conflict = http.post("/civil-status/births", json=other, headers=headers)
    assert conflict.status_code == 422 and conflict.json()["error"] == "idempotency_conflict"
    twice = http.post("/civil-status/births", json=body, headers=key())
    assert twice.status_code == 422 and twice.json()["error"] == "not_eligible"

    result = first.json()
    child_pid = result["child_pid"]
    commune = geo.load().communes[body["commune_code"]]
    born = date.fromisoformat(body["child"]["birth_date"])
    assert pid_matches(child_pid, born, body["child"]["sex"])
    assert child_pid[:3] == "0" + commune.province_code
    child = http.get(f"/population/citizens/{child_pid}").json()
    mother = http.get(f"/population/citizens/{body['mother_pid']}").json()
    assert child["full_name"] == "Nguyễn Ngọc Bảo An" and child["household_id"] is None
    assert child["address"] == mother["address"]
    reg = http.get(f"/civil-status/registrations/{result['registration_no']}").json()
    assert reg["kind"] == "birth" and reg["subject_pids"] == [child_pid] and not reg["cancelled"]

    url = f"/civil-status/registrations/{result['registration_no']}/cancellations"
    cancel_key = key()
    cancelled = http.post(url, json={"reason": "khai sai"}, headers=cancel_key)
    assert cancelled.status_code == 200 and cancelled.json()["cancelled"] is True
    assert http.post(url, json={"reason": "khai sai"}, headers=cancel_key).json()["cancelled"]
    assert http.get(f"/population/citizens/{child_pid}").status_code == 404
    assert (
        http.post(
            "/civil-status/registrations/KS.0.0.0/cancellations",
            json={"reason": "x"},
            headers=key(),
        ).status_code
        == 404
    )


def test_birth_refusals(http: httpx.Client, samples: dict[str, list[Any]]) -> None:
    body = birth_body(http, samples["mother_with_birth_certificate"][2])
    no_key = http.post("/civil-status/births", json=body)
    assert no_key.status_code == 422 and no_key.json()["error"] == "invalid"
    bad = http.post("/civil-status/births", json={**body, "commune_code": "99999"}, headers=key())
    assert bad.status_code == 422 and bad.json()["error"] == "invalid"
    missing = http.post("/civil-status/births", json={"child": {}}, headers=key())
    assert missing.status_code == 422 and missing.json()["error"] == "invalid"
    unknown = {**body, "mother_pid": "001000000000"}
    assert http.post("/civil-status/births", json=unknown, headers=key()).status_code == 404


def test_death_and_funeral_claim(http: httpx.Client, samples: dict[str, list[Any]]) -> None:
    pending = samples["death_notice_pending"][0]
    claimant = samples["adult_with_household"][3]
    claim = {"deceased_pid": pending["pid"], "claimant_pid": claimant, "kind": "funeral"}
    alive = http.post("/social-insurance/funeral-claims", json=claim, headers=key())
    assert alive.status_code == 422 and alive.json()["error"] == "not_eligible"
    death = {
        "pid": pending["pid"],
        "death_date": pending["death_date"],
        "place_of_death": "Tại nhà",
        "death_notice_no": pending["notice_no"],
        "commune_code": pending["commune_code"],
    }
    registered = http.post("/civil-status/deaths", json=death, headers=key())
    assert registered.status_code == 201, registered.text
    assert http.get(f"/population/citizens/{pending['pid']}").json()["alive"] is False
    again = http.post("/civil-status/deaths", json=death, headers=key())
    assert again.status_code == 422 and again.json()["error"] == "not_eligible"
    paid = http.post("/social-insurance/funeral-claims", json=claim, headers=key())
    assert paid.status_code == 201 and paid.json()["status"] == "approved"
    assert paid.json()["amount_vnd"] == 23_400_000
    unknown = {**death, "pid": "001000000000"}
    assert http.post("/civil-status/deaths", json=unknown, headers=key()).status_code == 404


def test_marriage_rules(http: httpx.Client, samples: dict[str, list[Any]]) -> None:
    man, woman = samples["unmarried_men"][0], samples["unmarried_women"][0]
    commune = http.get(f"/population/citizens/{man}").json()["address"]["commune_code"]
    body = {"husband_pid": man, "wife_pid": woman, "commune_code": commune}
    done = http.post("/civil-status/marriages", json=body, headers=key())
    assert done.status_code == 201, done.text
    again = http.post("/civil-status/marriages", json=body, headers=key())
    assert again.json()["error"] == "not_eligible"
    young = {
        **body,
        "husband_pid": samples["under_age_men"][0],
        "wife_pid": samples["unmarried_women"][1],
    }
    assert http.post("/civil-status/marriages", json=young, headers=key()).json()["error"] == (
        "not_eligible"
    )
    dead = {**body, "husband_pid": samples["unmarried_men"][1], "wife_pid": samples["dead"][0]}
    assert http.post("/civil-status/marriages", json=dead, headers=key()).status_code in (422,)
    reg_no = done.json()["registration_no"]
    http.post(
        f"/civil-status/registrations/{reg_no}/cancellations", json={"reason": "x"}, headers=key()
    )
    redo = http.post("/civil-status/marriages", json=body, headers=key())
    assert redo.status_code == 201


# -- residence ------------------------------------------------------------------------------


def test_residence(http: httpx.Client, samples: dict[str, list[Any]]) -> None:
    pid = samples["adult_with_household"][5]
    before = http.get(f"/residence/persons/{pid}").json()
    assert before["status"] == "registered"
    body = {
        "pid": pid,
        "household_id": None,
        "address": {"street": "Số 5, đường Lê Lợi", "commune_code": "00070"},
        "relation_to_head": "Chủ hộ",
    }
    moved = http.post("/residence/permanent", json=body, headers=key())
    assert moved.status_code == 201, moved.text
    new_household = moved.json()["household_id"]
    assert http.get(f"/population/households/{new_household}").json()["members"] == [pid]
    assert http.get(f"/residence/persons/{pid}").json()["household_id"] == new_household
    url = f"/residence/registrations/{moved.json()['residence_no']}/cancellations"
    assert http.post(url, json={"reason": "nhầm"}, headers=key()).json()["cancelled"] is True
    assert http.get(f"/residence/persons/{pid}").json() == before
    gone = http.post(
        "/residence/permanent/deregistrations", json={"pid": pid, "reason": "x"}, headers=key()
    )
    assert gone.status_code == 201 and gone.json()["deregistration_no"]
    assert http.get(f"/residence/persons/{pid}").json()["status"] == "deregistered"
    twice = http.post(
        "/residence/permanent/deregistrations", json={"pid": pid, "reason": "x"}, headers=key()
    )
    assert twice.json()["error"] == "not_eligible"
    assert http.get("/residence/persons/000000000000").status_code == 404
    bad = {**body, "household_id": "HK-none"}
    assert http.post("/residence/permanent", json=bad, headers=key()).status_code == 404


# -- social insurance -----------------------------------------------------------------------


def test_child_card(http: httpx.Client, samples: dict[str, list[Any]]) -> None:
    child = samples["child_under_6"][0]
    body = {"child_pid": child, "primary_care_facility": "Trạm Y tế xã", "province_code": "01"}
    issued = http.post("/social-insurance/child-cards", json=body, headers=key())
    assert issued.status_code == 201, issued.text
    card = issued.json()
    assert card["card_no"] == "TE101" + card["social_insurance_no"]
    assert len(card["social_insurance_no"]) == 10
    born = date.fromisoformat(http.get(f"/population/citizens/{child}").json()["birth_date"])
    valid_to = date.fromisoformat(card["valid_to"])
    assert (
        age_on(born, valid_to) == 5
        and age_on(born, date.fromordinal(valid_to.toordinal() + 1)) == 6
    )
    assert http.get(f"/social-insurance/cards/{card['card_no']}").json()["status"] == "active"
    revoked = http.post(
        f"/social-insurance/cards/{card['card_no']}/revocations",
        json={"reason": "hủy"},
        headers=key(),
    )
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    older = {**body, "child_pid": samples["child_6_or_older"][0]}
    refused = http.post("/social-insurance/child-cards", json=older, headers=key())
    assert refused.status_code == 422 and refused.json()["error"] == "not_eligible"
    unknown = {**body, "child_pid": "001000000000"}
    assert (
        http.post("/social-insurance/child-cards", json=unknown, headers=key()).json()["error"]
        == "not_eligible"
    )
    assert http.get("/social-insurance/cards/TE1nope").status_code == 404


# -- gateways -------------------------------------------------------------------------------


def test_gateways_refuse_a_repeated_key(http: httpx.Client) -> None:
    headers = key()
    sms = {"to": "0912345678", "text": "Hồ sơ của bạn đã được tiếp nhận."}
    first = http.post("/gateways/sms/messages", json=sms, headers=headers)
    assert first.status_code == 201 and first.json()["status"] == "delivered"
    again = http.post("/gateways/sms/messages", json=sms, headers=headers)
    assert again.status_code == 409
    assert again.json()["error"] == "duplicate"
    assert again.json()["message_id"] == first.json()["message_id"]
    sent = http.get("/gateways/sms/messages").json()
    assert [m["message_id"] for m in sent].count(first.json()["message_id"]) == 1
    push = {"account_id": "vneid-1", "title": "Thông báo", "body": "Đã có kết quả."}
    assert http.post("/gateways/push/messages", json=push, headers=key()).status_code == 201
    assert http.get("/gateways/push/messages").json()[-1]["title"] == "Thông báo"
    assert (
        http.post("/gateways/sms/messages", json={**sms, "to": "12"}, headers=key()).status_code
        == 422
    )


# -- faults ---------------------------------------------------------------------------------


def test_faults(http: httpx.Client, samples: dict[str, list[Any]]) -> None:
    pid = samples["adult_with_household"][0]
    url = f"/population/citizens/{pid}"
    assert http.put("/_admin/faults/population", json={"outage": True}).status_code == 200
    down = http.get(url)
    assert down.status_code == 503 and down.json()["error"] == "unavailable"
    assert http.get("/population/_ledger").status_code == 200
    assert http.get("/healthz").status_code == 200
    http.put("/_admin/faults/population", json={"error_rate": 1.0})
    failed = http.get(url)
    assert failed.status_code == 500 and failed.json()["error"] == "error"
    http.put("/_admin/faults/population", json={"latency_ms": 300})
    started = time.perf_counter()
    assert http.get(url).status_code == 200
    assert time.perf_counter() - started >= 0.3
    assert http.get("/_admin/faults").json()["population"]["latency_ms"] == 300
    http.delete("/_admin/faults")
    assert http.get("/_admin/faults").json()["population"] == {
        "latency_ms": 0, "error_rate": 0.0, "outage": False, "error_after_apply": False,
    }  # fmt: skip
    assert http.put("/_admin/faults/nope", json={}).status_code == 404
    assert http.put("/_admin/faults/health", json={"error_rate": 2}).status_code == 422


def test_error_after_apply_then_idempotent_retry(http: httpx.Client) -> None:
    http.put("/_admin/faults/gateways", json={"error_rate": 1.0, "error_after_apply": True})
    headers = key()
    sms = {"to": "0987654321", "text": "Nhắc lịch hẹn."}
    assert http.post("/gateways/sms/messages", json=sms, headers=headers).status_code == 500
    http.delete("/_admin/faults")
    retry = http.post("/gateways/sms/messages", json=sms, headers=headers)
    assert retry.status_code == 409  # it was sent the first time: the retry is refused


def test_error_rate_draws_are_seeded(base_url: str) -> None:
    def draws(url: str) -> list[int]:
        with httpx.Client(base_url=url) as client:
            client.put("/_admin/faults/health", json={"error_rate": 0.5})
            codes = [client.get("/health/death-notices/x").status_code for _ in range(20)]
            client.delete("/_admin/faults")
            return codes

    first = draws(base_url)
    assert set(first) == {404, 500}
    assert draws(base_url) == first  # a new PUT restarts the service's seeded sequence
