"""Property-based requests from an OpenAPI document, and the checks on what comes back: a
small stand-in for Schemathesis (not installable here), used by tests/test_api_openapi.py.

- `from_schema(schema, doc)`: a Hypothesis strategy for JSON values that a JSON Schema
  (OpenAPI 3.1 flavour, `$ref`s into `doc`'s components) accepts, for the shapes pydantic
  emits: refs, anyOf/oneOf/allOf, enum/const, strings (length, pattern, date-time, date),
  numbers with bounds, arrays, objects with required/optional properties and
  additionalProperties.
- `json_values()`: any JSON value, for bodies that break the schema on purpose.
- `problems(doc, op, status, content_type, body)`: what is wrong with a response: a 5xx
  that the operation does not declare, or a body that breaks the schema declared for that
  status, or, for an undeclared status, a body that is not the house's refusal
  (`{"detail": "<reason>"}`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st
from jsonschema import Draft202012Validator

Schema = dict[str, Any]
MAX_TEXT = 40  # keep generated texts short: the point is their shape, not their length
MAX_ITEMS = 4
ZONES = [None, UTC, timezone(timedelta(hours=7)), timezone(timedelta(hours=-5, minutes=-30))]

# What every refusal looks like when its status is not declared (HTTPException's body).
REFUSAL: Schema = {
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"type": "string", "minLength": 1}},
}


def texts(
    wild: bool = False, min_size: int = 0, max_size: int = MAX_TEXT
) -> st.SearchStrategy[str]:
    """Texts; `wild` ones may hold lone surrogates (JSON's `\\ud800`) and control characters."""
    alphabet = st.characters() if wild else st.characters(codec="utf-8")
    return st.text(alphabet, min_size=min_size, max_size=max_size)


def json_values(wild: bool = False) -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63)
        | st.floats(allow_nan=False, allow_infinity=False)
        | texts(wild)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=MAX_ITEMS)
            | st.dictionaries(texts(wild, max_size=12), inner, max_size=MAX_ITEMS)
        ),
        max_leaves=8,
    )


def resolve(schema: Schema, doc: Schema) -> Schema:
    """`schema` with a top-level `$ref` into `doc` followed (siblings kept)."""
    while "$ref" in schema:
        ref = schema["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"only local $refs are supported, not {ref}")
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def from_schema(
    schema: Schema | bool, doc: Schema, depth: int = 0, wild: bool = False
) -> st.SearchStrategy[Any]:
    """Values `schema` accepts; `wild` texts where any text is accepted (see `texts`)."""

    def inner(s: Schema | bool, deeper: int = 1) -> st.SearchStrategy[Any]:
        return from_schema(s, doc, depth + deeper, wild)

    if schema is True or schema == {}:
        return json_values(wild)
    if schema is False:
        return st.nothing()
    assert isinstance(schema, dict)
    schema = resolve(schema, doc)
    if depth > 6:
        return st.nothing()  # a recursive schema: stop here
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of([inner(s) for s in schema[key]])
    if "allOf" in schema:
        merged: Schema = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            merged = {**resolve(part, doc), **merged}
        return inner(merged)
    kind = schema.get("type")
    if isinstance(kind, list):
        return st.one_of([inner({**schema, "type": k}, 0) for k in kind])
    if kind is None:
        return json_values(wild)
    if kind == "string":
        return _strings(schema, wild)
    if kind == "integer":
        low, high = _bounds(schema)
        return st.integers(
            min_value=None if low is None else int(low), max_value=None if high is None else high
        )
    if kind == "number":
        low, high = _bounds(schema)
        return st.floats(low, high, allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        items = inner(schema.get("items", True))
        low = schema.get("minItems", 0)
        return st.lists(items, min_size=low, max_size=min(schema.get("maxItems", 99), low + 4))
    if kind == "object":
        return _objects(schema, inner, wild)
    raise ValueError(f"unsupported schema type {kind!r}")


def _bounds(schema: Schema) -> tuple[float | None, float | None]:
    low = schema.get("minimum", schema.get("exclusiveMinimum"))
    high = schema.get("maximum", schema.get("exclusiveMaximum"))
    if "exclusiveMinimum" in schema:
        low = low + 1
    if "exclusiveMaximum" in schema:
        high = high - 1
    return low, high


def _strings(schema: Schema, wild: bool) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    cap = high if high is not None else 10_000

    def fits(s: str) -> bool:
        return low <= len(s) <= cap

    if schema.get("format") == "date-time":
        moments = st.datetimes(
            min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
            timezones=st.sampled_from(ZONES),
        )  # fmt: skip
        return moments.map(datetime.isoformat)
    if schema.get("format") == "date":
        return st.dates(date(1900, 1, 1), date(2200, 1, 1)).map(date.isoformat)
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True).filter(fits)
    return texts(wild, min_size=low, max_size=min(cap, max(low, MAX_TEXT)))


def _objects(
    schema: Schema, inner: Callable[[Schema], st.SearchStrategy[Any]], wild: bool
) -> st.SearchStrategy[dict[str, Any]]:
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", []))
    extra = schema.get("additionalProperties", True)
    fixed = st.fixed_dictionaries(
        {k: inner(v) for k, v in properties.items() if k in required},
        optional={k: inner(v) for k, v in properties.items() if k not in required},
    )
    if properties or extra is False:
        return fixed
    values = json_values(wild) if extra is True else inner(extra)
    return st.dictionaries(texts(wild, max_size=20), values, max_size=MAX_ITEMS)


# ---------------------------------------------------------------- what comes back


def declared(op: Schema, status: int) -> Schema | None:
    """The response the operation declares for `status` (exact, `4XX`-style, `default`)."""
    responses: dict[str, Schema] = op.get("responses", {})
    for key in (str(status), f"{str(status)[0]}XX", "default"):
        if key in responses:
            return responses[key]
    return None


def _validate(instance: Any, schema: Schema, doc: Schema) -> list[str]:
    validator = Draft202012Validator({**schema, "components": doc.get("components", {})})
    return [
        f"{'/'.join(str(p) for p in e.absolute_path) or '(body)'}: {e.message[:300]}"
        for e in validator.iter_errors(instance)
    ]


def _media(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def problems(doc: Schema, op: Schema, status: int, content_type: str, body: bytes) -> list[str]:
    """Every way this response breaks the operation's own document (empty: none)."""
    spec = declared(op, status)
    if status >= 500 and spec is None:
        return [f"{status} is a server error the operation does not declare"]
    media = _media(content_type)
    if spec is None:
        if status < 400:
            return [f"{status} is not declared"]
        # An undeclared refusal: the house's {"detail": reason} (or a page of an HTML
        # endpoint, which says the reason on the page).
        html = any("text/html" in (r.get("content") or {}) for r in op["responses"].values())
        if media == "text/html" and html:
            return []
        return _decoded(body, media, REFUSAL, doc, f"{status} (undeclared refusal)")
    content: dict[str, Schema] = spec.get("content") or {}
    if not content:
        return []  # declared without a body: anything goes
    if media not in content:
        return [f"{status}: content type {media!r} is not one of {sorted(content)}"]
    schema = content[media].get("schema")
    if schema is None or media != "application/json":
        return []
    return _decoded(body, media, schema, doc, str(status))


def _decoded(body: bytes, media: str, schema: Schema, doc: Schema, what: str) -> list[str]:
    if media != "application/json":
        return [f"{what}: answered {media!r}, not JSON"]
    try:
        instance = json.loads(body)
    except ValueError:
        return [f"{what}: the body is not JSON: {body[:200]!r}"]
    return [f"{what}: {p}" for p in _validate(instance, schema, doc)]
