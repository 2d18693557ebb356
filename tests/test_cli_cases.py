"""`motcua start/show/decide` against the real dev server, and the dossier code sequence."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from temporalio.testing import WorkflowEnvironment

from motcua import dossier_codes
from motcua.cli import main
from tests.helpers import ROOT, new_worker

DEMO = str(ROOT / "procedure_defs/examples/every_step.yaml")
DOSSIER = {
    "applicant_pid": "001203000123",
    "full_name": "Nguyễn Thị Hoa",
    "commune_code": "00001",
    "email": "hoa@example.vn",
}
CODE = re.compile(r"^UBND-00001-\d{6}-\d{4}$")


def invoke(env: dict[str, str], *args: str) -> Result:
    return CliRunner(env=env).invoke(main, list(args), catch_exceptions=False)


async def cli(env: dict[str, str], *args: str) -> Result:
    # The commands call asyncio.run themselves: run them off this test's event loop.
    return await asyncio.to_thread(invoke, env, *args)


async def eventually_ok(env: dict[str, str], *args: str, until: str, tries: int = 150) -> Result:
    for _ in range(tries):
        result = await cli(env, *args)
        if result.exit_code == 0 and until in result.output:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"`{' '.join(args)}` never printed {until!r}; last: {result.output}")


@pytest.mark.timeout(180)
async def test_start_show_decide_a_bundle_case(local_env: WorkflowEnvironment) -> None:
    client = local_env.client
    worker = new_worker(client)
    env = {
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "MOTCUA_TASK_QUEUE": worker.task_queue,
    }
    async with worker:
        started = await cli(env, "start", DEMO, "--input", json.dumps(DOSSIER))
        assert started.exit_code == 0, started.output
        code = started.output.split()[2]
        assert CODE.match(code), started.output
        assert f"motcua show {code}" in started.output

        shown = await eventually_ok(env, "show", code, until="review: role civil_status_officer")
        assert "waiting_officer" in shown.output
        assert "at UBND-00001" in shown.output
        assert "giờ Việt Nam" in shown.output
        assert "History:" in shown.output and "workflow_execution_started" in shown.output
        assert "001203000123" not in shown.output  # no personal data in the rendering

        as_json = await cli(env, "show", code, "--json")
        assert json.loads(as_json.output)["open_tasks"][0]["step_id"] == "review"

        wrong = await cli(
            env, "decide", code, "review", "approve",
            "--role", "police_officer", "--agency", "UBND-00001", "--actor", "cb.1",
        )  # fmt: skip
        assert wrong.exit_code == 1
        assert "refused: role 'police_officer' may not decide 'review'" in wrong.output
        assert "Traceback" not in wrong.output

        ok = await cli(
            env, "decide", code, "review", "approve",
            "--role", "civil_status_officer", "--agency", "UBND-00001", "--actor", "cb.1",
            "--comment", "Hồ sơ hợp lệ",
        )  # fmt: skip
        assert ok.exit_code == 0, ok.output

        member = f"{code}.confirmation"
        await eventually_ok(env, "show", member, until="confirm: role police_officer")
        confirmed = await cli(
            env, "decide", member, "confirm", "approve",
            "--role", "police_officer", "--agency", "CA-00001", "--actor", "cb.2",
        )  # fmt: skip
        assert confirmed.exit_code == 0, confirmed.output

        done = await eventually_ok(env, "show", code, until="status        completed")
        assert f"{member}: completed" in done.output
        assert "review: approve by cb.1 (civil_status_officer at UBND-00001)" in done.output

        closed = await cli(
            env, "decide", code, "review", "approve",
            "--role", "civil_status_officer", "--agency", "UBND-00001", "--actor", "cb.1",
        )  # fmt: skip
        assert closed.exit_code == 1 and "Traceback" not in closed.output


@pytest.mark.timeout(60)
async def test_errors_are_messages_with_exit_1(
    local_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = {"TEMPORAL_ADDRESS": local_env.client.service_client.config.target_host}

    unknown = await cli(env, "show", "UBND-00001-261123-9999")
    assert unknown.exit_code == 1
    assert "no case with dossier code UBND-00001-261123-9999" in unknown.output

    bad = dict(DOSSIER, applicant_pid="12345", full_name=None)
    invalid = await cli(env, "start", DEMO, "--input", json.dumps(bad))
    assert invalid.exit_code == 1
    assert "applicant_pid: must be 12 digits" in invalid.output
    assert "full_name: required" in invalid.output
    assert "12345" not in invalid.output

    not_json = await cli(env, "start", DEMO, "--input", "{oops")
    assert not_json.exit_code == 1 and "--input is not valid JSON" in not_json.output

    broken = tmp_path / "broken.yaml"
    broken.write_text("id: vn.broken\nversion: 1\nsteps: 3\n", encoding="utf-8")
    diagnostics = await cli(env, "start", str(broken), "--input", "{}")
    assert diagnostics.exit_code == 1 and "is not a valid procedure" in diagnostics.output

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    down = await cli({"TEMPORAL_ADDRESS": f"127.0.0.1:{free}"}, "show", "X-261123-0001")
    assert down.exit_code == 1
    assert f"cannot reach Temporal at 127.0.0.1:{free}: is `make run` running?" in down.output


@pytest.mark.timeout(60)
def test_dossier_codes_format_and_daily_sequence(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'codes.db'}"
    # 23:30 UTC on a day of this run is already the next day in Vietnam.
    now = datetime.now(UTC).replace(hour=23, minute=30, second=0, microsecond=0)
    day = f"{now + timedelta(days=1):%y%m%d}"
    first = dossier_codes.next_code("UBND-00001", now=now, url=url)
    second = dossier_codes.next_code("UBND-00001", now=now, url=url)
    assert first == f"UBND-00001-{day}-0001"
    assert second == f"UBND-00001-{day}-0002"
    a, b = dossier_codes.parse(first), dossier_codes.parse(second)
    assert a is not None and b is not None and b.sequence == a.sequence + 1
    assert dossier_codes.next_code("CA-00001", now=now, url=url) == f"CA-00001-{day}-0001"
    tomorrow = now + timedelta(hours=17, minutes=30)  # 00:00 on the day after, in Vietnam
    after = f"{now + timedelta(days=2):%y%m%d}"
    assert dossier_codes.next_code("UBND-00001", now=tomorrow, url=url).endswith(f"-{after}-0001")
    assert dossier_codes.parse(f"{first}.confirmation") is None


@pytest.mark.timeout(60)
def test_concurrent_draws_never_repeat(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'codes.db'}"
    now = datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0)  # 10:00 in Vietnam
    with ThreadPoolExecutor(8) as pool:
        codes = list(
            pool.map(lambda _: dossier_codes.next_code("UBND-00002", now=now, url=url), range(60))
        )
    assert sorted(codes) == [f"UBND-00002-{now:%y%m%d}-{n:04d}" for n in range(1, 61)]


@pytest.mark.parametrize("agency", ["ubnd-1", "CCCD-001203000123", "UBND 1", "", "-UBND"])
def test_agency_codes_refuse_personal_or_malformed_values(agency: str) -> None:
    problem = dossier_codes.agency_problem(agency)
    assert problem is not None and (len(agency) < 3 or agency not in problem)
