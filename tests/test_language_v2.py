"""Version 2 of the procedure language: what the engine writes in for the analyst.

The one-stop paperwork, `params.x` in a number's place, a fee per unit, `retries:` per
activity and a bundle's `use:` of its members are compile-time rewrites of the loaded YAML;
these tests read the compiled definition (what a case pins and runs) and the located
diagnostics of mistakes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from motcua.workflows.dsl import model as m
from motcua.workflows.dsl.compile import check_file, load_bundle, load_catalogue, load_procedure
from motcua.workflows.dsl.diagnostics import DefinitionError, Diagnostic
from motcua.workflows.dsl.walk import walk_definition

ROOT = Path(__file__).parents[1] / "procedure_defs"
EXAMPLE = ROOT / "examples" / "extract_copy.yaml"


def ids(steps: list[Any]) -> list[str]:
    return [s.id for s in steps]


def variant(tmp_path: Path, change: Any) -> Path:
    """The example, changed by `change(data)`, written where the catalogue sees it."""
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "extract_copy.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def diagnostics(path: Path) -> list[Diagnostic]:
    procedures = {pid: d for pid, (_, d) in load_catalogue(ROOT).items()}
    return check_file(path, procedures=procedures)[1]


def compiled(path: Path) -> m.ProcedureDefinition:
    return load_procedure(path, root=ROOT).definition


# ---------------------------------------------------------------- one-stop paperwork


def test_one_stop_writes_the_paperwork_in_as_steps() -> None:
    defn = compiled(EXAMPLE)
    assert ids(defn.steps) == [
        "place", "one_stop", "receipt", "tell_received", "review", "copy", "tell_result",
    ]  # fmt: skip
    review = defn.steps[4]
    assert isinstance(review, m.TaskStep)
    assert ids(review.task.on_supplement) == ["supplement_letter", "tell_supplement"]
    assert review.task.agency == "{{ 'UBND-' ~ commune }}"  # from one_stop.agency.code
    assert ids(defn.on_reject) == ["refusal", "tell_rejected"]
    assert defn.apology is not None and ids(defn.apology.steps) == ["tell_apology"]
    # The standard forms and notices, and the copy by its step's title, are declared.
    assert {"receipt", "supplement_request", "refusal", "example_certificate"} <= set(
        d.template for d in defn.documents.values()
    )
    assert set(defn.notifications) >= {"received", "rejected", "result_ready", "overdue_apology"}


def test_inside_a_bundle_the_member_keeps_quiet_what_the_bundle_says() -> None:
    steps = {s.id: s for s, _ in walk_definition(compiled(EXAMPLE))}
    quiet = {sid for sid, s in steps.items() if s.when == "not case.member"}
    assert quiet == {"receipt", "tell_received", "tell_rejected", "tell_apology"}
    # What only this agency can say is said in a bundle too.
    assert steps["tell_supplement"].when is None and steps["tell_result"].when is None


def test_a_piece_is_switched_off_or_overridden_by_id(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["one_stop"]["skip"] = ["tell_result", "tell_received"]
        own = {"id": "receipt", "document": {"template": "receipt", "sign_as": "commune"}}
        data["steps"].insert(1, own)

    defn = compiled(variant(tmp_path, change))
    assert ids(defn.steps) == ["place", "one_stop", "receipt", "review", "copy"]
    receipt = defn.steps[2]
    assert isinstance(receipt, m.DocumentStep) and receipt.document.data == {}  # the analyst's


def test_the_receipt_can_come_after_the_checks_that_refuse_before_it(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        check = {
            "id": "check",
            "switch": {
                "cases": [
                    {
                        "when": "input.copies < 1",
                        "steps": [
                            {"id": "too_few", "reject": {"reason": "Số bản sao phải từ 1 trở lên"}}
                        ],
                    }
                ]
            },
        }
        data["steps"].insert(1, check)
        data["one_stop"]["receive_after"] = "check"
        data["fee"] = {"amount": 8000, "total": "8000 * input.copies"}

    defn = compiled(variant(tmp_path, change))
    # `one_stop` (agency_name, contact) stays first: a refusal before the receipt needs it.
    assert ids(defn.steps)[:5] == ["place", "one_stop", "check", "receipt", "tell_received"]
    refused = defn.steps[2]
    assert isinstance(refused, m.SwitchStep)
    receipt = defn.steps[3]
    assert isinstance(receipt, m.DocumentStep)
    assert receipt.document.data["fields"] == {"Phí, lệ phí": "{{ (8000 * input.copies) | vnd }}"}

    def wrong(data: dict[str, Any]) -> None:
        data["one_stop"]["receive_after"] = "chek"

    found = [d for d in diagnostics(variant(tmp_path, wrong)) if d.code == "E027"]
    assert len(found) == 1 and "no step 'chek'" in found[0].message


def test_forms_titles_and_member_quiet_are_said_once(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["one_stop"] |= {
            "forms": {"receipt": "Mẫu CT04", "refusal": {"form_no": "Mẫu CT06", "title": "CT06"}},
            "quiet": ["tell_result"],
            "member_says": ["tell_rejected"],
            "fields": {"Nơi nhận kết quả": "Bộ phận một cửa"},
            "title": "Cấp bản sao trích lục (thử)",
        }
        data["one_stop"]["result"]["pickup"] = "Bộ phận một cửa"

    defn = compiled(variant(tmp_path, change))
    steps = {s.id: s for s, _ in walk_definition(defn)}
    receipt, refusal, letter = steps["receipt"], steps["refusal"], steps["supplement_letter"]
    assert isinstance(receipt, m.DocumentStep) and isinstance(refusal, m.DocumentStep)
    assert receipt.document.data["form_no"] == "Mẫu CT04"
    assert "(Mẫu CT04)" in (receipt.title or "")
    assert (refusal.document.data["form_no"], refusal.title) == ("Mẫu CT06", "CT06")
    assert list(receipt.document.data["fields"]) == ["Nơi nhận kết quả", "Phí, lệ phí"]
    assert "procedure_code" not in receipt.document.data  # the example has no `code`
    assert steps["tell_rejected"].when is None
    assert isinstance(letter, m.DocumentStep) and "form_no" not in letter.document.data
    assert receipt.document.data["procedure_title"] == "Cấp bản sao trích lục (thử)"
    result = steps["tell_result"]
    assert isinstance(result, m.NotifyStep) and result.when == "not case.member"
    assert result.notify.data["pickup"] == "Bộ phận một cửa"


def test_a_generated_piece_goes_next_to_its_partner_the_analyst_wrote(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        own = {"id": "receipt", "document": {"template": "receipt", "sign_as": "commune"}}
        data["steps"].insert(2, own)  # after `review`: the notice follows it there
        tell = {"id": "tell_rejected", "notify": {"to": "{{ contact }}", "template": "rejected"}}
        data["on_reject"] = [tell]
        letter = {"id": "supplement_letter", "document": {"template": "supplement_request",
                  "sign_as": "commune"}}  # fmt: skip
        data["steps"][1]["task"]["on_supplement"] = [{"id": "mark", "set": {"asked": True}}, letter]

    defn = compiled(variant(tmp_path, change))
    assert ids(defn.steps)[:5] == ["place", "one_stop", "review", "receipt", "tell_received"]
    assert ids(defn.on_reject) == ["refusal", "tell_rejected"]
    review = defn.steps[2]
    assert isinstance(review, m.TaskStep)
    assert ids(review.task.on_supplement) == ["mark", "supplement_letter", "tell_supplement"]
    notice = review.task.on_supplement[2]
    assert isinstance(notice, m.NotifyStep)
    assert "{{ supplement_letter.document_ref if supplement_letter is defined" in str(
        notice.notify.data["document"]
    )  # the analyst's letter, or none where its own `when:` skipped it


def test_mistakes_are_located_where_written_around_generated_steps(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    broken = text.replace(
        'Ngày đăng ký: "{{ registration.registered_at | vn_date }}"',
        'Ngày đăng ký: "{{ registraton.registered_at | vn_date }}"',
    ).replace('name: "{{ applicant.full_name }}"', 'name: "{{ aplicant.full_name }}"')
    path = tmp_path / "extract_copy.yaml"
    path.write_text(broken, encoding="utf-8")
    lines = broken.splitlines()
    found = {(d.code, d.line) for d in diagnostics(path)}
    copy_line = next(i for i, t in enumerate(lines, 1) if "registraton" in t)
    one_stop_line = next(i for i, t in enumerate(lines, 1) if t.startswith("one_stop:"))
    applicant_line = next(i for i, t in enumerate(lines, 1) if "aplicant.full_name" in t)
    assert ("E008", copy_line) in found
    # In the one-stop block: at the line written, or at the block for a generated step.
    assert {("E008", applicant_line), ("E008", one_stop_line)} & found


def test_without_one_stop_nothing_is_written_in() -> None:
    defn = compiled(ROOT / "examples" / "every_step.yaml")  # version 1, still loads
    assert "one_stop" not in ids(defn.steps)
    assert defn.one_stop is None


# ---------------------------------------------------------------- parameters and fees


def test_params_are_resolved_where_a_number_goes() -> None:
    defn = compiled(EXAMPLE)
    review = next(s for s in defn.steps if isinstance(s, m.TaskStep))
    assert review.task.supplement.working_days == defn.parameters["supplement_days"] == 5
    assert defn.fee.amount == 8000 and defn.fee.per == "bản"


def test_an_unknown_parameter_is_named_where_written(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["steps"][1]["task"]["supplement"]["working_days"] = "params.supplement_dayz"

    path = variant(tmp_path, change)
    found = [d for d in diagnostics(path) if d.code == "E026"]
    assert len(found) == 1 and "supplement_dayz" in found[0].message
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "dayz" in t)
    assert found[0].line == line
    assert "supplement_days" in (found[0].hint or "")


def test_a_fee_per_unit_is_totalled_on_the_receipt() -> None:
    defn = compiled(EXAMPLE)
    receipt = next(s for s in defn.steps if s.id == "receipt")
    assert isinstance(receipt, m.DocumentStep)
    fee = receipt.document.data["fields"]["Phí, lệ phí"]
    assert "input.copies" in fee and "vnd" in fee
    with pytest.raises(ValueError, match="both `per`"):
        m.Fee(amount=8000, per="bản")


# ---------------------------------------------------------------- retries and use


CHILD = """id: vn.child
version: 1
title: Con
agency: commune
sla: {working_days: 1}
input:
  pid: {type: pid, title: Số định danh}
  name: {type: string, title: Họ tên, prefill: "{{ person.full_name }}", required: false}
  scan: {type: file, title: Bản chụp, required: false}
prefill:
  - id: person
    call: population.get_citizen
    with: {pid: "{{ input.pid }}"}
retries:
  population.: {initial_interval: 3s}
  population.get_citizen: {max_attempts: 4}
steps:
  - id: again
    call: population.get_citizen
    with: {pid: "{{ input.pid }}"}
    retry: {max_attempts: 2}
"""

BUNDLE = """id: vn.bundle
version: 1
title: Nhóm
agency: commune
sla: {working_days: 2}
use:
  - {procedure: vn.child, except: [scan]}
input:
  pid: {type: pid, title: Số định danh của người nộp (bundle's own wording)}
  extra: {type: string, title: Thêm}
prefill:
  - id: own
    call: population.get_citizen
    with: {pid: "{{ person.pid }}"}
steps:
  - id: child
    procedure: {id: vn.child, input: {name: "{{ input.extra }}"}}
"""


def test_retries_are_declared_once_per_activity(tmp_path: Path) -> None:
    (tmp_path / "child.yaml").write_text(CHILD, encoding="utf-8")
    defn = load_procedure(tmp_path / "child.yaml", root=tmp_path).definition
    person, again = defn.prefill[0], defn.steps[0]
    assert isinstance(person, m.CallStep) and isinstance(again, m.CallStep)
    assert person.retry is not None and again.retry is not None
    assert (person.retry.initial_interval, person.retry.max_attempts) == (3.0, 4)
    assert (again.retry.initial_interval, again.retry.max_attempts) == (3.0, 2)  # its own wins


def test_a_bundle_uses_a_members_inputs_and_lookups(tmp_path: Path) -> None:
    (tmp_path / "child.yaml").write_text(CHILD, encoding="utf-8")
    (tmp_path / "bundle.yaml").write_text(BUNDLE, encoding="utf-8")
    bundle, members = load_bundle(tmp_path / "bundle.yaml", root=tmp_path)
    defn = bundle.definition
    assert list(defn.input) == ["pid", "extra", "name"]  # `scan` left out
    assert defn.input["pid"].title.endswith("(bundle's own wording)")  # its own wins
    assert ids(defn.prefill) == ["person", "own"]  # the member's look-up first
    child = defn.steps[0]
    assert isinstance(child, m.ProcedureStep)
    assert child.procedure.input == {"name": "{{ input.extra }}", "pid": "{{ input.pid }}"}
    assert set(members) == {"vn.child"}


def test_a_use_of_what_the_member_lacks_is_located(tmp_path: Path) -> None:
    (tmp_path / "child.yaml").write_text(CHILD, encoding="utf-8")
    text = BUNDLE.replace("except: [scan]", "input: [pid, nam]")
    (tmp_path / "bundle.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_procedure(tmp_path / "bundle.yaml", root=tmp_path)
    found = [d for d in caught.value.diagnostics if d.code == "E027"]
    assert len(found) == 1 and "nam" in found[0].message and found[0].line == 7


def test_a_version_1_filter_name_says_what_it_became(tmp_path: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["steps"][0]["set"]["when_text"] = "{{ now | date_vn }}"

    found = [d for d in diagnostics(variant(tmp_path, change)) if d.code == "E023"]
    assert len(found) == 1 and "renamed 'vn_date'" in (found[0].hint or "")


# ---------------------------------------------------------------- the docs stay true


DOCS = Path(__file__).parents[1] / "docs"


def test_the_docs_show_the_example_as_it_is() -> None:
    text = (DOCS / "procedure-language.md").read_text(encoding="utf-8")
    assert EXAMPLE.read_text(encoding="utf-8").rstrip() in text
    assert len(EXAMPLE.read_text(encoding="utf-8").splitlines()) < 80


def test_the_scenario_docs_name_every_key() -> None:
    from pydantic import BaseModel

    from motcua.simulate import model as scenario

    text = (DOCS / "scenarios.md").read_text(encoding="utf-8")
    # A key is documented when it is written as code: `name`, `start.at`, `{seed: 7}`.
    spans = re.findall(r"```.*?```|`[^`\n]+`", text, flags=re.S)
    written = {w for span in spans for w in re.findall(r"\w+", span)}
    models: list[type[BaseModel]] = [
        scenario.Scenario, scenario.Start, scenario.SandboxSpec, scenario.FinalExpect,
        scenario.WorkingDaysExpect, scenario.DueExpect, *scenario.STEP_KINDS.values(),
    ]  # fmt: skip
    missing = {
        f"{model.__name__}.{name}"
        for model in models
        for name in model.model_fields
        if name != "file" and name not in written
    }
    missing |= {kind for kind in scenario.STEP_KINDS if kind not in written}
    assert not missing, f"docs/scenarios.md does not document: {sorted(missing)}"


def test_the_catalogue_knows_bundles_that_use_their_members() -> None:
    catalogue = load_catalogue(ROOT)
    assert {
        "vn.bundle.birth_residence_insurance",
        "vn.bundle.death_deregistration_allowance",
    } <= set(catalogue)
    bundle = catalogue["vn.bundle.birth_residence_insurance"][1]
    assert "birth_certificate_no" in bundle.input  # taken from the birth member by `use:`
