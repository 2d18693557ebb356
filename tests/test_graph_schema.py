"""Diagrams (DOT, SVG, Mermaid) and the JSON Schema of the procedure language, and their CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from motcua.cli import graph as graph_cli
from motcua.cli import main
from motcua.cli.schema import build_schema
from motcua.workflows.dsl.compile import load_procedure
from motcua.workflows.dsl.graph import build, dot_quote, mermaid_text, to_dot, to_mermaid
from motcua.workflows.dsl.model import STEP_KINDS, ProcedureDefinition, step_kind
from motcua.workflows.dsl.walk import walk_definition, walk_steps
from tests.helpers import ROOT

EVERY_KIND = """\
id: vn.demo_all_kinds
version: 1
title: 'Đăng ký khai sinh "mẫu"'
code: "1.001193"
agency: commune
sla: {working_days: 1, cutoff: "15:00"}
roles: [civil_status_officer, commune_chairman]
input:
  mother_pid: {type: pid, title: Số định danh của mẹ}
  child_name: {type: string, title: Họ và tên trẻ}
prefill:
  - id: mother
    call: population.get_citizen
    with: {pid: "{{ input.mother_pid }}"}
steps:
  - id: review
    title: Thẩm định hồ sơ
    task:
      role: civil_status_officer
      agency: "{{ mother.commune_code }}"
      actions: [approve, reject, request_supplement]
      sla: {working_days: 1}
      escalate_to: commune_chairman
  - id: checks
    parallel:
      residence:
        - id: residence
          call: residence.get_household
          with: {pid: "{{ input.mother_pid }}"}
      insurance:
        - id: insurance
          call: social_insurance.lookup
          on_exhausted: fail
  - id: route
    switch:
      cases:
        - when: "residence.province_code == '01'"
          steps:
            - id: hanoi_note
              set: {note: "Hà Nội"}
        - when: "insurance is none"
          steps:
            - id: no_card
              reject: {reason: "Không tìm thấy thẻ BHYT"}
      default:
        - id: pause
          wait: {duration: 2h}
  - id: wait_payment
    wait: {event: payment_received, timeout: 3d}
  - id: register
    when: "review.action == 'approve'"
    call: civil_status.register_birth
    with: {child_name: "{{ input.child_name }}"}
    undo: {call: civil_status.cancel_birth, with: {id: "{{ register.id }}"}}
  - id: residence_member
    procedure: {id: vn.permanent_residence, on_reject: reject}
  - id: undo_all
    when: "residence_member.status != 'completed'"
    compensate: {}
  - id: broken
    when: "register is none"
    fail: {message: "Không đăng ký được", code: REGISTER_FAILED}
  - id: certificate
    document: {template: birth_certificate, sign_as: commune, title: Giấy khai sinh}
  - id: tell_mother
    notify: {to: "{{ mother }}", template: birth_registered}
on_reject:
  - id: tell_rejected
    notify: {to: "{{ mother }}", template: rejected}
"""


# Small enough to pass full validation (registered activities only), which the CLI runs.
VALID_SMALL = """\
id: vn.demo_small
version: 1
title: 'Đăng ký "mẫu" nhỏ'
agency: commune
sla: {working_days: 1, cutoff: "15:00"}
roles: [civil_status_officer]
input:
  child_name: {type: string, title: Họ và tên trẻ}
steps:
  - id: review
    title: Thẩm định hồ sơ
    task:
      role: civil_status_officer
      agency: UBND-00001
      actions: [approve, reject, request_supplement]
  - id: certificate
    document: {template: birth_certificate, sign_as: commune, title: Giấy khai sinh}
documents:
  birth_certificate: {title: Giấy khai sinh, template: birth_certificate}
"""


@pytest.fixture
def definition() -> ProcedureDefinition:
    return ProcedureDefinition.model_validate(yaml.safe_load(EVERY_KIND))


@pytest.fixture
def procedure_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(VALID_SMALL, encoding="utf-8")
    return path


def test_definition_fixture_uses_every_step_kind(definition: ProcedureDefinition) -> None:
    kinds = {step_kind(s) for s, _ in walk_steps(definition.steps, ())}
    assert kinds == set(STEP_KINDS)


# ------------------------------------------------------------------ the diagram


def test_graph_has_a_node_per_step_and_the_ends(definition: ProcedureDefinition) -> None:
    diagram = build(definition)
    steps = [
        s.id
        for s, _ in walk_steps(definition.prefill + definition.steps + definition.on_reject, ())
    ]
    assert {f"s_{i}" for i in steps} <= set(diagram.nodes)
    assert {"n_start", "n_done", "n_rejected", "n_failed", "s_checks_join"} <= set(diagram.nodes)
    assert diagram.nodes["s_review"].lines[0] == "task: review"
    assert diagram.nodes["s_no_card"].tone == "red"


def test_graph_draws_task_outcomes_and_guards(definition: ProcedureDefinition) -> None:
    edges = {(e.src, e.dst, e.label) for e in build(definition).edges}
    assert ("s_review", "s_review", "request_supplement") in edges
    assert ("s_review", "n_on_reject", "reject") in edges  # rejection runs on_reject first
    assert ("s_tell_rejected", "n_rejected", None) in edges
    assert ("s_review", "s_checks", "approve") in edges
    assert ("s_route", "s_hanoi_note", "residence.province_code == '01'") in edges
    assert ("s_route", "s_pause", "default") in edges
    assert ("s_wait_payment", "s_register", "when: review.action == 'approve'") in edges
    assert ("s_wait_payment", "s_residence_member", "else") in edges
    assert ("s_insurance", "n_failed", "retries exhausted") in edges
    assert ("s_broken", "n_failed", None) in edges
    assert ("s_tell_mother", "n_done", None) in edges


def test_dot_quote_escapes_quotes_backslashes_and_newlines() -> None:
    assert dot_quote('a "b" \\ c\nd') == '"a \\"b\\" \\\\ c\\nd"'


def test_dot_output_keeps_vietnamese_and_escapes_quotes(definition: ProcedureDefinition) -> None:
    dot = to_dot(build(definition))
    assert dot.startswith("digraph procedure {")
    assert 'Đăng ký khai sinh \\"mẫu\\"' in dot
    assert "Thẩm định hồ sơ" in dot
    assert 's_review -> s_review [label="request_supplement", style=dashed];' in dot


def test_dot_output_is_parsed_by_graphviz(definition: ProcedureDefinition) -> None:
    if shutil.which("dot") is None:
        pytest.skip("graphviz not installed")
    done = subprocess.run(
        ["dot", "-Tsvg"], input=to_dot(build(definition)).encode(), capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode()
    svg = done.stdout.decode("utf-8")
    assert "<svg" in svg
    assert "Thẩm định hồ sơ" in svg


def test_mermaid_output_has_nodes_edges_and_shapes(definition: ProcedureDefinition) -> None:
    text = to_mermaid(build(definition))
    assert text.startswith('---\ntitle: "Đăng ký khai sinh \\"mẫu\\" (vn.demo_all_kinds v1)"\n')
    assert "\nflowchart TD\n" in text
    assert '  s_route{"switch: route"}' in text
    assert '  s_checks{{"parallel: checks"}}' in text
    assert '  s_residence_member[["procedure: residence_member<br>vn.permanent_residence"]]' in (
        text
    )
    assert '  s_review -.->|"request_supplement"| s_review' in text
    assert "  s_route -->|\"residence.province_code == '01'\"| s_hanoi_note" in text
    assert "  s_tell_mother --> n_done" in text
    assert "Thẩm định hồ sơ" in text
    assert "class n_rejected," in text


def test_mermaid_text_escapes_characters_that_break_labels() -> None:
    assert mermaid_text('a "b" <c> | #1\nd') == "a #quot;b#quot; #lt;c#gt; #124; #35;1<br>d"


# ------------------------------------------------------------------ the JSON Schema


def test_schema_has_header_and_every_step_kind_with_its_required_key() -> None:
    schema = build_schema()
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["$id"] and schema["title"] == "motcua procedure definition"
    alternatives = schema["properties"]["steps"]["items"]["oneOf"]
    assert len(alternatives) == len(STEP_KINDS)
    for kind, cls in STEP_KINDS.items():
        assert {"$ref": f"#/definitions/{cls.__name__}"} in alternatives
        step = schema["definitions"][cls.__name__]
        assert kind in step["properties"] and kind in step["required"], kind
        assert step["additionalProperties"] is False


def test_schema_spells_with_as_the_alias_and_accepts_duration_strings() -> None:
    call = build_schema()["definitions"]["CallStep"]["properties"]
    assert "with" in call and "with_" not in call
    duration, none = call["timeout"]["anyOf"]  # an optional duration: the activity's default
    assert {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h|d)?\s*$"} in (
        duration["anyOf"]
    )
    assert none == {"type": "null"}
    assert "$defs" not in json.dumps(build_schema())


def test_schema_is_valid_json_schema_and_accepts_the_example() -> None:
    schema = build_schema()
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(yaml.safe_load(EVERY_KIND))


# ------------------------------------------------------------------ the commands


def test_cli_graph_prints_dot_by_default(procedure_file: Path) -> None:
    result = CliRunner().invoke(main, ["graph", str(procedure_file)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("digraph procedure {")
    assert "Thẩm định hồ sơ" in result.output


def test_cli_graph_mermaid_to_file(procedure_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "flow.mmd"
    result = CliRunner().invoke(main, ["graph", str(procedure_file), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote {out} (mermaid)" in result.output
    assert "flowchart TD" in out.read_text(encoding="utf-8")


def test_cli_graph_svg(procedure_file: Path) -> None:
    if shutil.which("dot") is None:
        pytest.skip("graphviz not installed")
    result = CliRunner().invoke(main, ["graph", str(procedure_file), "--format", "svg"])
    assert result.exit_code == 0, result.output
    assert "<svg" in result.output and "Giấy khai sinh" in result.output


def test_cli_graph_svg_without_graphviz_says_how_to_install(
    procedure_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(graph_cli.shutil, "which", lambda name: None)
    result = CliRunner().invoke(main, ["graph", str(procedure_file), "--format", "svg"])
    assert result.exit_code == 1
    assert "Graphviz is not installed" in result.output
    assert "apt-get install graphviz" in result.output


def test_cli_graph_missing_file_is_named(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["graph", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert f"no such file: {tmp_path / 'nope.yaml'}" in result.output


def test_cli_graph_bad_format_lists_the_choices(procedure_file: Path) -> None:
    result = CliRunner().invoke(main, ["graph", str(procedure_file), "--format", "png"])
    assert result.exit_code == 2
    assert "'dot', 'svg', 'mermaid'" in result.output


def test_cli_graph_invalid_definition_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("id: vn.bad\nversion: 1\ntitle: Sai\nagency: commune\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["graph", str(path)])
    assert result.exit_code == 1
    assert f"{path}:1:1: E005 missing required key 'sla'" in result.output
    assert "E005 missing required key 'steps'" in result.output


def test_cli_schema_prints_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["title"] == "motcua procedure definition"


def test_cli_schema_to_file_with_id(tmp_path: Path) -> None:
    out = tmp_path / "procedure.schema.json"
    url = "https://example.org/procedure.schema.json"
    result = CliRunner().invoke(main, ["schema", "-o", str(out), "--id", url])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text(encoding="utf-8"))["$id"] == url


@pytest.mark.parametrize(
    "path", sorted((ROOT / "procedure_defs").glob("*/*.yaml")), ids=lambda p: p.stem
)
def test_graph_draws_every_step_of_every_shipped_definition(path: Path) -> None:
    # Handlers, on_supplement and the apology included: what the one walker sees.
    if path.parent.name == "calendars":
        return
    definition = load_procedure(path).definition
    nodes = set(build(definition).nodes)
    missing = [s.id for s, _ in walk_definition(definition) if f"s_{s.id}" not in nodes]
    assert missing == []


def test_graph_draws_the_supplement_loop_and_the_apology() -> None:
    path = ROOT / "procedure_defs/civil_status/birth_registration.yaml"
    definition = load_procedure(path).definition
    diagram = build(definition)
    assert definition.apology is not None
    first_apology_step = definition.apology.steps[0].id
    edges = {(e.src, e.dst) for e in diagram.edges}
    assert ("n_apology", f"s_{first_apology_step}") in edges
    task = next(s for s, _ in walk_definition(definition) if step_kind(s) == "task")
    assert task.task.on_supplement
    first, last = task.task.on_supplement[0].id, task.task.on_supplement[-1].id
    assert (f"s_{task.id}", f"s_{first}") in edges  # request_supplement runs them ...
    assert (f"s_{last}", f"s_{task.id}") in edges  # ... and the task waits again
