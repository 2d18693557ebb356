"""The stalled list, and resuming one case or every case stalled on one activity.

A stalled case belongs to the agency that received its dossier (the dossier code's
prefix), which is also whose officers a case that checks tokens lets resume it (ADR 0013).
Visibility lists the running cases of that agency whose CaseStatus is `stalled`; each
case's `state` names the stalled steps, their activity, error and attempts. (A bundle is
stalled when a member is: the member case is listed with the step that stalled, the
bundle itself holds no stall and is left out.)

Resuming is safe to repeat: the case's validator accepts one resume per stall (it refuses
a step that is no longer stalled, or whose resume is accepted and not yet acted on), so a
repeated or concurrent request skips a case already resumed. A step that stalls again
after a retry is a new stall, which a new resume answers.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from motcua.workflows.contracts import CaseState, CaseStatus, ResumeAction, ResumeInput, Stall
from motcua.worklists.errors import WorkRefused, on_case
from motcua.worklists.listing import RPC_TIMEOUT, CaseFilter, every_case, list_cases, received_by
from motcua.worklists.states import CONCURRENCY, states_of

if TYPE_CHECKING:
    from temporalio.client import Client


class StalledStep(BaseModel):
    """A stalled step of a case (the registry adapters' errors carry no personal data)."""

    dossier_code: str
    procedure_id: str
    step_id: str
    activity: str
    error: str
    attempts: int = Field(description="Attempts made; 0: retried for its whole window")
    since: datetime
    skippable: bool


class StalledPage(BaseModel):
    stalled: list[StalledStep]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; none when this was the last"
    )
    unanswered: list[str] = Field(
        default_factory=list, description="Stalled cases that did not answer in time"
    )


class ResumeOutcome(BaseModel):
    dossier_code: str
    step_id: str
    outcome: Literal["resumed", "skipped", "refused", "would_resume"]
    detail: str = Field("", description="Why skipped or refused; for would_resume, the error")


class BulkResume(BaseModel):
    activity: str
    action: ResumeAction
    outcomes: list[ResumeOutcome]
    unanswered: list[str] = Field(
        default_factory=list, description="Stalled cases that did not answer: not resumed"
    )

    @property
    def resumed(self) -> int:
        return sum(o.outcome == "resumed" for o in self.outcomes)


def on_activity(stall: Stall, activity: str | None) -> bool:
    """Whether `stall` is on `activity`: a name (population.get_citizen), or a registry's
    family ending in '.' (population.), as in the language's `retries:`."""
    if not activity:
        return True
    if activity.endswith("."):
        return stall.activity.startswith(activity)
    return stall.activity == activity


def stalled_steps(state: CaseState, activity: str | None = None) -> list[StalledStep]:
    return [
        StalledStep(
            dossier_code=state.dossier_code,
            procedure_id=state.procedure_id,
            step_id=s.step_id,
            activity=s.activity,
            error=s.error,
            attempts=s.attempts,
            since=s.since,
            skippable=s.skippable,
        )
        for s in state.stalls
        if on_activity(s, activity)
    ]


def _filter(agency: str) -> CaseFilter:
    return CaseFilter(statuses=[CaseStatus.stalled], received_by=agency)


async def stalled(
    client: Client,
    *,
    agency: str,
    activity: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> StalledPage:
    """One page of the stalled steps in the cases `agency` received."""
    page = await list_cases(client, _filter(agency), limit=limit, cursor=cursor)
    states, unanswered = await states_of(client, [r.dossier_code for r in page.rows])
    steps = [s for state in states.values() for s in stalled_steps(state, activity)]
    return StalledPage(stalled=steps, next_cursor=page.next_cursor, unanswered=unanswered)


def check_agency(code: str, agency: str | None) -> None:
    """Only officers of the agency that received a dossier resume its case."""
    if agency is None or received_by(code) != agency:
        raise WorkRefused(
            "forbidden",
            f"case {code} was not received by your agency {agency or '(none)'}: "
            "its officers resume it",
        )


async def _send(client: Client, code: str, resume: ResumeInput) -> None:
    handle = client.get_workflow_handle(code)
    await on_case(code, handle.execute_update("resume", resume, rpc_timeout=RPC_TIMEOUT))


async def resume(
    client: Client,
    code: str,
    *,
    agency: str | None,
    step: str,
    action: ResumeAction,
    actor: str,
    reason: str,
    result: dict[str, Any] | None = None,
    token: str | None = None,
) -> ResumeOutcome:
    """Resume the stalled `step` of case `code` (WorkRefused when refused)."""
    check_agency(code, agency)
    req = ResumeInput(
        step_id=step, action=action, actor=actor, reason=reason, result=result, token=token
    )
    await _send(client, code, req)
    return ResumeOutcome(dossier_code=code, step_id=step, outcome="resumed")


async def resume_all(
    client: Client,
    *,
    agency: str,
    activity: str,
    action: ResumeAction,
    actor: str,
    reason: str,
    result: dict[str, Any] | None = None,
    token: str | None = None,
    dry_run: bool = False,
) -> BulkResume:
    """Resume every step stalled on `activity` in the cases `agency` received, with one
    reason recorded on each; a case already resumed is skipped. `dry_run`: only list."""
    if not activity.strip():
        raise WorkRefused("invalid", "name the activity the cases stalled on")
    rows = await every_case(client, _filter(agency), now=datetime.now(UTC))
    states, unanswered = await states_of(client, [r.dossier_code for r in rows])
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(code: str, stall: Stall) -> ResumeOutcome:
        outcome = ResumeOutcome(dossier_code=code, step_id=stall.step_id, outcome="resumed")
        if dry_run:
            return outcome.model_copy(update={"outcome": "would_resume", "detail": stall.error})
        req = ResumeInput(
            step_id=stall.step_id, action=action, actor=actor, reason=reason, result=result,
            token=token,
        )  # fmt: skip
        async with gate:
            try:
                await _send(client, code, req)
            except WorkRefused as e:
                if e.kind in ("conflict", "closed"):  # resumed meanwhile, or ended
                    return outcome.model_copy(update={"outcome": "skipped", "detail": e.message})
                return outcome.model_copy(update={"outcome": "refused", "detail": e.message})
        return outcome

    work = [
        one(code, stall)
        for code, state in states.items()
        for stall in state.stalls
        if on_activity(stall, activity)
    ]
    outcomes = list(await asyncio.gather(*work))
    return BulkResume(activity=activity, action=action, outcomes=outcomes, unanswered=unanswered)
