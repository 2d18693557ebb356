"""Every scenario under scenarios/ runs as its own test; the scenario model and `describe`.

Each scenario runs on a fresh time-skipping server (MOTCUA_TEST_CLOCK moves it to another
day first); they share one sandbox (reset to a fresh world for each) and the session's SMTP
sink. tests/test_scenarios_any_day.py runs a subset on several awkward days.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from click.testing import CliRunner

from motcua.audit import archive
from motcua.audit.replay import replay
from motcua.cli.simulate import COMMANDS, describe
from motcua.simulate import ScenarioError, load_scenario
from motcua.simulate.runner import SharedRun, scenario_files
from tests.conftest import moved_clock

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = scenario_files([ROOT / "scenarios"]) if (ROOT / "scenarios").is_dir() else []
EXAMPLE = ROOT / "procedure_defs" / "examples" / "every_step.yaml"


@pytest_asyncio.fixture(scope="session")
async def scenario_run(mail_sink: Path) -> AsyncIterator[SharedRun]:
    clock = moved_clock(datetime.now(UTC))
    async with SharedRun(mail_dir=mail_sink, clock=clock) as shared:
        yield shared


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
async def test_scenario(path: Path, scenario_run: SharedRun) -> None:
    report = await scenario_run.run(path)
    assert report.passed, f"{path.relative_to(ROOT)}:\n{report.failure_text()}"
    assert report.dossier_code is not None
    await archived_cases_replay(report.dossier_code)


async def archived_cases_replay(code: str) -> None:
    """The case closed, archived itself (members too) and its archived history replays
    with today's code: freshly archived cases of every procedure, not only golden ones."""
    record = archive.latest(code)
    assert record is not None, f"case {code} closed but was not archived"
    replayed = await replay(archive.read_history(record), "archive")
    assert replayed.outcome == "deterministic", replayed.line()
    for member in record.members:
        await archived_cases_replay(member.dossier_code)


def test_demo_scenarios_exist() -> None:
    stems = {p.stem for p in SCENARIOS if p.parent.name == "demo"}
    assert {"approved", "rejected_by_police", "supplement_then_approved"} <= stems
    assert "deadline_escalated" in stems


# ---------------------------------------------------------------- the scenario model

GOOD = """\
name: Thử
procedure: procedure_defs/examples/every_step.yaml
start: {at: "2027-03-01T09:00:00+07:00"}
input: {full_name: Nguyễn Văn A}
steps:
  - decide: {step: review, action: approve, role: civil_status_officer}
  - advance: {working_days: 2}
  - faults: {service: population, outage: true}
  - faults: {clear: true}
  - expect: {status: waiting_officer, open_step: review}
expect: {status: completed, output: {entry_no: {matches: "^\\\\d+$"}}}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def errors(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        load_scenario(write(tmp_path, text))
    return str(info.value).splitlines()


def test_good_scenario_loads(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, GOOD))
    assert scenario.name == "Thử"
    assert [s.kind for s in scenario.steps] == [
        "decide",
        "advance",
        "faults",
        "faults",
        "expect",
    ]
    assert scenario.steps[0].line == 6
    assert scenario.input["full_name"] == "Nguyễn Văn A"


def test_unknown_key_in_step_is_located(tmp_path: Path) -> None:
    text = GOOD.replace("role: civil_status_officer}", "role: civil_status_officer, acton: x}")
    [line] = errors(tmp_path, text)
    assert line.startswith(f"{tmp_path / 's.yaml'}:6:")
    assert "E003 unknown key 'acton'" in line
    assert "steps[0].decide.acton" in line
    assert "did you mean 'action'?" in line


def test_unknown_top_level_key_and_missing_key(tmp_path: Path) -> None:
    text = GOOD.replace("input:", "inputs:")
    found = errors(tmp_path, text)
    assert any(":4:1: E003 unknown key 'inputs'" in e and "'input'" in e for e in found), found


def test_unknown_step_kind_and_bad_values(tmp_path: Path) -> None:
    text = GOOD.replace("  - advance: {working_days: 2}", "  - advanse: {working_days: 2}")
    text = text.replace('"2027-03-01T09:00:00+07:00"', '"2027-03-01T09:00:00"')
    found = errors(tmp_path, text)
    assert any(":7:5: E003 unknown step kind 'advanse'" in e for e in found), found
    assert any(":3:" in e and "E004" in e and "time zone" in e for e in found), found


def test_missing_required_and_wrong_status(tmp_path: Path) -> None:
    text = GOOD.replace("{step: review, action: approve,", "{step: review,")
    text = text.replace("status: completed", "status: done")
    found = errors(tmp_path, text)
    assert any(":6:" in e and "E005 missing required key 'action'" in e for e in found), found
    assert any(":11:" in e and "E004" in e and "expect.status" in e for e in found), found


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    [line] = errors(tmp_path, "name: [unclosed\n")
    assert "E001" in line and ":2:" in line


# ---------------------------------------------------------------- describe


def test_describe_example_text() -> None:
    result = CliRunner().invoke(describe, [str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Thủ tục minh họa đủ các loại bước" in out
    assert "national code: 0.000001" in out
    assert "Nghị định 118/2025/NĐ-CP" in out
    assert "legal deadline: 3 working days" in out and "15:00" in out
    assert "fields the citizen types: 5 (3 required)" in out
    assert "review [task] — Công chức tư pháp - hộ tịch thẩm định" in out
    assert "result_notice" in out and "result_ready" in out


def test_describe_by_id_as_json() -> None:
    result = CliRunner().invoke(describe, ["vn.demo.every_step", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["code"] == "0.000001" and data["agency"] == "commune"
    assert data["deadline"] == {"working_days": 3, "cutoff": "15:00"}
    assert [f["name"] for f in data["typed_fields"]] == [
        "applicant_pid",
        "full_name",
        "commune_code",
        "email",
        "phone",
    ]
    assert data["prefilled_fields"] == []
    kinds = {s["id"]: s["kind"] for s in data["steps"]}
    assert kinds["confirmation"] == "procedure" and kinds["undo_record"] == "compensate"
    assert set(data["documents"]) == {"result_notice"}
    assert set(data["notifications"]) == {"received", "result_ready", "rejected"}


def test_describe_unknown_procedure() -> None:
    result = CliRunner().invoke(describe, ["vn.no_such_thing"])
    assert result.exit_code != 0
    assert "no procedure with id" in result.output


def test_commands_exported() -> None:
    assert {c.name for c in COMMANDS} == {"simulate", "describe"}
