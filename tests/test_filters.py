"""The analysts' filters give the same text in expressions and in templates."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from motcua.activities.templates import TemplateFolder
from motcua.workflows.dsl.expressions import ExpressionError, evaluate
from motcua.workflows.dsl.filters import FILTERS

# A date to format (not a moment a case starts): any fixed day does, on any day of the run.
ISO_DAY = "2026-11-23"


@pytest.mark.parametrize(
    ("expression", "scope", "expected"),
    [
        ("{{ x | vn_date }}", {"x": datetime(2026, 11, 23, 18, 30, tzinfo=UTC)}, "24/11/2026"),
        ("{{ x | vn_date }}", {"x": ISO_DAY}, "23/11/2026"),
        ("{{ x | vn_date }}", {"x": "23/11/2026"}, "23/11/2026"),
        ("{{ x | vn_date }}", {"x": None}, ""),
        ("{{ x | vn_long_date }}", {"x": date(2026, 1, 5)}, "ngày 05 tháng 01 năm 2026"),
        (
            "{{ x | vn_datetime }}",
            {"x": datetime(2026, 11, 23, 8, 30, tzinfo=UTC)},
            "15:30 ngày 23/11/2026",
        ),
        ("{{ x | vnd }}", {"x": 8000}, "8.000 đ"),
        ("{{ x | vnd }}", {"x": 1250000.4}, "1.250.000 đ"),
        ("{{ x | vnd }}", {"x": 0}, "0 đ"),
        ("{{ x | place_name }}", {"x": "00070"}, "phường Hoàn Kiếm, thành phố Hà Nội"),
        ("{{ x | place_name }}", {"x": "82"}, "tỉnh Đồng Tháp"),
        (
            "{{ x | agency_title }}",
            {"x": "00070"},
            "Ủy ban nhân dân phường Hoàn Kiếm, thành phố Hà Nội",
        ),
        ("{{ x | agency_title }}", {"x": "01"}, "Ủy ban nhân dân thành phố Hà Nội"),
        ("{{ x | vn_sex }}", {"x": "female"}, "Nữ"),
    ],
)
def test_a_filter_in_an_expression(expression: str, scope: dict, expected: str) -> None:
    assert evaluate(expression, scope) == expected


def test_the_same_filters_in_a_template(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("MOTCUA_PROCEDURE_DIR", str(tmp_path))
    folder = TemplateFolder("notification", "notifications", ".j2")
    source = "{{ fee | vnd }} · {{ commune | agency_title }} · {{ at | vn_date }}"
    context = {"fee": 8000, "commune": "00070", "at": ISO_DAY}
    text = folder.render("t", source, context, finalize=str)
    expected = evaluate(source, context)
    assert (
        text
        == expected
        == "8.000 đ · Ủy ban nhân dân phường Hoàn Kiếm, thành phố Hà Nội · 23/11/2026"
    )


@pytest.mark.parametrize(
    ("expression", "value", "says"),
    [
        ("{{ x | place_name }}", "99999", "commune code"),
        ("{{ x | vn_date }}", "tomorrow", "vn_date needs a date"),
        ("{{ x | vnd }}", None, "vnd needs an amount"),
    ],
)
def test_a_bad_value_says_what_the_filter_needs(expression: str, value: object, says: str) -> None:
    with pytest.raises(ExpressionError, match=says):
        evaluate(expression, {"x": value})


def test_every_analyst_filter_is_documented() -> None:
    from pathlib import Path

    docs = (Path(__file__).resolve().parent.parent / "docs/procedure-language.md").read_text()
    for name in FILTERS:
        assert f"`{name}`" in docs, name
