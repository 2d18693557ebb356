"""Auditors' tools on a real birth bundle run on Temporal's dev server against the sandbox:
the archive it leaves, replay (from Temporal, a Temporal CLI file, the archive, --all, and a
deliberately changed workflow), the evidence bundle and its tampering, and the audit log."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import subprocess
import zipfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from click.testing import CliRunner, Result
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from motcua.audit import archive, log
from motcua.audit.replay import history_from_file, load_history, replay
from motcua.audit.store import DirectoryArchive, get_archive
from motcua.cli import main
from motcua.workflows.procedure import ProcedureWorkflow
from tests.birth_bundle import MEMBERS, run_birth_bundle
from tests.conftest import BIN
from tests.helpers import ROOT, new_worker
from tests.sandbox_server import sandbox_fixture
from tests.test_api_end_to_end import OFFICERS

sandbox = sandbox_fixture()


@pytest.fixture(scope="module")
def registries(sandbox: str) -> Iterator[None]:
    """The workers' registry adapters call this module's sandbox."""
    saved = dict(os.environ)
    os.environ["MOTCUA_SANDBOX_URL"] = sandbox
    for name in ("POPULATION", "CIVIL_STATUS", "RESIDENCE", "SOCIAL_INSURANCE", "HEALTH"):
        os.environ.pop(f"MOTCUA_{name}_URL", None)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest_asyncio.fixture(scope="module")
async def bundle(local_env: WorkflowEnvironment, sandbox: str, registries: None) -> str:
    """A birth bundle approved by the three agencies, closed and archived: its code."""
    async with new_worker(local_env.client) as worker:  # it finishes the archiving on exit
        run = await run_birth_bundle(
            local_env.client, worker, sandbox, comment="Hồ sơ của chị đầy đủ"
        )
    return run.code


async def cli(*args: str) -> Result:
    """Run `motcua ARGS` in a thread: the command runs its own event loop."""
    return await asyncio.to_thread(CliRunner().invoke, main, list(args), catch_exceptions=False)


def server(env: WorkflowEnvironment) -> list[str]:
    return ["--address", env.client.service_client.config.target_host]


# ---------------------------------------------------------------- the archive


async def test_a_closed_case_is_archived_with_its_facts(
    local_env: WorkflowEnvironment, bundle: str
) -> None:
    top = archive.latest(bundle)
    assert top is not None and top.status == "completed" and top.closed_at is not None
    assert [m.dossier_code for m in top.members] == [f"{bundle}.{s}" for s in MEMBERS]
    assert {m.status for m in top.members} == {"completed"}
    history = await local_env.client.get_workflow_handle(bundle).fetch_history()
    assert archive.read_history(top).events == history.events  # the full history, closed
    definition = archive.read_definition(top)
    assert hashlib.sha256(definition).hexdigest() == top.definition_hash
    birth = archive.latest(f"{bundle}.birth")
    assert birth is not None and birth.parent == bundle
    assert [(d.step_id, d.action, d.actor) for d in birth.decisions] == [
        ("review", "approve", OFFICERS["birth"][1])
    ]
    assert birth.documents and all(len(d.sha256) == 64 for d in birth.documents)
    assert "Hồ sơ của chị" not in archive.record_bytes(birth).decode()  # the comment: a hash

    # Archiving again writes nothing and changes nothing.
    again, written = await archive.archive_case(local_env.client, bundle)
    assert not written and again == top
    result = await cli("archive", bundle, *server(local_env))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{bundle}: already archived (completed)",
        "1 cases, 0 archived now, 0 could not be",
    ]

    # A case whose archiving was lost is archived by the command, the same as it would be.
    residence = archive.latest(f"{bundle}.residence")
    assert residence is not None
    store = get_archive()
    assert isinstance(store, DirectoryArchive)
    folder = store.root / archive.folder(residence.dossier_code, residence.run_id)
    for file in folder.iterdir():
        file.unlink()
    assert archive.latest(residence.dossier_code) is None
    result = await cli("archive", residence.dossier_code, *server(local_env))
    assert result.exit_code == 0, result.output
    assert f"{residence.dossier_code}: archived (completed)" in result.output
    rewritten = archive.latest(residence.dossier_code)
    assert rewritten is not None
    before, after = residence.model_dump(), rewritten.model_dump()
    assert {k: v for k, v in after.items() if v != before[k]}.keys() == {"archived_at"}


# ---------------------------------------------------------------- replay


async def test_replay_of_a_case_from_temporal(local_env: WorkflowEnvironment, bundle: str) -> None:
    result = await cli("replay", bundle, *server(local_env))
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("deterministic")
    assert "(temporal," in result.output
    entries = log.entries(case=bundle)
    assert any(e.action == "replay" and e.role == "cli" for e in entries)


async def test_a_history_written_by_the_temporal_cli_replays(
    local_env: WorkflowEnvironment, bundle: str, tmp_path: Path
) -> None:
    shown = subprocess.run(
        [str(BIN / "temporal"), "workflow", "show", "--workflow-id", f"{bundle}.birth",
         "--output", "json", "--address", server(local_env)[1]],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    path = tmp_path / "birth.json"
    path.write_bytes(shown.stdout)
    result = await cli("replay", "--file", str(path))
    assert result.exit_code == 0, result.output
    assert (
        result.output.strip()
        == f"birth (file, {len(json.loads(shown.stdout)['events'])} events): deterministic"
    )


async def test_a_changed_workflow_fails_replay_naming_the_event_and_step(
    bundle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = archive.latest(f"{bundle}.birth")
    assert record is not None
    history = archive.read_history(record)
    original = ProcedureWorkflow._activity

    async def renamed(self: ProcedureWorkflow, name: str, *args: Any, **kw: Any) -> Any:
        # Today's code calling the civil-status registry under another name.
        return await original(self, name.replace("civil_status.", "civil_registry."), *args, **kw)

    monkeypatch.setattr(ProcedureWorkflow, "_activity", renamed)
    report = await replay(history, "archive")
    assert report.outcome == "diverged", report
    event = next(e for e in history.events if e.event_id == report.event_id)
    scheduled = event.activity_task_scheduled_event_attributes
    assert report.event_type == "ActivityTaskScheduled"
    assert scheduled.activity_type.name.startswith("civil_status.")
    first = next(
        e for e in history.events
        if e.activity_task_scheduled_event_attributes.activity_type.name.startswith("civil_status.")
    )  # fmt: skip
    assert report.event_id == first.event_id  # the first event where the code diverges
    assert report.step_id == "register"
    result = await cli("replay", f"{bundle}.birth", "--archive-only")
    assert result.exit_code == 1
    assert (
        f"DIVERGES at event {report.event_id} ActivityTaskScheduled, step register" in result.output
    )


async def test_replay_all_is_a_release_gate(local_env: WorkflowEnvironment, bundle: str) -> None:
    since = (archive.latest(bundle).started_at - timedelta(seconds=1)).isoformat()  # type: ignore[union-attr]
    result = await cli("replay", "--all", "--since", since, "--jobs", "2", *server(local_env))
    assert result.exit_code == 0, result.output
    assert "4 histories replayed, 4 deterministic, 0 not (2 jobs" in result.output


# ---------------------------------------------------------------- evidence


def rewrite(src: Path, dst: Path, change: dict[str, Any]) -> None:
    """A copy of bundle `src` with `change[name](bytes) -> bytes` applied."""
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w") as out:
        for info in z.infolist():
            data = z.read(info.filename)
            out.writestr(
                info.filename, change[info.filename](data) if info.filename in change else data
            )


async def test_export_verifies_and_every_tampering_is_named(
    local_env: WorkflowEnvironment, bundle: str, tmp_path: Path
) -> None:
    path = tmp_path / "case.zip"
    result = await cli("export", bundle, "-o", str(path), *server(local_env))
    assert result.exit_code == 0, result.output
    assert any(e.action == "export" for e in log.entries(case=bundle))
    verified = await cli("verify", str(path))
    assert verified.exit_code == 0, verified.output
    assert "FAIL" not in verified.output

    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        manifest = json.loads(z.read("manifest.json"))
    pdf = next(n for n in names if n.endswith(".pdf"))
    history = f"cases/{bundle}.birth/history.json"

    def flip_pdf_byte(data: bytes) -> bytes:
        i = len(data) // 2
        return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]

    def change_manifest_line(data: bytes) -> bytes:
        m = json.loads(data)
        m["files"][history]["sha256"] = "0" * 64
        return json.dumps(m, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()

    def change_an_event(data: bytes) -> bytes:
        h = json.loads(data)
        h["events"][9]["eventTime"] = "2020-01-01T00:00:00Z"
        return json.dumps(h).encode()

    cases = {
        "pdf": ({pdf: flip_pdf_byte}, [f"FAIL {pdf}: content changed"]),
        "manifest": (
            {"manifest.json": change_manifest_line},
            [
                "FAIL manifest.json: its signature does not match",
                f"FAIL {history}: content changed",
            ],
        ),
        "event": (
            {history: change_an_event},
            [
                f"FAIL {history}: content changed",
                f"first changed: event {manifest['history_events'][history][9]['event_id']} ",
            ],
        ),
    }
    for label, (change, expected) in cases.items():
        tampered = tmp_path / f"{label}.zip"
        rewrite(path, tampered, change)
        result = await cli("verify", str(tampered))
        assert result.exit_code == 1, (label, result.output)
        for text in expected:
            assert text in result.output, (label, result.output)


@pytest.mark.timeout(240)
async def test_a_case_temporal_no_longer_has_replays_from_the_archive(
    local_env: WorkflowEnvironment, bundle: str
) -> None:
    client = local_env.client
    code = f"{bundle}.insurance"
    described = await client.get_workflow_handle(code).describe()
    await client.workflow_service.delete_workflow_execution(
        DeleteWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=code, run_id=described.run_id),
        )
    )
    for _ in range(1200):  # deletion is asynchronous (a system workflow; slow under load)
        try:
            await client.get_workflow_handle(code).fetch_history()
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                break
        await asyncio.sleep(0.1)
    else:
        pytest.fail(f"Temporal still has {code} 120 s after deleting it")
    history, source = await load_history(client, code)
    assert source == "archive"
    result = await cli("replay", code, *server(local_env))
    assert result.exit_code == 0, result.output
    assert f"{code} (archive," in result.output and "deterministic" in result.output


def test_a_golden_history_file_replays() -> None:
    path = sorted((ROOT / "tests/histories").glob("birth_bundle_approved.v10.json"))[0]
    assert history_from_file(path).workflow_id == path.stem


async def test_a_history_whose_key_is_missing_says_which(monkeypatch: pytest.MonkeyPatch) -> None:
    path = ROOT / "tests/histories/birth_bundle_approved.birth.v10.json"
    monkeypatch.setenv("MOTCUA_CODEC_KEYS", "other:" + base64.b64encode(b"k" * 32).decode())
    report = await replay(history_from_file(path), "file")
    assert report.outcome == "failed"
    assert report.message is not None
    assert "encrypted with key 'test', which is not configured" in report.message
