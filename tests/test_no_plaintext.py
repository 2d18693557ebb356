"""Nothing a citizen gave stands in plain text in Temporal: not in payloads, and not in
failures either (a registry's message may quote what it refused). Read as an operator with
Temporal's own tools and no codec key would read it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.testing import WorkflowEnvironment

from motcua.codec import CodecKeyError, load_keyring
from motcua.temporal import data_converter
from motcua.workflows.contracts import CaseStatus, CompiledProcedure, ResumeInput
from motcua.workflows.dsl.model import ProcedureDefinition
from motcua.workflows.procedure import ProcedureWorkflow
from tests.helpers import new_worker, start_case, state_when

PID, NAME = "079190001234", "Nguyễn Thị Ánh Tuyết"
REFUSED = """
id: vn.test.plaintext
version: 1
title: Thủ tục kiểm thử
agency: commune
sla: {working_days: 5}
roles: [officer]
input:
  pid: {type: pid}
  full_name: {type: string}
steps:
  - id: lookup
    call: test.refuse
    with: {value: "{{ input.full_name }} {{ input.pid }}"}
    retry: {max_attempts: 1}
"""


async def test_raw_history_has_no_personal_data_failures_included(
    local_env: WorkflowEnvironment,
) -> None:
    definition = ProcedureDefinition.model_validate(yaml.safe_load(REFUSED))
    async with new_worker(local_env.client) as worker:
        handle = await start_case(
            local_env.client,
            worker,
            CompiledProcedure.of(definition),
            {"pid": PID, "full_name": NAME},
        )
        stalled = await state_when(handle, lambda s: s.status == CaseStatus.stalled)
        assert NAME in stalled.stalls[0].error  # the officer, with the key, reads it all
        await handle.execute_update(
            ProcedureWorkflow.resume,
            ResumeInput(step_id="lookup", action="abort", actor="cb01", reason="Hủy"),
        )
        assert (await handle.result()).status == CaseStatus.aborted
    # An operator's client: the same server, Temporal's default converter, no key.
    plain = await Client.connect(
        local_env.client.service_client.config.target_host,
        namespace=local_env.client.namespace,
        data_converter=DataConverter.default,
    )
    history = await plain.get_workflow_handle(handle.id).fetch_history()
    raw = json.dumps(json.loads(history.to_json()), ensure_ascii=False)
    assert "activityTaskFailedEventAttributes" in raw  # the refusal is in there...
    for secret in (PID, NAME, "Tuyết", "registry refused"):
        assert secret not in raw, secret  # ...but not readable


class Card(BaseModel):
    pid: str
    count: int


def test_decoding_errors_do_not_quote_the_value() -> None:
    converter = data_converter().payload_converter
    [payload] = converter.to_payloads([{"pid": PID, "count": f"{NAME} {PID}"}])
    with pytest.raises(ValueError) as info:
        converter.from_payloads([payload], [Card])
    assert "count: Input should be a valid integer" in str(info.value)
    assert PID not in str(info.value) and NAME not in str(info.value)


def test_outside_development_keys_must_come_from_the_environment(tmp_path: Path) -> None:
    with pytest.raises(CodecKeyError) as info:
        load_keyring({"MOTCUA_ENV": "production"}, data_dir=tmp_path)
    assert "MOTCUA_ENV=production needs the codec keys in MOTCUA_CODEC_KEYS" in str(info.value)
    assert not any(tmp_path.iterdir())  # no key file made behind the operator's back
    ring = load_keyring(
        {"MOTCUA_ENV": "production", "MOTCUA_CODEC_KEYS": "k1:" + "A" * 43 + "="},
        data_dir=tmp_path,
    )
    assert ring.active_id == "k1"
    load_keyring({}, data_dir=tmp_path)  # development: a key file is made
    assert any(tmp_path.iterdir())
