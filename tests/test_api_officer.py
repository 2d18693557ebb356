"""Officers and supervisors over HTTP, on Temporal's dev server (visibility with our search
attributes) with a real worker: the inbox, deciding, the stalled list and bulk resume
after a real registry outage in the sandbox, and the same from `motcua cases/resume-all`."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from click.testing import CliRunner, Result
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from motcua.api.identity import case_trust, issue_token
from motcua.cli import main
from motcua.workflows.contracts import CaseResult, CaseStatus
from motcua.worklists.overdue import overdue
from tests.api_client import open_api
from tests.helpers import TEST_HEADER, compiled, eventually, new_worker, start_case, state_when
from tests.sandbox_server import sandbox_fixture

HEADER = TEST_HEADER.replace("roles: [officer]", "roles: [civil_status_officer, commune_chair]")
REVIEW = """
steps:
  - id: review
    task:
      role: civil_status_officer
      agency: {agency}
      actions: [approve, reject, request_supplement]
      sla: {{working_days: 2}}
      escalate_to: commune_chair
"""
LOOKUP = """
steps:
  - id: citizen
    call: population.get_citizen
    with: {pid: "{{ input.pid }}"}
    retry: {max_attempts: 2, initial_interval: 1s}
output: {commune: "{{ citizen.address.commune_code }}"}
"""
PID = "001203000123"


def agency() -> str:
    """An agency of this test alone: the dev server is shared with the rest of the suite."""
    return f"UBND-T{uuid.uuid4().hex[:6].upper()}"


def code_of(agency: str) -> str:
    return f"{agency}-261123-{random.randrange(10**6):06d}"


def bearer(sub: str, role: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(sub, role, **claims)}"}


def officer(agency: str, sub: str = "cb.hotich.01", roles: tuple[str, ...] = ()) -> dict[str, str]:
    return bearer(sub, "officer", agency=agency, officer_roles=roles or ("civil_status_officer",))


@pytest_asyncio.fixture
async def api(local_env: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    """The API in this event loop, holding the test server's client."""
    async with open_api(local_env.client) as c:
        yield c


async def inbox_codes(api: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> set[str]:
    reply = await api.get("/inbox", headers=headers, params=params)
    assert reply.status_code == 200, reply.text
    return {t["dossier_code"] for t in reply.json()["tasks"]}


async def history_length(client: Client, code: str) -> int:
    return len((await client.get_workflow_handle(code).fetch_history()).events)


# ---------------------------------------------------------------- inbox and decisions


@pytest.mark.timeout(120)
async def test_an_officer_sees_a_task_in_the_inbox_and_decides_it(
    local_env: WorkflowEnvironment, api: httpx.AsyncClient
) -> None:
    client, ours, theirs = local_env.client, agency(), agency()
    procedure = compiled("inbox", REVIEW.format(agency=ours), HEADER)
    async with new_worker(client) as worker:
        code = code_of(ours)
        # The case checks the officer's token itself (ADR 0013): the API passes it on.
        handle = await start_case(
            client, worker, procedure, {"pid": PID}, code=code, trust=case_trust()
        )
        await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)

        async def listed() -> list[dict[str, Any]]:
            reply = await api.get("/inbox", headers=officer(ours))
            assert reply.status_code == 200, reply.text
            tasks: list[dict[str, Any]] = reply.json()["tasks"]
            return tasks

        [task] = await eventually(listed, lambda ts: any(t["dossier_code"] == code for t in ts))
        assert task["step_id"] == "review" and task["agency"] == ours
        assert task["decide_as"] == "civil_status_officer"
        assert task["waiting_for"] == "officer" and task["case_status"] == "waiting_officer"
        assert task["actions"] == ["approve", "reject", "request_supplement"]
        assert task["due_at"] and task["case_due_at"] and not task["overdue"]
        assert PID not in str(task)

        # A supervisor of the agency sees every role's tasks, and may decide none of them.
        boss = bearer("ld.01", "supervisor", agency=ours)
        [seen] = (await api.get("/inbox", headers=boss)).json()["tasks"]
        assert (seen["dossier_code"], seen["decide_as"]) == (code, None)

        # Another agency's officer neither sees the task nor may decide it.
        assert code not in await inbox_codes(api, officer(theirs))
        before = await history_length(client, code)
        url = f"/cases/{code}/tasks/review/decide"
        foreign = await api.post(url, headers=officer(theirs), json={"action": "approve"})
        assert foreign.status_code == 403
        assert foreign.json()["detail"] == (
            f"task 'review' is for {ours}, not for your agency {theirs}"
        )
        # Nor does one of this agency without the role.
        police = officer(ours, roles=("police_officer",))
        no_role = await api.post(url, headers=police, json={"action": "approve"})
        assert no_role.status_code == 403
        assert no_role.json()["detail"] == (
            "task 'review' needs the role civil_status_officer; your roles: police_officer"
        )
        assert await history_length(client, code) == before

        # Role, agency and actor come from the token: a body naming them is refused.
        smuggled = {"action": "approve", "role": "commune_chair", "agency": ours}
        assert (await api.post(url, headers=officer(ours), json=smuggled)).status_code == 422

        # The case's validator judges the rest; its words come back.
        wrong = await api.post(url, headers=officer(ours), json={"action": "publish"})
        assert wrong.status_code == 422
        assert wrong.json()["detail"] == (
            "action 'publish' is not allowed; allowed: approve, reject, request_supplement"
        )
        empty = await api.post(url, headers=officer(ours), json={"action": "request_supplement"})
        assert empty.status_code == 422
        assert empty.json()["detail"] == "request_supplement must list what is missing"
        assert await history_length(client, code) == before

        done = await api.post(
            url, headers=officer(ours), json={"action": "approve", "comment": "Hồ sơ hợp lệ"}
        )
        assert done.status_code == 200, done.text
        decision = done.json()
        assert (decision["actor"], decision["role"], decision["agency"]) == (
            "cb.hotich.01", "civil_status_officer", ours,
        )  # fmt: skip
        result: CaseResult = await handle.result()
        again = await api.post(url, headers=officer(ours), json={"action": "approve"})
        state = await state_when(handle, lambda s: True)
    assert result.status == CaseStatus.completed
    assert again.status_code == 409 and "no open task 'review'" in again.json()["detail"]
    assert [(d.actor, d.action, d.comment) for d in state.decisions] == [
        ("cb.hotich.01", "approve", "Hồ sơ hợp lệ")
    ]


async def test_a_citizen_token_is_refused_everywhere(api: httpx.AsyncClient) -> None:
    citizen = bearer(PID, "citizen")
    calls = [
        ("GET", "/inbox", None),
        ("POST", "/cases/UBND-00070-261123-0001/tasks/review/decide", {"action": "approve"}),
        ("GET", "/stalled", None),
        ("POST", "/cases/UBND-00070-261123-0001/resume",
         {"step": "citizen", "action": "retry", "reason": "x"}),
        ("POST", "/stalled/resume", {"activity": "population.get_citizen", "reason": "x"}),
        ("GET", "/supervision/overdue", None),
    ]  # fmt: skip
    for method, url, body in calls:
        reply = await api.request(method, url, headers=citizen, json=body)
        assert reply.status_code == 403, (url, reply.text)
        assert "your role is citizen" in reply.json()["detail"]
        assert PID not in reply.text
    unsigned = await api.get("/inbox")
    assert unsigned.status_code == 401
    # Overdue work is the supervisors' to read.
    overdue = await api.get("/supervision/overdue", headers=officer("UBND-00070"))
    assert overdue.json()["detail"] == "only supervisor may do this; your role is officer"


@pytest.mark.timeout(120)
async def test_the_inbox_filters_and_pages(
    local_env: WorkflowEnvironment, api: httpx.AsyncClient
) -> None:
    client, ours = local_env.client, agency()
    procedure = compiled("inbox_pages", REVIEW.format(agency=ours), HEADER)
    async with new_worker(client) as worker:
        codes = {code_of(ours) for _ in range(3)}
        for code in codes:
            handle = await start_case(client, worker, procedure, {"pid": PID}, code=code)
            await state_when(handle, lambda s: s.status == CaseStatus.waiting_officer)
        me = officer(ours)
        await eventually(lambda: inbox_codes(api, me), lambda found: found == codes)

        seen: list[str] = []
        cursor: str | None = None
        for _ in range(10):
            params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await api.get("/inbox", headers=me, params=params)).json()
            assert len(page["tasks"]) <= 2
            seen += [t["dossier_code"] for t in page["tasks"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(codes)  # each case once, over pages

        assert await inbox_codes(api, me, procedure="vn.test.inbox_pages") == codes
        assert await inbox_codes(api, me, procedure="vn.test.other") == set()
        assert await inbox_codes(api, me, overdue="true") == set()  # the legal deadline is ahead
        past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        assert await inbox_codes(api, me, due_before=past) == set()
        ahead = (datetime.now(UTC) + timedelta(days=60)).isoformat()
        assert await inbox_codes(api, me, due_before=ahead) == codes
        assert await inbox_codes(api, me, status="waiting_citizen") == set()
        # A cursor is good for the listing that handed it out only.
        first = (await api.get("/inbox", headers=me, params={"limit": 1})).json()["next_cursor"]
        other = {"limit": 1, "cursor": first, "procedure": "vn.test.other"}
        for params in ({"cursor": "%%%"}, {"cursor": "bm90LWEtdG9rZW4"}, other):
            bad = await api.get("/inbox", headers=me, params=params)
            assert bad.status_code == 422, bad.text
            assert bad.json()["detail"] == "cursor is not one this listing handed out"

        # Supervisors: nothing overdue today; they assign one task to another officer.
        boss = bearer("ld.01", "supervisor", agency=ours)
        report = (await api.get("/supervision/overdue", headers=boss)).json()
        assert report["groups"] == [] and report["agency"] == ours
        given = sorted(codes)[0]
        path = f"/cases/{given}/tasks/review/assign"
        body = {"officer": "cb.hotich.02", "reason": "cân bằng công việc"}
        assert (await api.post(path, headers=me, json=body)).status_code == 403  # not a boss
        them = bearer("ld.02", "supervisor", agency=agency())
        assert (await api.post(path, headers=them, json=body)).status_code == 403
        assigned = await api.post(path, headers=boss, json=body)
        assert assigned.status_code == 200, assigned.text
        assert assigned.json()["assignee"] == "cb.hotich.02"
        # In every inbox at once (the case wrote it before the Update returned).
        mine = (await api.get("/inbox", headers=me)).json()["tasks"]
        assert {t["dossier_code"]: t["decide_as"] for t in mine}[given] is None
        other = officer(ours, sub="cb.hotich.02")
        assert await inbox_codes(api, other, mine="true") == {given}
        assert await inbox_codes(api, me, mine="true") == set()
        refused = await api.post(
            f"/cases/{given}/tasks/review/decide", headers=me, json={"action": "approve"}
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["detail"] == "task 'review' is assigned to cb.hotich.02"
        # A month from now the tasks are overdue: per officer, the rest per role.
        later = await asyncio.to_thread(
            overdue, agency=ours, now=datetime.now(UTC) + timedelta(days=40)
        )
        decided = await api.post(
            f"/cases/{given}/tasks/review/decide", headers=other, json={"action": "approve"}
        )
        assert decided.status_code == 200, decided.text
        for code in codes - {given}:
            await client.get_workflow_handle(code).terminate("test finished")
    by_officer = {(g.officer, g.role): g.count for g in later.groups}
    assert by_officer == {("cb.hotich.02", None): 1, (None, "civil_status_officer"): 2}
    assert all(t.task_overdue and t.case_overdue for g in later.groups for t in g.tasks)
    assert later.by_officer == {"-": 2, "cb.hotich.02": 1}


# ---------------------------------------------------------------- stalled cases


sandbox = sandbox_fixture(seed=42, citizens=2_000)


@pytest_asyncio.fixture
async def outage(sandbox: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    """The registries pointed at the sandbox, and its admin client to break them."""
    monkeypatch.setenv("MOTCUA_SANDBOX_URL", sandbox)
    for name in ("POPULATION", "CIVIL_STATUS", "RESIDENCE", "SOCIAL_INSURANCE", "HEALTH"):
        monkeypatch.delenv(f"MOTCUA_{name}_URL", raising=False)
    async with httpx.AsyncClient(base_url=sandbox, timeout=10) as admin:
        (await admin.delete("/_admin/faults")).raise_for_status()
        yield admin
        (await admin.delete("/_admin/faults")).raise_for_status()


def cli(env: dict[str, str], *args: str) -> Result:
    return CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)


@pytest.mark.timeout(180)
async def test_stalled_cases_are_listed_and_bulk_resumed_once(
    local_env: WorkflowEnvironment, api: httpx.AsyncClient, outage: httpx.AsyncClient
) -> None:
    client, ours, theirs = local_env.client, agency(), agency()
    pid = (await outage.get("/_admin/samples")).json()["adult_with_household"][0]
    procedure = compiled("lookup", LOOKUP)
    reason = "CSDL quốc gia về dân cư đã hoạt động lại"
    await outage.put(
        "/_admin/faults/population", json={"latency_ms": 0, "error_rate": 0.0, "outage": True}
    )
    async with new_worker(client) as worker:
        handles = {}
        for code in (code_of(ours), code_of(ours), code_of(theirs)):
            handles[code] = await start_case(
                client, worker, procedure, {"pid": pid}, code=code, trust=case_trust()
            )
        for handle in handles.values():
            await state_when(handle, lambda s: s.status == CaseStatus.stalled)
        mine = {c for c in handles if c.startswith(ours)}
        [foreign] = set(handles) - mine

        async def stalled(headers: dict[str, str]) -> list[dict[str, Any]]:
            reply = await api.get("/stalled", headers=headers)
            assert reply.status_code == 200, reply.text
            found: list[dict[str, Any]] = reply.json()["stalled"]
            return found

        listed = await eventually(lambda: stalled(officer(ours)), lambda s: len(s) == 2)
        assert {s["dossier_code"] for s in listed} == mine
        for s in listed:
            assert (s["step_id"], s["activity"], s["attempts"]) == (
                "citizen", "population.get_citizen", 2,
            )  # fmt: skip
            assert "unavailable (HTTP 503)" in s["error"] and pid not in s["error"]
        assert [s["dossier_code"] for s in await stalled(officer(theirs))] == [foreign]

        # The terminal sees the same.
        env = {"TEMPORAL_ADDRESS": client.service_client.config.target_host}
        listing = await asyncio.to_thread(
            cli, env, "cases", "--agency", ours, "--status", "stalled"
        )
        assert listing.exit_code == 0, listing.output
        assert all(code in listing.output for code in mine) and foreign not in listing.output
        assert "tạm dừng do lỗi" in listing.output
        args = ["resume-all", "--activity", "population.get_citizen", "--reason", reason,
                "--actor", "cb.hotich.01", "--agency", ours]  # fmt: skip
        dry = await asyncio.to_thread(cli, env, *args, "--dry-run")
        assert dry.exit_code == 0, dry.output
        assert dry.output.count("would be resumed") == 2

        # An officer resumes only their agency's cases.
        one = {"step": "citizen", "action": "retry", "reason": reason}
        refused = await api.post(f"/cases/{foreign}/resume", headers=officer(ours), json=one)
        assert refused.status_code == 403

        await outage.delete("/_admin/faults")
        body = {"activity": "population.get_citizen", "action": "retry", "reason": reason}
        # Two requests at once (a double click), then a third: each case resumed once.
        replies = await asyncio.gather(
            *(api.post("/stalled/resume", headers=officer(ours), json=body) for _ in range(2))
        )
        assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
        resumed = sorted(
            o["dossier_code"]
            for r in replies
            for o in r.json()["outcomes"]
            if o["outcome"] == "resumed"
        )
        assert resumed == sorted(mine)
        skipped = [o for r in replies for o in r.json()["outcomes"] if o["outcome"] == "skipped"]
        assert all("is not stalled" in o["detail"] for o in skipped)
        again = await api.post("/stalled/resume", headers=officer(ours), json=body)
        assert again.status_code == 200
        assert [o for o in again.json()["outcomes"] if o["outcome"] == "resumed"] == []
        repeat = await asyncio.to_thread(cli, env, *args)
        assert repeat.exit_code == 0, repeat.output
        assert "resumed 0" in repeat.output

        results = {c: await handles[c].result() for c in mine}
        states = {c: await state_when(handles[c], lambda s: True) for c in mine}
        still = await state_when(handles[foreign], lambda s: True)
        theirs_resumed = await api.post(
            f"/cases/{foreign}/resume", headers=officer(theirs, sub="cb.khac.02"), json=one
        )
        foreign_result = await handles[foreign].result()
    assert all(r.status == CaseStatus.completed for r in results.values())
    for state in states.values():
        assert [(r.step_id, r.action, r.actor, r.reason) for r in state.resumes] == [
            ("citizen", "retry", "cb.hotich.01", reason)
        ]
    assert still.status == CaseStatus.stalled and still.resumes == []
    assert theirs_resumed.status_code == 200, theirs_resumed.text
    assert foreign_result.status == CaseStatus.completed
