"""One open dossier per subject: concurrent submissions of the same birth certificate, alone
or as a bundle, start one case; the others are refused with its code and draw no number."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import uuid
from asyncio.subprocess import PIPE, STDOUT
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from temporalio.testing import WorkflowEnvironment

from motcua import dossier_codes
from motcua.cli import main
from tests.helpers import ROOT

BIRTH = str(ROOT / "procedure_defs/civil_status/birth_registration.yaml")
BUNDLE = str(ROOT / "procedure_defs/bundles/birth_bundle.yaml")
CODE = re.compile(r"^UBND-\d{5}-\d{6}-\d{4,}$")


def start(env: dict[str, str], file: str, dossier: dict[str, str]) -> Result:
    args = ["start", file, "--input", json.dumps(dossier, ensure_ascii=False), "-q"]
    return CliRunner(env=env).invoke(main, args, catch_exceptions=False)


async def start_process(env: dict[str, str], file: str, dossier: dict[str, str]) -> Result:
    """`motcua start` as its own process: submissions really at the same moment."""
    args = ["start", file, "--input", json.dumps(dossier, ensure_ascii=False), "-q"]
    proc = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "motcua"), *args,
        env={**os.environ, **env}, stdout=PIPE, stderr=STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    return Result(
        runner=CliRunner(), stdout_bytes=out, stderr_bytes=b"", output_bytes=out,
        return_value=None, exit_code=proc.returncode or 0, exception=None,
    )  # fmt: skip


@pytest.mark.timeout(120)
async def test_one_open_dossier_per_birth(local_env: WorkflowEnvironment, tmp_path: Path) -> None:
    address = local_env.client.service_client.config.target_host
    # A task queue no worker polls: the cases stay open, which is all this test needs.
    env = {
        "TEMPORAL_ADDRESS": address,
        "MOTCUA_TASK_QUEUE": f"nobody-{uuid.uuid4()}",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'motcua.db'}",
    }
    certificate = f"GCS-{uuid.uuid4().hex[:8]}"
    dossier = {
        "mother_pid": "001190000123",
        "birth_certificate_no": certificate,
        "child_name": "Nguyễn An Nhiên",
        "commune_code": "00001",
    }
    results = await asyncio.gather(*(start_process(env, BIRTH, dossier) for _ in range(6)))
    started = [r.output.strip() for r in results if r.exit_code == 0]
    refused = [r.output for r in results if r.exit_code != 0]
    assert len(started) == 1 and CODE.match(started[0]), [r.output for r in results]
    [code] = started
    assert len(refused) == 5
    for message in refused:
        assert "this subject already has an open dossier" in message
        assert certificate not in message and "001190000123" not in message
    # The refused ones drew no dossier number: the next one follows the single start.
    prefix, _, number = code.rpartition("-")
    url = env["DATABASE_URL"]
    assert dossier_codes.next_code("UBND-00001", url=url) == f"{prefix}-{int(number) + 1:04d}"

    # The bundle for the same birth is refused too, naming the open dossier.
    bundle = {**dossier, "primary_care_facility": "Trạm Y tế xã"}
    again = await asyncio.to_thread(start, env, BUNDLE, bundle)
    assert again.exit_code == 1 and f"dossier {code}" in again.output

    # Once that case has closed, the birth can be submitted again.
    await local_env.client.get_workflow_handle(code).terminate("test: withdrawn")
    later = await asyncio.to_thread(start, env, BIRTH, dossier)
    assert later.exit_code == 0 and later.output.strip() != code
    # Another birth certificate was never affected.
    other = await asyncio.to_thread(
        start, env, BIRTH, {**dossier, "birth_certificate_no": f"{certificate}-2"}
    )
    assert other.exit_code == 0
