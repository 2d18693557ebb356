"""Vietnam Social Security (BHXH): children's health insurance cards, funeral claims.

A child card is for a living, known child under 6: `TE1` + 2-digit province + the 10-digit
social insurance number (the province code followed by 8 random digits), valid from the
birth date until the day before the 6th birthday; one active card per child. A funeral or
survivor claim needs a dead deceased and a living claimant, once per deceased and kind.
Amounts are synthetic: the funeral allowance is 10 x the reference level (2,340,000 VND),
the monthly survivor allowance 50 % of it, the lump sum 1.5 months of a made-up average
salary per contribution year derived from the personal id.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import Field
from starlette.responses import Response

from motcua.sandbox.common import (
    Body,
    add_ledger,
    answer,
    invalid,
    not_eligible,
    not_found,
    sandbox_of,
    write,
)
from motcua.sandbox.data import age_on, years_before
from motcua.sandbox.state import Sandbox

SERVICE = "social-insurance"
router = APIRouter(prefix="/social-insurance")
add_ledger(router, SERVICE)

REFERENCE_LEVEL_VND = 2_340_000


class ChildCardIn(Body):
    child_pid: str
    primary_care_facility: str = Field(min_length=1)
    province_code: str


class FuneralClaimIn(Body):
    deceased_pid: str
    claimant_pid: str
    kind: Literal["funeral", "survivor_lump_sum", "survivor_monthly"]


class RevocationIn(Body):
    reason: str = Field(min_length=1)


def card_json(card: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in card.items() if k != "revoke_reason"}


@router.post("/child-cards")
async def issue_child_card(body: ChildCardIn, request: Request) -> Response:
    def apply(sb: Sandbox) -> tuple[int, Any]:
        if body.province_code not in sb.geo.provinces:
            raise invalid("unknown province code")
        child = sb.world.citizens.get(body.child_pid)
        if child is None:
            raise not_eligible("the child is not in the population database")
        if not child.alive:
            raise not_eligible("the child is recorded as dead")
        if age_on(child.birth_date, sb.today()) >= 6:
            raise not_eligible("the child is 6 or older")
        for card in sb.cards.values():
            if card["child_pid"] == child.pid and card["status"] == "active":
                raise not_eligible("the child already has an active card")
        while True:
            si_no = f"{body.province_code}{sb.rng.randrange(10**8):08d}"
            if si_no not in sb.social_insurance_nos:
                sb.social_insurance_nos.add(si_no)
                break
        card = {
            "card_no": f"TE1{body.province_code}{si_no}",
            "social_insurance_no": si_no,
            "child_pid": child.pid,
            "full_name": child.full_name,
            "primary_care_facility": body.primary_care_facility,
            "province_code": body.province_code,
            "valid_from": child.birth_date.isoformat(),
            "valid_to": (years_before(child.birth_date, -6) - timedelta(days=1)).isoformat(),
            "status": "active",
        }
        sb.cards[card["card_no"]] = card
        keys = ("card_no", "social_insurance_no", "valid_from", "valid_to")
        return 201, {k: card[k] for k in keys}

    return write(request, SERVICE, "child_card", body, apply)


def amount(pid: str, kind: str) -> int:
    if kind == "funeral":
        return 10 * REFERENCE_LEVEL_VND
    if kind == "survivor_monthly":
        return REFERENCE_LEVEL_VND // 2
    years = 5 + int(pid[-2:]) % 26
    salary = 6_000_000 + int(pid[-4:-2]) * 100_000
    return int(1.5 * salary * years)


@router.post("/funeral-claims")
async def claim_funeral(body: FuneralClaimIn, request: Request) -> Response:
    def apply(sb: Sandbox) -> tuple[int, Any]:
        deceased = sb.world.citizens.get(body.deceased_pid)
        if deceased is None:
            raise not_found("deceased")
        claimant = sb.world.citizens.get(body.claimant_pid)
        if claimant is None:
            raise not_found("claimant")
        if deceased.alive:
            raise not_eligible("the deceased is recorded as alive")
        if not claimant.alive:
            raise not_eligible("the claimant is recorded as dead")
        for claim in sb.claims.values():
            if claim["deceased_pid"] == deceased.pid and claim["kind"] == body.kind:
                raise not_eligible("this allowance was already claimed for the deceased")
        now = sb.now()
        claim_no = f"TT.{now.year}.{sb.next_seq('claim'):06d}"
        sb.claims[claim_no] = {
            "claim_no": claim_no,
            "deceased_pid": deceased.pid,
            "claimant_pid": claimant.pid,
            "kind": body.kind,
            "amount_vnd": amount(deceased.pid, body.kind),
            "status": "approved",
            "at": now.isoformat(),
        }
        return 201, {
            "claim_no": claim_no,
            "amount_vnd": sb.claims[claim_no]["amount_vnd"],
            "status": "approved",
        }

    return write(request, SERVICE, "funeral_claim", body, apply)


@router.get("/cards/{card_no}")
async def get_card(card_no: str, request: Request) -> Response:
    card = sandbox_of(request).cards.get(card_no)
    if card is None:
        raise not_found("card")
    return answer(200, card_json(card))


@router.post("/cards/{card_no}/revocations")
async def revoke_card(card_no: str, body: RevocationIn, request: Request) -> Response:
    def apply(sb: Sandbox) -> tuple[int, Any]:
        card = sb.cards.get(card_no)
        if card is None:
            raise not_found("card")
        if card["status"] != "revoked":
            card["status"] = "revoked"
            card["revoke_reason"] = body.reason
        return 200, card_json(card)

    return write(request, SERVICE, "revocation", body, apply)
