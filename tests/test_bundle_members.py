"""Every definition of a bundle is recorded once in its case tree (ADR 0012): the bundle
names its members by hash, and each member fetches its own definition from the store."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import WorkflowHistory

from motcua.simulate.runner import SharedRun, start_test_env
from motcua.temporal import data_converter
from motcua.workflows.dsl.compile import load_bundle
from motcua.workflows.procedure import members_of
from tests.helpers import ROOT

BUNDLE = ROOT / "scenarios/birth/bundle_happy.yaml"


def _payloads(message: Message) -> list[Payload]:
    """Every payload anywhere in a history event (inputs, results, memo...)."""
    if isinstance(message, Payload):
        return [message]
    found: list[Payload] = []
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        if isinstance(value, Message):
            found += _payloads(value)
        else:  # a repeated field or a map
            items = value.values() if hasattr(value, "values") else value
            found += [p for item in items if isinstance(item, Message) for p in _payloads(item)]
    return found


def _definitions(value: Any) -> list[str]:
    """The hashes of the full definitions in a decoded payload (references do not count)."""
    if isinstance(value, dict):
        own = [value["hash"]] if {"definition", "hash"} <= value.keys() else []
        return own + [h for v in value.values() for h in _definitions(v)]
    if isinstance(value, list):
        return [h for v in value for h in _definitions(v)]
    return []


async def definitions_recorded(history: WorkflowHistory) -> Counter[str]:
    codec = data_converter().payload_codec
    assert codec is not None
    counted: Counter[str] = Counter()
    for event in history.events:
        payloads = _payloads(event)
        for payload in await codec.decode(payloads) if payloads else []:
            if payload.metadata.get("encoding") == b"json/plain":
                counted.update(_definitions(json.loads(payload.data)))
    return counted


async def test_each_definition_is_recorded_once_in_the_case_tree(mail_sink: Path) -> None:
    env = await start_test_env()
    try:
        async with SharedRun(env=env, mail_dir=mail_sink) as run:
            report = await run.run(BUNDLE)
            assert report.passed, report.failure_text()
            client = env.client
            tree = Counter[str]()
            codes = [report.dossier_code] + [
                f"{report.dossier_code}.{m}" for m in ("birth", "residence", "insurance")
            ]
            for code in codes:
                history = await client.get_workflow_handle(code).fetch_history()
                tree += await definitions_recorded(history)
    finally:
        await env.shutdown()
    bundle, members = load_bundle(ROOT / "procedure_defs/bundles/birth_bundle.yaml")
    assert set(tree) == {bundle.hash} | {m.hash for m in members.values()}
    assert set(tree.values()) == {1}, tree


def test_members_of_follows_child_procedures_transitively() -> None:
    bundle, members = load_bundle(ROOT / "procedure_defs/bundles/death_bundle.yaml")
    assert members_of(bundle, members) == members
    for member in members.values():
        assert members_of(member, members) == {}


def test_procedure_step_in_an_apology_is_loaded_as_a_member(tmp_path: Path) -> None:
    # Before the one walker, the apology was not searched for child procedures: a member
    # started from it was missing at run time.
    root = tmp_path / "defs"
    root.mkdir()
    (root / "member.yaml").write_text(
        (ROOT / "procedure_defs/examples/demo_confirmation.yaml").read_text(encoding="utf-8"),
        encoding="utf-8",
    )
    (root / "parent.yaml").write_text(
        """
id: vn.test.parent
version: 1
title: Thủ tục kiểm thử
agency: commune
sla: {working_days: 3}
roles: [officer]
input:
  commune_code: {type: commune_code}
steps:
  - id: review
    task: {role: officer, agency: UBND-001, actions: [approve, reject]}
apology:
  extend_working_days: 1
  steps:
    - id: confirm_late
      procedure: {id: vn.demo.confirmation, input: {commune_code: "{{ input.commune_code }}"}}
""",
        encoding="utf-8",
    )
    _, members = load_bundle(root / "parent.yaml", root=root)
    assert set(members) == {"vn.demo.confirmation"}
