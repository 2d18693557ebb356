"""Every broken definition in tests/broken/ reports exactly the diagnostics it declares.

Each fixture starts with `# expect: CODE line:col` lines (or `# expect: nothing`) and may
carry `# contains: text` lines that some diagnostic must contain.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from pydantic import BaseModel, Field
from temporalio import activity

from motcua.activities.base import ActivityInput
from motcua.activities.registry import ActivitySpec, catalogue
from motcua.cli.validate import validate
from motcua.workflows.contracts import CompiledProcedure
from motcua.workflows.dsl.compile import (
    load_bundle,
    load_catalogue,
    load_procedure,
)
from motcua.workflows.dsl.diagnostics import DefinitionError, Diagnostic
from motcua.workflows.dsl.expressions import ExpressionError, evaluate
from motcua.workflows.dsl.loader import load_yaml
from motcua.workflows.dsl.model import ProcedureDefinition
from motcua.workflows.dsl.validation import validate_definition

BROKEN = Path(__file__).parent / "broken"
EXPECT = re.compile(r"^#\s*expect:\s*(E\d{3})\s+(\d+):(\d+)\s*$")


# ---------------------------------------------------------------- a small registry


class PidInput(ActivityInput):
    pid: str


class Citizen(BaseModel):
    pid: str
    name: str = ""


class RegisterInput(ActivityInput):
    child_name: str
    mother_pid: str
    note: str = ""


class CancelInput(ActivityInput):
    registration_no: str


class IssueInput(ActivityInput):
    template: str
    sign_as: str
    title: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)


class SendInput(ActivityInput):
    to: Any
    template: str
    channels: list[str] = Field(default_factory=list)
    data: dict[str, Any] = Field(default_factory=dict)


@activity.defn(name="population.get_citizen")
async def get_citizen(arg: PidInput) -> Citizen:
    return Citizen(pid=arg.pid)


@activity.defn(name="civil_status.register_birth")
async def register_birth(arg: RegisterInput) -> dict[str, str]:
    return {"no": "1"}


@activity.defn(name="civil_status.cancel_birth")
async def cancel_birth(arg: CancelInput) -> None:
    return None


@activity.defn(name="documents.issue")
async def issue(arg: IssueInput) -> dict[str, str]:
    return {}


@activity.defn(name="notify.send")
async def send(arg: SendInput) -> None:
    return None


def registry() -> dict[str, ActivitySpec]:
    fns = [get_citizen, register_birth, cancel_birth, issue, send]
    return {name: spec for name, spec in catalogue(fns).items() if spec.fn in fns}


def child_procedures() -> dict[str, ProcedureDefinition]:
    base = {"version": 1, "title": "Con", "agency": "commune", "sla": {"working_days": 1}}
    steps = [{"id": "done", "set": {"x": 1}}]
    child = {
        **base,
        "id": "vn.child",
        "input": {"pid": {"type": "pid"}, "note": {"required": False}},
        "steps": steps,
    }
    card_input = {"pid": {"type": "pid"}, "approved": {"required": False}}
    card = {**base, "id": "vn.health_card", "input": card_input, "steps": steps}
    return {
        "vn.child": ProcedureDefinition.model_validate(child),
        "vn.health_card": ProcedureDefinition.model_validate(card),
    }


# ---------------------------------------------------------------- the fixtures


def _diagnose(path: Path) -> list[Diagnostic]:
    name = path.name
    try:
        data, positions = load_yaml(path.read_text(encoding="utf-8"), filename=name)
    except DefinitionError as e:
        return e.diagnostics
    _, found = validate_definition(
        data, positions, filename=name, activities=registry(), procedures=child_procedures()
    )
    return found


def _expectations(path: Path) -> tuple[set[tuple[str, int, int]], list[str]]:
    expected: set[tuple[str, int, int]] = set()
    contains: list[str] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for line in lines:
        if m := EXPECT.match(line):
            expected.add((m.group(1), int(m.group(2)), int(m.group(3))))
        elif line.startswith("# contains:"):
            contains.append(line.removeprefix("# contains:").strip())
    assert lines[0].startswith("# expect:"), f"{path.name}: first line must be '# expect: ...'"
    return expected, contains


FIXTURES = sorted(BROKEN.glob("*.yaml"))


def test_broken_fixtures_are_plenty() -> None:
    broken = [p for p in FIXTURES if _expectations(p)[0]]
    assert len(broken) >= 30
    codes = {code for p in broken for code, _, _ in _expectations(p)[0]}
    assert {f"E{n:03}" for n in range(1, 23) if n != 21} <= codes  # E021: CLI test


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_fixture_reports_expected_diagnostics(path: Path) -> None:
    expected, contains = _expectations(path)
    found = _diagnose(path)
    assert {(d.code, d.line, d.col) for d in found} == expected, "\n".join(
        d.format() for d in found
    )
    text = "\n".join(d.format() for d in found)
    for fragment in contains:
        assert fragment in text
    for d in found:
        assert "\n" not in d.format()
        assert d.format().startswith(f"{path.name}:{d.line}:{d.col}: {d.code} ")
        assert "Traceback" not in d.format()


# ---------------------------------------------------------------- specific behaviour


def _valid() -> str:
    return (BROKEN / "valid_reference.yaml").read_text(encoding="utf-8")


def test_valid_definition_gives_model_and_no_diagnostics() -> None:
    data, positions = load_yaml(_valid(), filename="v.yaml")
    defn, found = validate_definition(
        data, positions, filename="v.yaml", activities=registry(), procedures=child_procedures()
    )
    assert found == []
    assert defn is not None and defn.id == "t.valid"


def test_unknown_key_message_and_hint() -> None:
    found = _diagnose(BROKEN / "unknown_key_step.yaml")
    assert [d.format() for d in found] == [
        "unknown_key_step.yaml:13:5: E003 unknown key 'wiht' (at steps[0].wiht)"
        " did you mean 'with'?"
    ]


def test_discriminator_tag_is_not_in_the_path() -> None:
    (d,) = _diagnose(BROKEN / "wrong_value_on_exhausted.yaml")
    assert d.path == ("steps", 0, "on_exhausted")


def test_used_before_defined_says_so() -> None:
    (d,) = _diagnose(BROKEN / "used_before_defined.yaml")
    assert d.message == "'later' is used before it is defined"


def test_own_id_says_so() -> None:
    (d,) = _diagnose(BROKEN / "own_id_in_with.yaml")
    assert d.message == "step 'citizen' cannot read its own result here"


def test_parallel_branch_does_not_see_its_sibling() -> None:
    found = _diagnose(BROKEN / "parallel_sibling_branch.yaml")
    assert [(d.code, d.path) for d in found] == [
        ("E008", ("steps", 0, "parallel", "right", 0, "set", "y"))
    ]


def test_default_registry_is_used_when_none_given() -> None:
    data, positions = load_yaml(_valid(), filename="v.yaml")
    _, found = validate_definition(
        data, positions, filename="v.yaml", procedures=child_procedures()
    )
    known = catalogue()
    unknown = {d.message for d in found if d.code == "E002"}
    if "population.get_citizen" not in known:
        assert "unknown activity 'population.get_citizen'" in unknown


def test_unregistered_document_activity_is_reported() -> None:
    text = (BROKEN / "undeclared_document.yaml").read_text(encoding="utf-8")
    data, positions = load_yaml(text, filename="d.yaml")
    acts = {k: v for k, v in registry().items() if k != "documents.issue"}
    _, found = validate_definition(data, positions, filename="d.yaml", activities=acts)
    assert ("E002", 12, 5) in {(d.code, d.line, d.col) for d in found}


def test_unknown_procedures_are_not_checked_without_a_catalogue() -> None:
    text = (BROKEN / "unknown_child_procedure.yaml").read_text(encoding="utf-8")
    data, positions = load_yaml(text, filename="c.yaml")
    defn, found = validate_definition(data, positions, filename="c.yaml", activities=registry())
    assert found == [] and defn is not None


def test_unexpected_exception_becomes_a_diagnostic() -> None:
    class Exploding(dict[str, ActivitySpec]):
        def get(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("boom")

    data, positions = load_yaml(_valid(), filename="v.yaml")
    _, found = validate_definition(data, positions, filename="v.yaml", activities=Exploding())
    assert any(d.code == "E099" and "boom" in d.message for d in found)


def test_definition_error_str_is_the_lines() -> None:
    d1 = Diagnostic("a.yaml", 1, 2, "E003", "unknown key 'x'", ("x",), "did you mean 'y'?")
    d2 = Diagnostic("a.yaml", 3, 4, "E004", "bad")
    assert str(DefinitionError([d1, d2])) == (
        "a.yaml:1:2: E003 unknown key 'x' (at x) did you mean 'y'?\na.yaml:3:4: E004 bad"
    )


def test_loader_positions_are_one_based() -> None:
    data, positions = load_yaml("a: 1\nsteps:\n  - id: x\n    with: {pid: 2}\n", filename="f")
    assert data == {"a": 1, "steps": [{"id": "x", "with": {"pid": 2}}]}
    assert positions[("steps", 0, "with", "pid")] == (4, 17)
    assert positions.key_at(("steps", 0, "with")) == (4, 5)
    assert positions[("a",)] == (1, 4)


def test_loader_refuses_python_objects() -> None:
    with pytest.raises(DefinitionError) as e:
        load_yaml("a: !!python/object/apply:os.system [echo hi]\n", filename="f")
    assert [d.code for d in e.value.diagnostics] == ["E001"]


def test_loader_stops_alias_bombs() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        bomb += f"{chr(97 + i)}: &{chr(97 + i)} [" + ", ".join([f"*{chr(96 + i)}"] * 10) + "]\n"
    with pytest.raises(DefinitionError) as e:
        load_yaml(bomb, filename="f")
    assert "too large" in str(e.value)


# ---------------------------------------------------------------- compiling files


def _write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


CHILD = """id: vn.child
version: 1
title: Con
agency: commune
sla: {working_days: 1}
input:
  pid: {type: pid}
steps:
  - id: done
    set: {x: "{{ input.pid }}"}
"""

PARENT = """id: vn.parent
version: 1
title: Cha
agency: commune
sla: {working_days: 1}
input:
  pid: {type: pid}
steps:
  - id: child
    procedure: {id: vn.child, input: {pid: "{{ input.pid }}"}}
"""


def test_load_bundle_compiles_children_and_hashes(tmp_path: Path) -> None:
    _write(tmp_path, "child.yaml", CHILD)
    parent = _write(tmp_path, "bundles/parent.yaml", PARENT)
    _write(tmp_path, "broken.yaml", "id: [unrelated\n")
    _write(tmp_path, "templates/t.yaml", "not: a procedure\n")
    compiled, members = load_bundle(parent, activities={}, root=tmp_path)
    assert set(members) == {"vn.child"}
    assert compiled.hash == CompiledProcedure.of(compiled.definition).hash
    assert len(compiled.hash) == 64 and compiled.hash != members["vn.child"].hash
    assert set(load_catalogue(tmp_path)) == {"vn.child", "vn.parent"}


def test_load_procedure_raises_every_problem(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "p.yaml",
        PARENT.replace("vn.child", "vn.chld") + "  - id: child\n    set: {a: 1}\n",
    )
    _write(tmp_path, "child.yaml", CHILD)
    with pytest.raises(DefinitionError) as e:
        load_procedure(path, activities={}, root=tmp_path)
    assert sorted(d.code for d in e.value.diagnostics) == ["E006", "E012"]
    assert "did you mean 'vn.child'?" in str(e.value)


def test_load_bundle_reports_cycles(tmp_path: Path) -> None:
    child = CHILD + "  - id: back\n    procedure: {id: vn.parent, input: {pid: x}}\n"
    _write(tmp_path, "child.yaml", child)
    parent = _write(tmp_path, "parent.yaml", PARENT)
    with pytest.raises(DefinitionError) as e:
        load_bundle(parent, activities={}, root=tmp_path)
    (d,) = e.value.diagnostics
    assert (d.code, d.line, d.col) == ("E022", 12, 21)
    assert "vn.parent -> vn.child -> vn.parent" in d.message


def test_load_procedure_yaml_error_is_located(tmp_path: Path) -> None:
    path = _write(tmp_path, "p.yaml", "id: a\nsteps: [\n")
    with pytest.raises(DefinitionError) as e:
        load_procedure(path, activities={}, root=tmp_path)
    (d,) = e.value.diagnostics
    assert d.code == "E001" and d.line == 3


# ---------------------------------------------------------------- the command


def test_cli_reports_errors_and_exit_status(tmp_path: Path) -> None:
    _write(tmp_path, "child.yaml", CHILD)
    bad = _write(tmp_path, "bad.yaml", PARENT.replace("procedure: {id:", "procedure: {idd:"))
    result = CliRunner().invoke(validate, [str(tmp_path), "--procedures", str(tmp_path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[-1] == "2 errors in 1 file"
    assert (
        f"{bad}:10:17: E003 unknown key 'idd' (at steps[0].procedure.idd) did you mean 'id'?"
        in lines
    )


def test_cli_ok_summary(tmp_path: Path) -> None:
    _write(tmp_path, "child.yaml", CHILD)
    _write(tmp_path, "parent.yaml", PARENT)
    _write(tmp_path, "calendars/vn.yaml", "- 2025-01-01\n")
    result = CliRunner().invoke(validate, [str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"ok: 2 procedures valid \(\d+\.\d\d s\)\n", result.output)


def test_cli_nonexistent_path_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(validate, [str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert f"no such file or directory: {tmp_path / 'nope.yaml'}" in result.output


def test_cli_duplicate_procedure_ids(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", CHILD)
    _write(tmp_path, "b.yaml", CHILD)
    result = CliRunner().invoke(validate, [str(tmp_path)])
    assert result.exit_code == 1
    assert (
        f"{tmp_path / 'b.yaml'}:1:5: E021 procedure id 'vn.child' is also declared in"
        in result.output
    )


# ---------------------------------------------------------------- deterministic expressions


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{{ [1, 2, 3] | random }}", "No filter named 'random'"),
        ("{{ lipsum(1) }}", "undefined name: 'lipsum' is undefined"),
        ("{{ cycler('a', 'b').next() }}", "undefined name: 'cycler' is undefined"),
    ],
)
def test_nondeterministic_jinja_is_not_there_at_run_time(text: str, says: str) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate(text, {})
    assert says in info.value.message


def test_deterministic_filters_and_globals_still_work() -> None:
    assert evaluate("{{ range(3) | list | sum }}", {}) == 3
    assert evaluate("{{ dict(a=1) | tojson }}", {}) == '{"a": 1}'
    assert evaluate("{{ ['b', 'a'] | sort | join(', ') | upper }}", {}) == "A, B"


TYPO_AND_MORE = """id: t.typo
version: 1
title: Thử nghiệm
agency: commune
sla: {working_days: 1}
input:
  pid: {type: pid}
steps:
  - id: citizen
    call: population.get_citizen
    wiht: {pdi: "{{ input.pid }}"}
  - id: wait_a_bit
    when: [yes]
    wait: {duration: 5}
  - id: note
    set: {x: "{{ citizen.full_name }}", y: "{{ nobody }}"}
"""


def test_a_shape_error_does_not_hide_the_rest(tmp_path: Path) -> None:
    # The typo'd key is read as the key it looks like, so what it holds is checked too;
    # the wrong type says what to write; the next step's undefined name is still found.
    found = _diagnose(_write(tmp_path, "typo.yaml", TYPO_AND_MORE))
    assert [(d.code, d.line) for d in found] == [
        ("E003", 11), ("E014", 11), ("E013", 11), ("E004", 13), ("E008", 16)
    ], [d.format() for d in found]  # fmt: skip
    wrong_type = next(d for d in found if d.code == "E004")
    assert wrong_type.path == ("steps", 1, "when") and wrong_type.hint


def test_a_wrong_type_says_what_to_write(tmp_path: Path) -> None:
    text = TYPO_AND_MORE.replace("sla: {working_days: 1}", "sla: {working_days: many}")
    found = _diagnose(_write(tmp_path, "type.yaml", text))
    sla = next(d for d in found if d.path == ("sla", "working_days"))
    assert sla.hint == "write a whole number, e.g. 5", sla.format()
