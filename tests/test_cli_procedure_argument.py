"""Every command that takes a procedure takes its id or its file."""

from __future__ import annotations

from click.testing import CliRunner

from motcua.cli import main
from tests.helpers import ROOT

BIRTH = ROOT / "procedure_defs/civil_status/birth_registration.yaml"


def test_graph_describe_take_an_id_or_a_file() -> None:
    runner = CliRunner()
    by_id = runner.invoke(main, ["graph", "vn.birth_registration", "--format", "mermaid"])
    by_file = runner.invoke(main, ["graph", str(BIRTH), "--format", "mermaid"])
    assert by_id.exit_code == 0, by_id.output
    assert by_id.output == by_file.output
    described = runner.invoke(main, ["describe", "vn.birth_registration"])
    assert described.exit_code == 0 and "Đăng ký khai sinh" in described.output


def test_an_unknown_procedure_is_named_with_what_is_known() -> None:
    result = CliRunner().invoke(main, ["start", "vn.birth_registratoin", "--input", "{}"])
    assert result.exit_code == 1
    assert "no procedure with id 'vn.birth_registratoin'" in result.output
    assert "vn.birth_registration" in result.output  # the known ids are listed


def test_a_missing_file_is_named() -> None:
    result = CliRunner().invoke(main, ["start", "nowhere/birth.yaml", "--input", "{}"])
    assert result.exit_code == 1 and "no such file: nowhere/birth.yaml" in result.output
