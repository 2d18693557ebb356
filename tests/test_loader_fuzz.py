"""Whatever YAML an analyst writes, load + validate returns diagnostics or a model, never raises."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motcua.workflows.dsl.diagnostics import DefinitionError, Diagnostic
from motcua.workflows.dsl.loader import load_yaml
from motcua.workflows.dsl.model import ProcedureDefinition
from motcua.workflows.dsl.validation import validate_definition

VALID = (Path(__file__).parent / "broken" / "valid_reference.yaml").read_text(encoding="utf-8")
BASE = yaml.safe_load(VALID)
FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))


def check(text: str) -> None:
    try:
        data, positions = load_yaml(text, filename="fuzz.yaml")
    except DefinitionError as e:
        assert e.diagnostics and all(isinstance(d, Diagnostic) for d in e.diagnostics)
        assert all("\n" not in d.format() for d in e.diagnostics)
        return
    defn, found = validate_definition(
        data, positions, filename="fuzz.yaml", activities={}, procedures={}
    )
    assert (defn is None) == bool(found)
    assert isinstance(defn, ProcedureDefinition | None)
    for d in found:
        assert d.code != "E099", d.format()
        assert d.line >= 1 and d.col >= 1
        assert "\n" not in d.format()


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["{{ x", "{{ input.pid }}", "{% if %}", "false", "id", "call", "steps"]),
)
data = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.text(max_size=8), st.sampled_from(list(BASE))), children, max_size=4
        ),
    ),
    max_leaves=20,
)
yaml_chars = st.text(
    alphabet=st.sampled_from(list("ab:- \n\t{}[],&*!|>'\"#%@`?\\x01é")), max_size=80
)


@FUZZ
@given(yaml_chars)
def test_random_text_never_raises(text: str) -> None:
    check(text)


@FUZZ
@given(st.text(max_size=200))
def test_random_unicode_never_raises(text: str) -> None:
    check(text)


@FUZZ
@given(data)
def test_random_structures_never_raise(value: Any) -> None:
    check(yaml.safe_dump(value, allow_unicode=True))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += _paths(v, (*prefix, i))
    return found


PATHS = [p for p in _paths(BASE) if p]


def _replace(value: Any, path: tuple[Any, ...], new: Any, *, delete: bool) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        copy = dict(value)
        if delete and not rest:
            copy.pop(head, None)
        else:
            copy[head] = _replace(copy[head], rest, new, delete=delete)
        return copy
    copy_list = list(value)
    if delete and not rest:
        del copy_list[head]
    else:
        copy_list[head] = _replace(copy_list[head], rest, new, delete=delete)
    return copy_list


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(PATHS), data, st.booleans()), min_size=1, max_size=3))
def test_mutated_valid_definition_never_raises(mutations: list[tuple[Any, Any, bool]]) -> None:
    value = BASE
    for path, new, delete in mutations:
        try:
            value = _replace(value, path, new, delete=delete)
        except (KeyError, IndexError, TypeError):
            continue
    check(yaml.safe_dump(value, allow_unicode=True, sort_keys=False))


def test_valid_reference_loads() -> None:
    data, positions = load_yaml(VALID, filename="v.yaml")
    _, found = validate_definition(data, positions, filename="v.yaml", activities={}, procedures={})
    assert found and {d.code for d in found} <= {"E002", "E012"}
