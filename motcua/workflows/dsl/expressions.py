"""Expressions: Jinja2 in an immutable sandbox, the same language as the templates.

A value that is exactly ``"{{ expr }}"`` keeps its type (number, dict, list); any other
string containing ``{{`` renders as text; everything else is a literal. `when:` guards are
bare expressions (``"review.action == 'approve'"``); braces around them are accepted too.

Evaluation is a pure function of the scope it is given, so the workflow can call it:
the interpreter puts the workflow clock in the scope as ``now``. Missing names are errors
(StrictUndefined), never a silent empty string.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, Undefined, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from motcua.workflows.dsl.filters import FILTERS as ANALYST_FILTERS

_WHOLE = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.DOTALL)


class ExpressionError(Exception):
    """An expression that does not parse or cannot be evaluated, with the offending text."""

    def __init__(self, expression: str, message: str) -> None:
        super().__init__(f"{message} in expression {expression!r}")
        self.expression = expression
        self.message = message


# What an expression may call: Jinja2's deterministic filters and globals, and the
# analysts' own (motcua.workflows.dsl.filters), so the same scope always gives the same
# value and a replay never diverges. Left out: `random`,
# `lipsum` (random text), `cycler`/`joiner`/`namespace` (state that changes between calls).
FILTERS = frozenset(
    {
        "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort",
        "e", "escape", "filesizeformat", "first", "float", "format", "groupby", "indent",
        "int", "items", "join", "last", "length", "list", "lower", "map", "max", "min",
        "pprint", "reject", "rejectattr", "replace", "reverse", "round", "safe", "select",
        "selectattr", "slice", "sort", "string", "striptags", "sum", "title", "tojson",
        "trim", "truncate", "unique", "upper", "urlencode", "wordcount", "wordwrap",
        "xmlattr",
    }
    | set(ANALYST_FILTERS)
)  # fmt: skip
GLOBALS = frozenset({"range", "dict"})


def _make_env() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
    env.filters.update(ANALYST_FILTERS)
    env.filters = {name: f for name, f in env.filters.items() if name in FILTERS}
    env.globals = {name: g for name, g in env.globals.items() if name in GLOBALS}
    return env


ENV = _make_env()


def _whole_expression(value: str) -> str | None:
    """The inner expression if `value` is exactly one ``{{ ... }}``, else None."""
    m = _WHOLE.match(value)
    if not m or "{{" in m.group(1) or "}}" in m.group(1):
        return None
    return m.group(1).strip()


def is_template(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


# Compiled once per worker process, by text: compiling is pure (the same text always gives
# the same code), and it is most of an expression's cost (a case evaluated its expressions
# in ~30 ms compiling each time, ~1 ms from this cache). The workflow sandbox passes this
# module through, so every case on the worker shares the cache. Bounded, for a worker that
# sees many definitions.
@lru_cache(maxsize=8192)
def _expression(text: str) -> Callable[..., Any]:
    return ENV.compile_expression(text, undefined_to_none=False)


@lru_cache(maxsize=8192)
def _template(text: str) -> Template:
    return ENV.from_string(text)


def evaluate(value: Any, scope: Mapping[str, Any]) -> Any:
    """Evaluate every expression inside `value` (recursing into dicts and lists)."""
    if isinstance(value, dict):
        return {k: evaluate(v, scope) for k, v in value.items()}
    if isinstance(value, list):
        return [evaluate(v, scope) for v in value]
    if not isinstance(value, str) or "{{" not in value:
        return value
    inner = _whole_expression(value)
    with _as_expression_error(value):
        if inner is not None:
            return _unwrap(_expression(inner)(**scope))
        return _template(value).render(**scope)


def condition(expression: str, scope: Mapping[str, Any]) -> bool:
    """Evaluate a `when:` guard to a bool."""
    inner = _whole_expression(expression)
    with _as_expression_error(expression):
        text = inner if inner is not None else expression
        return bool(_expression(text)(**scope))


@contextmanager
def _as_expression_error(expression: str) -> Iterator[None]:
    """Whatever goes wrong while evaluating is the expression's fault: say so, precisely."""
    try:
        yield
    except TemplateSyntaxError as e:
        raise ExpressionError(expression, f"syntax error: {e.message}") from None
    except SecurityError as e:
        raise ExpressionError(expression, f"refused by the sandbox: {e}") from None
    except UndefinedError as e:
        raise ExpressionError(expression, f"undefined name: {e.message}") from None
    except Exception as e:  # noqa: BLE001
        raise ExpressionError(expression, f"{type(e).__name__}: {e}") from None


def _unwrap(value: Any) -> Any:
    # A typed expression returns StrictUndefined unevaluated (e.g. a missing dict key):
    # make it the same error as any other missing name.
    if isinstance(value, Undefined):
        raise UndefinedError(value._undefined_message)
    # Markup strings become plain str for serialisation.
    if isinstance(value, str) and type(value) is not str:
        return str(value)
    return value


def parse_error(value: str, *, bare: bool = False) -> str | None:
    """The syntax error of a template string or bare expression, or None if it parses."""
    try:
        _parse(value, bare=bare)
    except TemplateSyntaxError as e:
        return e.message or "syntax error"
    return None


@lru_cache(maxsize=8192)
def _parse(value: str, *, bare: bool) -> nodes.Template:
    # Cached: validation parses each expression for errors, filters and names. The tree is
    # only read (find_all), never changed.
    inner = _whole_expression(value)
    if bare and inner is None:
        return ENV.parse("{{ " + value + " }}")
    return ENV.parse(value)


def filters_used(value: str, *, bare: bool = False) -> set[str]:
    """Names of the filters an expression or template applies (empty if it does not parse)."""
    try:
        tree = _parse(value, bare=bare)
    except TemplateSyntaxError:
        return set()
    return {node.name for node in tree.find_all(nodes.Filter)}


def names_used(value: str, *, bare: bool = False) -> set[str]:
    """Top-level names an expression or template reads (empty if it does not parse)."""
    try:
        return set(meta.find_undeclared_variables(_parse(value, bare=bare)))
    except TemplateSyntaxError:
        return set()


def attribute_reads(value: str, *, bare: bool = False) -> list[tuple[str, tuple[str, ...]]]:
    """(name, attributes) for each chain such as `mother.address.commune_code` that an
    expression reads; a constant string subscript (`x['a']`) counts as an attribute, and a
    chain stops at anything else (`x.items[0]`: only `x.items` is read by name)."""
    try:
        tree = _parse(value, bare=bare)
    except TemplateSyntaxError:
        return []
    found: list[tuple[str, tuple[str, ...]]] = []
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        chain: list[str] = []
        current: nodes.Node = node
        while True:
            if isinstance(current, nodes.Getattr):
                chain.append(current.attr)
                current = current.node
            elif (
                isinstance(current, nodes.Getitem)
                and isinstance(current.arg, nodes.Const)
                and isinstance(current.arg.value, str)
            ):
                chain.append(current.arg.value)
                current = current.node
            else:
                break
        if chain and isinstance(current, nodes.Name) and current.ctx == "load":
            found.append((current.name, tuple(reversed(chain))))
    return found


def strings_in(value: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """(relative path, string) for every template string inside a nested value."""
    found: list[tuple[tuple[str | int, ...], str]] = []
    if isinstance(value, dict):
        for k, v in value.items():
            found += [((k, *p), s) for p, s in strings_in(v)]
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += [((i, *p), s) for p, s in strings_in(v)]
    elif is_template(value):
        found.append(((), value))
    return found
