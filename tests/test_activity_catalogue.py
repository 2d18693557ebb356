"""The catalogue of activities: what `motcua activities` and docs/activities.md say, and the
validator's table of result fields, all follow the code."""

from __future__ import annotations

from click.testing import CliRunner

from motcua.activities import describe, results
from motcua.activities.registry import catalogue
from motcua.cli import main
from motcua.workflows.contracts import Decision
from motcua.workflows.dsl import validation
from tests.helpers import ROOT


def test_the_result_table_follows_the_models() -> None:
    assert results.RESULTS == describe.result_table(), (
        "run `python -m motcua.activities.describe > motcua/activities/results.py`"
    )


def test_docs_activities_md_is_current() -> None:
    written = (ROOT / "docs/activities.md").read_text(encoding="utf-8")
    assert written == describe.markdown(), "run `motcua activities --markdown > docs/activities.md`"


def test_decision_fields_follow_the_contract() -> None:
    assert set(validation.DECISION_FIELDS) == set(Decision.model_fields)


def test_one_activity_says_what_it_takes_returns_and_raises() -> None:
    result = CliRunner().invoke(main, ["activities", "population.get_citizen"])
    assert result.exit_code == 0, result.output
    assert "with: pid: str" in result.output
    assert "address" in result.output and "NotFound" in result.output
    assert "Unavailable (retried)" in result.output


def test_a_misspelt_activity_is_named_with_the_likely_one() -> None:
    result = CliRunner().invoke(main, ["activities", "population.get_citizn"])
    assert result.exit_code == 1
    assert "did you mean 'population.get_citizen'?" in result.output


def test_every_activity_is_documented() -> None:
    text = describe.markdown()
    for name in describe.callable_by_definitions():
        assert f"## {name}\n" in text


def test_a_definition_cannot_call_what_the_engine_calls_itself() -> None:
    from motcua.activities import signatures

    assert "definitions.fetch" in catalogue()  # the worker registers it
    assert "definitions.fetch" not in signatures.catalogue()  # `call:` refuses it
