"""The civil-status registrations already in the sandbox when it starts (issue 12, item 7):
their samples, a count and kinds to ask for, and paper-book numbers with a slash ("12/2001")
end to end: through the real adapter against the real sandbox server, a cancellation under
an idempotency key, the journal replayed after a restart, and `motcua samples`.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import pytest_asyncio
from click.testing import CliRunner
from fastapi.testclient import TestClient
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from motcua.activities.registries import civil_status
from motcua.cli import main
from motcua.sandbox.app import create_app
from motcua.sandbox.civil_register import PAPER_DAYS
from motcua.sandbox.data import VN_TZ, age_on
from motcua.sandbox.samples import REGISTRATIONS, samples
from motcua.sandbox.state import Sandbox
from tests.sandbox_server import sandbox_fixture

SEED, SIZE = 42, 2_000
TODAY = datetime.now(VN_TZ).date()  # the run's day, pinned so the CLI sees the same world
PAPER_NO = re.compile(r"^(\d+)/(\d{4})$")

sandbox = sandbox_fixture(seed=SEED, citizens=SIZE, today=TODAY)


@pytest_asyncio.fixture
async def admin(sandbox: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    """Adapters pointed at the sandbox; a client for its admin and ledger endpoints."""
    monkeypatch.setenv("MOTCUA_SANDBOX_URL", sandbox)
    monkeypatch.delenv("MOTCUA_CIVIL_STATUS_URL", raising=False)
    async with httpx.AsyncClient(base_url=sandbox, timeout=10) as client:
        yield client


async def run(fn: Callable[[Any], Awaitable[Any]], req: Any) -> Any:
    return await ActivityEnvironment().run(fn, req)


async def picked(admin: httpx.AsyncClient, kind: str, count: int = 5) -> list[dict[str, Any]]:
    answer = await admin.get("/_admin/samples", params={"count": count, "kind": kind})
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()[kind]
    return found


# ---------------------------------------------------------------- the adapter, end to end


async def test_paper_registration_found_by_its_number(admin: httpx.AsyncClient) -> None:
    """The adapter quotes "12/2001" as one path segment; the sandbox finds the entry."""
    paper = await picked(admin, "paper_registration", count=20)
    assert {p["kind"] for p in paper} >= {"birth", "marriage"}
    for sample in paper[:3]:
        assert PAPER_NO.match(sample["registration_no"]), sample["registration_no"]
        look = civil_status.GetRegistrationInput(registration_no=sample["registration_no"])
        found = await run(civil_status.get_registration, look)
        assert found.registration_no == sample["registration_no"]
        assert (found.kind, found.subject_pids) == (sample["kind"], sample["subject_pids"])
        assert found.registered_at.isoformat() == sample["registered_at"]
        assert not found.cancelled


async def test_unknown_paper_number_is_not_found_and_not_echoed(admin: httpx.AsyncClient) -> None:
    for number in ("99999/1901", "12/2001/cancellations", "12/2001?x=1"):
        look = civil_status.GetRegistrationInput(registration_no=number)
        with pytest.raises(ApplicationError) as caught:
            await run(civil_status.get_registration, look)
        assert (caught.value.type, caught.value.non_retryable) == ("NotFound", True)
        assert number not in str(caught.value)


async def test_paper_marriage_cancelled_once_by_its_number(admin: httpx.AsyncClient) -> None:
    sample = next(s for s in await picked(admin, "marriage_registration", count=50) if s["paper"])
    number = sample["registration_no"]
    cancel = civil_status.CancelRegistrationInput(
        idempotency_key=f"T00.1-261123-{uuid.uuid4().hex[:6]}:undo",
        registration_no=number,
        reason="đăng ký nhầm",
    )
    first = await run(civil_status.cancel_registration, cancel)
    again = await run(civil_status.cancel_registration, cancel)
    assert first == again and first.cancelled and first.registration_no == number
    ledger = (await admin.get("/civil-status/_ledger")).json()
    assert [e["operation"] for e in ledger if e["key"] == cancel.idempotency_key] == [
        "cancellation"
    ]
    look = civil_status.GetRegistrationInput(registration_no=number)
    assert (await run(civil_status.get_registration, look)).cancelled
    # The spouses are unmarried, and the registration leaves the samples.
    married = await picked(admin, "married", count=1000)
    assert {"husband_pid": sample["husband_pid"], "wife_pid": sample["wife_pid"]} not in married
    left = await picked(admin, "marriage_registration", count=1000)
    assert number not in {s["registration_no"] for s in left}


# ---------------------------------------------------------------- the samples


def test_registration_samples_are_the_same_on_any_day() -> None:
    """Another day gives the same registrations of the same people, their dates (and the
    year in a paper number) moved with the day."""
    later = TODAY + timedelta(days=400)
    now = samples(Sandbox(SEED, SIZE, TODAY), 40, REGISTRATIONS)
    then = samples(Sandbox(SEED, SIZE, later), 40, REGISTRATIONS)
    for kind in REGISTRATIONS:
        assert now[kind], kind
        assert len(now[kind]) == len(then[kind])
        for a, b in zip(now[kind], then[kind], strict=True):
            same = ("kind", "paper", "commune_code")
            assert [a[k] for k in same] == [b[k] for k in same]
            assert len(a["subject_pids"]) == len(b["subject_pids"])
            moved = datetime.fromisoformat(b["registered_at"]) - datetime.fromisoformat(
                a["registered_at"]
            )
            assert moved == timedelta(days=400)
            if a["paper"]:  # the same entry in the book
                assert a["registration_no"].split("/")[0] == b["registration_no"].split("/")[0]
            else:  # the same serial
                assert a["registration_no"][-6:] == b["registration_no"][-6:]
    electronic = [
        s for s in now["birth_registration"] + now["death_registration"] if not s["paper"]
    ]
    assert electronic


def test_registration_samples_fit_the_people() -> None:
    sb = Sandbox(SEED, SIZE, TODAY)
    found = samples(sb, 1000, REGISTRATIONS)
    people = sb.world.citizens
    kinds = ("birth_registration", "marriage_registration", "death_registration")
    for reg in (r for kind in kinds for r in found[kind]):
        on = datetime.fromisoformat(reg["registered_at"]).date()
        assert on.isoformat() == reg["registered_on"] and on < TODAY
        assert reg["paper"] == ((TODAY - on).days > PAPER_DAYS)
        paper = PAPER_NO.match(reg["registration_no"])
        assert bool(paper) == reg["paper"]
        if paper:
            assert int(paper.group(2)) == on.year
        subjects = [people[pid] for pid in reg["subject_pids"]]
        if reg["kind"] == "birth":
            assert subjects[0].birth_date < on and subjects[0].alive
        elif reg["kind"] == "death":
            assert subjects[0].death_date is not None and subjects[0].death_date <= on
        else:
            husband, wife = subjects
            assert (husband.spouse_pid, wife.spouse_pid) == (wife.pid, husband.pid)
            assert age_on(husband.birth_date, on) >= 20 and age_on(wife.birth_date, on) >= 18
    assert len(found["paper_registration"]) == 1000
    assert all(PAPER_NO.match(r["registration_no"]) for r in found["paper_registration"])
    # One entry per number (no two events drew the same one), every birth among them.
    assert all(no == reg.registration_no for no, reg in sb.registrations.items())
    births = sum(reg.kind == "birth" for reg in sb.registrations.values())
    assert births == len(people) == SIZE


def test_samples_take_a_count_and_kinds() -> None:
    with TestClient(create_app(SEED, SIZE, TODAY)) as client:
        answer = client.get(
            "/_admin/samples", params={"count": 3, "kind": ["paper_registration", "married"]}
        )
        assert answer.status_code == 200
        assert {k: len(v) for k, v in answer.json().items()} == {
            "paper_registration": 3,
            "married": 3,
        }
        unknown = client.get("/_admin/samples", params={"kind": "paper_registrations"})
        assert unknown.status_code == 422 and unknown.json()["error"] == "invalid"
        everything = client.get("/_admin/samples", params={"count": 2}).json()
        assert all(len(v) == 2 for v in everything.values()) and "birth_registration" in everything
        # The number works quoted as one segment, and as it is written.
        number = answer.json()["paper_registration"][0]["registration_no"]
        for path in (quote(number, safe=""), number):
            got = client.get(f"/civil-status/registrations/{path}")
            assert got.status_code == 200 and got.json()["registration_no"] == number


def test_new_registrations_are_numbered_after_the_books() -> None:
    app = create_app(SEED, SIZE, TODAY)
    with TestClient(app) as client:
        before = set(app.state.sandbox.registrations)
        pending = client.get("/_admin/samples", params={"kind": "death_notice_pending"}).json()
        notice = pending["death_notice_pending"][0]
        body = {
            "pid": notice["pid"],
            "death_date": notice["death_date"],
            "place_of_death": "Tại nhà",
            "death_notice_no": notice["notice_no"],
            "commune_code": notice["commune_code"],
        }
        done = client.post("/civil-status/deaths", json=body, headers={"Idempotency-Key": "k1"})
        assert done.status_code == 201, done.text
        number = done.json()["registration_no"]
        assert number not in before
        serials = [int(n[-6:]) for n in before if not PAPER_NO.match(n)]
        assert int(number[-6:]) == max(serials) + 1


def test_a_cancelled_paper_number_survives_a_restart(tmp_path: Path) -> None:
    journal = tmp_path / "sandbox.db"
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    with TestClient(create_app(SEED, SIZE, TODAY, journal)) as before:
        paper = before.get("/_admin/samples", params={"kind": "paper_registration"}).json()
        number = paper["paper_registration"][0]["registration_no"]
        url = f"/civil-status/registrations/{quote(number, safe='')}/cancellations"
        done = before.post(url, json={"reason": "nhầm"}, headers=headers)
        assert done.status_code == 200 and done.json()["cancelled"]
    with TestClient(create_app(SEED, SIZE, TODAY, journal)) as after:
        got = after.get(f"/civil-status/registrations/{quote(number, safe='')}").json()
        assert got["cancelled"]
        again = after.post(url, json={"reason": "nhầm"}, headers=headers)
        assert again.json() == done.json() and again.headers["Idempotent-Replayed"] == "true"


# ---------------------------------------------------------------- `motcua samples`


def test_cli_prints_what_the_sandbox_serves(sandbox: str) -> None:
    runner = CliRunner()
    here = runner.invoke(main, ["samples", "paper_registration", "married", "-n", "3"])
    assert here.exit_code == 0, here.output
    printed = json.loads(here.output)
    assert [len(printed[k]) for k in ("paper_registration", "married")] == [3, 3]
    assert all(PAPER_NO.match(s["registration_no"]) for s in printed["paper_registration"])
    # The same world as the sandbox server's (births: no other test here cancels one).
    args = ["samples", "birth_registration", "-n", "4"]
    generated = runner.invoke(main, [*args, "--today", TODAY.isoformat()])
    served = runner.invoke(main, [*args, "--url", sandbox])
    assert served.exit_code == 0, served.output
    assert json.loads(served.output) == json.loads(generated.output)
    wrong = runner.invoke(main, ["samples", "paper"])
    assert wrong.exit_code == 1 and "unknown sample kind 'paper'" in wrong.output
