"""Bad input gets one clear line, never a traceback, and uses no dossier number: the CLI
reads JSON strictly (motcua.input_json) and checks the dossier against the typed input
schema (motcua.workflows.dsl.dossier) before it draws a code."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from motcua import dossier_codes
from motcua.cli import main
from motcua.input_json import InputError, parse_object
from motcua.workflows.contracts import CaseStatus
from motcua.workflows.dsl import dossier
from motcua.workflows.dsl.model import FieldSpec
from motcua.workflows.procedure import ProcedureWorkflow
from tests import engine_activities
from tests.helpers import ROOT, compiled, new_worker, start_case

DEMO = str(ROOT / "procedure_defs/examples/every_step.yaml")
GOOD = {
    "applicant_pid": "001203000123",
    "full_name": "Nguyễn Thị Hoa",
    "commune_code": "00001",
    "email": "hoa@example.vn",
}


def with_(**changes: object) -> str:
    return json.dumps({**GOOD, **changes}, ensure_ascii=False)


MALFORMED = [
    ("null", "--input must be a JSON object ({...}), not null"),
    ("[]", "--input must be a JSON object ({...}), not list"),
    ('"Nguyễn"', "--input must be a JSON object ({...}), not str"),
    ("17", "--input must be a JSON object ({...}), not int"),
    ("{oops", "--input is not valid JSON"),
    ("", "--input is not valid JSON"),
    ('{"full_name": "A", "full_name": "B"}', '--input duplicate key "full_name"'),
    ('{"full_name": "\\ud800"}', "--input full_name is not valid text (a lone UTF-16 surrogate)"),
    ('{"\\udc80": 1}', "is not valid text"),
    ("{" + '"x": ' * 1 + '"' + "a" * 1_000_001 + '"}', "--input is 1,000,0"),
    ("[" * 100_000, "--input is nested too deeply"),
    (with_(applicant_pid="００１２０３０００１２３"), "applicant_pid: must be 12 digits"),
    (with_(applicant_pid="٠٠١٢٠٣٠٠٠١٢٣"), "applicant_pid: must be 12 digits"),
    (with_(commune_code="０００01"), "commune_code: must be a 5-digit commune code"),
    (with_(full_name=""), "full_name: must not be empty"),
    (with_(full_name="   "), "full_name: must not be empty"),
    (with_(full_name="Hoa\u0000"), "full_name: must not contain control characters"),
    (with_(full_name="Hoa\n"), "full_name: must not contain control characters"),
    (with_(full_name="\u202eaoH"), "full_name: must not contain invisible or direction-changing"),
    (with_(full_name="Ho\u200da"), "full_name: must not contain invisible or direction-changing"),
    (with_(full_name="\ufeffHoa"), "full_name: must not contain invisible or direction-changing"),
    (with_(full_name="H" * 201), "full_name: is 201 characters long; at most 200"),
    (with_(full_name=12), "full_name: must be text"),
    (with_(email="hoa@ví dụ.vn"), "email: must be an email address"),
]


@pytest.fixture
def codes_db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'codes.db'}"


@pytest.mark.parametrize(("text", "message"), MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_start_input_is_one_clear_line(codes_db: str, text: str, message: str) -> None:
    with socket.socket() as s:  # no server: nothing may get as far as Temporal
        s.bind(("127.0.0.1", 0))
        nowhere = f"127.0.0.1:{s.getsockname()[1]}"
    env = {"TEMPORAL_ADDRESS": nowhere, "DATABASE_URL": codes_db}
    result = CliRunner(env=env).invoke(main, ["start", DEMO, "--input", text])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert message in result.output
    assert "0012030001" not in result.output.replace(GOOD["applicant_pid"], "")
    # No dossier number was drawn for the refused start.
    assert dossier_codes.next_code("UBND-00001", url=codes_db).endswith("-0001")


def test_input_from_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    bad = tmp_path / "dossier.json"
    bad.write_bytes(b'{"full_name": "Nguy\xe1n"}')
    result = CliRunner().invoke(main, ["start", DEMO, "--input", f"@{bad}"])
    assert result.exit_code == 1 and "is not UTF-8 text" in result.output


def test_names_come_in_nfc_and_the_check_refuses_other_forms() -> None:
    decomposed = "Nguye\u0302\u0303n"  # e + combining circumflex + combining tilde
    assert parse_object(json.dumps({"n": decomposed}))["n"] == "Nguyễn"
    spec = {"n": FieldSpec(type="string")}
    assert dossier.check(spec, {"n": decomposed}) == [
        "n: must be in Unicode NFC form (composed characters)"
    ]
    assert dossier.check(spec, {"n": "Nguyễn"}) == []
    with pytest.raises(InputError, match="duplicate key"):
        parse_object('{"a": {"b": 1, "b": 2}}')


@pytest.mark.parametrize("actor", ["", "   ", "cb\u202e01"])
def test_an_action_needs_a_real_actor(actor: str) -> None:
    for args in (
        ["decide", "X-261123-0001", "review", "approve", "--role", "r", "--agency", "A"],
        ["resume", "X-261123-0001", "lookup", "retry", "--reason", "thử"],
    ):
        result = CliRunner().invoke(main, [*args, "--actor", actor])
        assert result.exit_code == 2, result.output  # a usage error, before any server
        assert "Invalid value for '--actor'" in result.output
        assert "Traceback" not in result.output


async def test_a_case_started_past_the_checks_refuses_its_dossier(
    local_env: WorkflowEnvironment,
) -> None:
    """A client that talks to Temporal directly skips the CLI's checks: the case checks the
    dossier itself and fails before any step, naming the fields but not their values."""
    echo = "\n  - id: hello\n    call: test.echo\n    with: {value: x}\n"
    procedure = compiled("input_check", f"steps:{echo}")
    full_width = "００１２０３０００１２３"
    async with new_worker(local_env.client) as worker:
        handle = await start_case(
            local_env.client, worker, procedure, {"pid": full_width, "extra": "Nguyễn Văn A"}
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await asyncio.wait_for(handle.result(), timeout=30)
        state = await handle.query(ProcedureWorkflow.state)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "INPUT_INVALID"
    assert "pid: must be 12 digits" in cause.message
    assert "extra: unknown field" in cause.message
    assert full_width not in cause.message and "Nguyễn" not in cause.message
    assert state.status == CaseStatus.failed
    assert not [k for k in engine_activities.CALLS if k.startswith(f"{handle.id}:")]
