"""The catalogue of activities as people read it: what each takes, returns, and how it fails.

`motcua activities` prints it and `docs/activities.md` is generated from it
(`motcua activities --markdown > docs/activities.md`; a test keeps the file current). Every
figure comes from the code: arguments and results from the activities' pydantic models,
retry windows from motcua.activities.profiles, errors from the family's error table.

`result_fields(model)` is also what the validator's light table of result fields
(motcua.activities.results) is generated from, so a definition that reads a field an
activity does not return is refused before a case runs.
"""

from __future__ import annotations

import inspect
import types
import typing
from dataclasses import dataclass
from typing import Any, Union

from pydantic import BaseModel

from motcua.activities.base import IMPLICIT_FIELDS
from motcua.activities.profiles import profile_for
from motcua.activities.registry import ActivitySpec, callable_by_definitions

# An error type, whether the activity retries it, what it means. The registries' follow
# their HTTP answers (motcua.activities.registries.http); the others raise their own.
Errors = tuple[tuple[str, bool, str], ...]
REGISTRY_ERRORS: Errors = (
    ("NotFound", False, "the registry has no such record (404)"),
    ("NotEligible", False, "the registry refuses: the person or case does not qualify (422)"),
    ("InvalidInput", False, "the registry refuses the request as malformed (422)"),
    ("IdempotencyConflict", False, "the same key was used with other data (422)"),
    ("Duplicate", False, "already done under another key (409)"),
    ("Unavailable", True, "timeout, connection error, 408, 429 or 5xx"),
    ("Refused", False, "any other answer"),
    ("InvalidAnswer", False, "a 2xx answer that breaks the registry's contract"),
)
_INVALID = ("InvalidInput", False, "the arguments are refused (the message says which)")
FAMILY_ERRORS: dict[str, Errors] = {
    "calendar": (("(any)", True, "the calendar data file cannot be read or is wrong"),),
    "documents": (
        _INVALID,
        ("TemplateError", False, "the template does not render with this data"),
        ("(any other)", True, "signing or storage failed"),
    ),
    "notify": (
        _INVALID,
        ("TemplateError", False, "the template does not render with this data"),
        ("DeliveryFailed", True, "a channel failed; the retry sends only what is unsent"),
    ),
    "register": (
        _INVALID,
        ("IdempotencyConflict", False, "the same key already wrote a different entry"),
        ("NotFound", False, "no such entry"),
    ),
}
WHAT_THE_CASE_DOES = (
    "An error that is not retried, or a retried one still failing when the call's window "
    "is over, stalls the case on that step: an officer retries it, provides the result, "
    "skips it (where the step allows) or aborts the case (`motcua resume`). A step can say "
    "otherwise with `on_exhausted: fail` (the case fails) or `continue` (the result is "
    "null)."
)
DICT_METHODS = frozenset({"get", "items", "keys", "values"})  # readable on any mapping


def family(name: str) -> str:
    return name.split(".", 1)[0]


def errors_of(name: str) -> Errors:
    return FAMILY_ERRORS.get(family(name), REGISTRY_ERRORS)


def type_text(tp: Any) -> str:
    """A type as an analyst reads it: str, int, date, list[str], Citizen..."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return type_text(typing.get_args(tp)[0])
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        union = " | ".join(type_text(a) for a in args)
        return f"{union} | null" if len(args) < len(typing.get_args(tp)) else union
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin is not None:
        inner = ", ".join(type_text(a) for a in typing.get_args(tp))
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    if tp is Any:
        return "any"
    return getattr(tp, "__name__", str(tp))


def _model_of(tp: Any) -> type[BaseModel] | None:
    """The model a field holds (through `X | None`), or None."""
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = args[0] if len(args) == 1 else None
    return tp if inspect.isclass(tp) and issubclass(tp, BaseModel) else None


def result_fields(model: type[BaseModel]) -> dict[str, Any]:
    """Field name -> its own fields (a nested model) or None (a value: nothing to check
    below it)."""
    tree: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        nested = _model_of(field.annotation)
        tree[field.alias or name] = result_fields(nested) if nested else None
    return tree


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    required: bool
    description: str


def _fields(model: type[BaseModel] | None, *, skip: frozenset[str] = frozenset()) -> list[Field]:
    if model is None:
        return []
    return [
        Field(f.alias or n, type_text(f.annotation), f.is_required(), f.description or "")
        for n, f in model.model_fields.items()
        if n not in skip
    ]


def _nested(model: type[BaseModel] | None) -> list[tuple[str, list[Field]]]:
    """The models inside a result, each once, by name (Citizen -> Address...)."""
    found: dict[str, list[Field]] = {}
    pending = [model] if model else []
    while pending:
        current = pending.pop()
        for f in current.model_fields.values():
            for arg in (f.annotation, *typing.get_args(f.annotation)):
                inner = _model_of(arg)
                if inner is not None and inner.__name__ not in found:
                    found[inner.__name__] = _fields(inner)
                    pending.append(inner)
    return sorted(found.items())


def _summary(spec: ActivitySpec) -> str:
    doc = inspect.getdoc(spec.fn) or ""
    return " ".join(doc.split("\n\n", 1)[0].split())


def markdown(specs: dict[str, ActivitySpec] | None = None) -> str:
    """docs/activities.md."""
    specs = specs or callable_by_definitions()
    out = [
        "# Activities",
        "",
        "Generated by `motcua activities --markdown` from the code (a test keeps it current).",
        "",
        "Every activity a definition can `call:` (and the ones `document:` and `notify:` "
        "call), with the `with:` arguments it takes, the fields of its result (what later "
        "steps read as `<step id>.<field>`), its call profile and its errors. The workflow "
        "adds `idempotency_key` and `dossier_code` itself. " + WHAT_THE_CASE_DOES,
        "",
        "| activity | what it does |",
        "|---|---|",
    ]
    out += [f"| [`{n}`](#{n.replace('.', '')}) | {_summary(s)} |" for n, s in sorted(specs.items())]
    for name, spec in sorted(specs.items()):
        profile = profile_for(name)
        out += ["", f"## {name}", "", _summary(spec) or "(no description)", ""]
        out += [
            f"Call profile: {profile.timeout:g} s per attempt, heartbeat {profile.heartbeat:g} s,"
            f" retried for {profile.window / 60:g} min.",
            "",
        ]
        arguments = _fields(spec.input_model, skip=IMPLICIT_FIELDS)
        out += (
            ["**Arguments** (`with:`)", ""] + _table(arguments)
            if arguments
            else ["No arguments.", ""]
        )
        result = _fields(spec.output_model)
        if result:
            title = spec.output_model.__name__ if spec.output_model else ""
            out += [f"**Result** ({title})", ""] + _table(result)
            for model_name, fields in _nested(spec.output_model):
                out += [f"*{model_name}*", ""] + _table(fields)
        out += ["**Errors**", "", "| type | retried | when |", "|---|---|---|"]
        out += [f"| {t} | {'yes' if r else 'no'} | {w} |" for t, r, w in errors_of(name)]
    return "\n".join(out) + "\n"


def _table(fields: list[Field]) -> list[str]:
    rows = ["| field | type | required | description |", "|---|---|---|---|"]
    rows += [
        f"| `{f.name}` | {f.type} | {'yes' if f.required else 'no'} | {f.description} |"
        for f in fields
    ]
    return [*rows, ""]


def text(specs: dict[str, ActivitySpec] | None = None, only: str | None = None) -> str:
    """What `motcua activities` prints: one activity per block, or the one asked for."""
    specs = specs or callable_by_definitions()
    lines: list[str] = []
    for name, spec in sorted(specs.items()):
        if only is not None and name != only:
            continue
        lines.append(f"{name}: {_summary(spec)}")
        args = _fields(spec.input_model, skip=IMPLICIT_FIELDS)
        lines.append(
            "  with: "
            + (", ".join(f"{a.name}{'' if a.required else '?'}: {a.type}" for a in args) or "-")
        )
        if spec.output_model is not None:
            fields = ", ".join(f.name for f in _fields(spec.output_model))
            lines.append(f"  result ({spec.output_model.__name__}): {fields}")
        errs = ", ".join(f"{t}{' (retried)' if r else ''}" for t, r, _ in errors_of(name))
        lines.append(f"  errors: {errs}")
        lines.append("")
    if only is not None and not lines:
        raise KeyError(only)
    return "\n".join(lines)


def result_table(specs: dict[str, ActivitySpec] | None = None) -> dict[str, dict[str, Any]]:
    """Activity -> the fields of its result, for the validator (motcua.activities.results)."""
    specs = specs or callable_by_definitions()
    return {n: result_fields(s.output_model) for n, s in sorted(specs.items()) if s.output_model}


RESULTS_HEADER = '''"""Each activity's result fields, for the validator: generated, do not edit.

`python -m motcua.activities.describe > motcua/activities/results.py` writes it from the
activities' result models (importing them is too slow for `motcua validate`);
tests/test_activity_catalogue.py fails until it is current. A field maps to its own
fields (a nested model) or to None (a value: what is below it is not checked).
"""

from typing import Any

RESULTS: dict[str, dict[str, Any]] = '''


def results_module() -> str:
    import pprint

    return RESULTS_HEADER + pprint.pformat(result_table(), width=92, sort_dicts=False) + "\n"


if __name__ == "__main__":
    print(results_module(), end="")  # noqa: T201 - the generator's output
