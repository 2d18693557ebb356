"""Social insurance (BHXH): health insurance cards for children, funeral and survivor claims."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel
from temporalio import activity

from motcua.activities.base import ActivityInput
from motcua.activities.registries.http import call, payload, seg

REGISTRY = "social_insurance"


class IssueChildCardInput(ActivityInput):
    child_pid: str
    primary_care_facility: str
    province_code: str


class IssuedCard(BaseModel):
    card_no: str  # "TE1" + 2-digit province + 10-digit social insurance number
    social_insurance_no: str
    valid_from: date
    valid_to: date  # the day before the child's 6th birthday


class Card(IssuedCard):
    child_pid: str
    full_name: str
    primary_care_facility: str
    province_code: str
    status: Literal["active", "revoked"]


class ClaimFuneralInput(ActivityInput):
    deceased_pid: str
    claimant_pid: str
    kind: Literal["funeral", "survivor_lump_sum", "survivor_monthly"]


class Claim(BaseModel):
    claim_no: str
    amount_vnd: int
    status: Literal["approved"]


class GetCardInput(ActivityInput):
    card_no: str


class RevokeCardInput(ActivityInput):
    card_no: str
    reason: str


@activity.defn(name="social_insurance.issue_child_card")
async def issue_child_card(req: IssueChildCardInput) -> IssuedCard:
    """A health insurance card for a child under 6; NotEligible otherwise. Once per key."""
    return await call(
        IssuedCard,
        REGISTRY,
        "POST",
        "/child-cards",
        operation="child card issue",
        json=payload(req),
        idempotency_key=req.idempotency_key,
    )


@activity.defn(name="social_insurance.claim_funeral")
async def claim_funeral(req: ClaimFuneralInput) -> Claim:
    """A funeral allowance or survivor benefit claim; NotEligible while the deceased lives."""
    return await call(
        Claim,
        REGISTRY,
        "POST",
        "/funeral-claims",
        operation="funeral claim",
        json=payload(req),
        idempotency_key=req.idempotency_key,
    )


@activity.defn(name="social_insurance.get_card")
async def get_card(req: GetCardInput) -> Card:
    """The card `card_no`."""
    path = f"/cards/{seg(req.card_no)}"
    return await call(Card, REGISTRY, "GET", path, operation="card look-up")


@activity.defn(name="social_insurance.revoke_card")
async def revoke_card(req: RevokeCardInput) -> Card:
    """Revoke a card (what `compensate` calls), under the undo step's own key; the card."""
    return await call(
        Card,
        REGISTRY,
        "POST",
        f"/cards/{seg(req.card_no)}/revocations",
        operation="card revocation",
        json=payload(req, without=("card_no",)),
        idempotency_key=req.idempotency_key,
    )


ACTIVITIES: list[Any] = [issue_child_card, claim_funeral, get_card, revoke_card]
