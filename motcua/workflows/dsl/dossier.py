"""Check data (a dossier, a task form, a hand-provided step result) against a Schema.

Pure and deterministic: the workflow uses it in Update validators. Messages name the
field and the rule, never the value, so personal data stays out of errors and logs.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Any

from motcua.workflows.dsl.model import FieldSpec, Schema

# Province codes of birth registration in the personal id (old 63-province list, unchanged
# by the 2025 merger).
PID_PROVINCES = frozenset(
    "001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030 031 033 "
    "034 035 036 037 038 040 042 044 045 046 048 049 051 052 054 056 058 060 062 064 066 "
    "067 068 070 072 074 075 077 079 080 082 083 084 086 087 089 091 092 093 094 095 096".split()
)
# The 34 provinces since 01/07/2025 (Decision 19/2025/QĐ-TTg).
PROVINCES = frozenset(
    "01 04 08 11 12 14 15 19 20 22 24 25 31 33 37 38 40 42 44 46 48 51 52 56 66 68 75 79 80 "
    "82 86 91 92 96".split()
)
# ASCII digits only: `\d` would also take full-width and other scripts' digits, which pass
# here and then fail at the registry.
_PID = re.compile(r"^[0-9]{12}$")
_PHONE = re.compile(r"^(\+84|0)[0-9]{9}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", re.ASCII)
_COMMUNE = re.compile(r"^[0-9]{5}$")
# Characters that change how text looks or reads without being seen: zero-width ones,
# bidirectional overrides and isolates, the BOM. A name holding them can impersonate another.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u061c]")
# Longest text a field takes unless it says `max_length` (a name, a free-text note).
MAX_LENGTH = {"string": 200, "text": 5000}
TEXT_TYPES = ("string", "text", "pid", "phone", "email", "province_code", "commune_code", "enum")


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why `value` is not clean text for a dossier, or None: valid Unicode, in NFC, with no
    control, invisible or direction-changing characters (tabs and newlines only in a
    multi-line `text`)."""
    if any("\ud800" <= c <= "\udfff" for c in value):
        return "is not valid text (it holds a lone UTF-16 surrogate)"
    if _INVISIBLE.search(value):
        return "must not contain invisible or direction-changing characters"
    allowed = "\n\r\t" if multiline else ""
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in value):
        return "must not contain control characters"
    if not unicodedata.is_normalized("NFC", value):
        return "must be in Unicode NFC form (composed characters)"
    return None


def pid_problem(value: str) -> str | None:
    """Why `value` is not a well-formed 12-digit personal id (PPP G YY NNNNNN), or None."""
    if not _PID.match(value):
        return "must be 12 digits"
    if value[:3] not in PID_PROVINCES:
        return "does not start with a province code of birth registration"
    return None


def check(schema: Schema, data: Any, *, path: str = "") -> list[str]:
    """Every problem of `data` against `schema`, as 'field: what is wrong' lines."""
    if not isinstance(data, dict):
        return [f"{path or 'data'}: must be an object"]
    problems: list[str] = []
    for name in data:
        if name not in schema:
            problems.append(f"{path}{name}: unknown field")
    for name, spec in schema.items():
        where = f"{path}{name}"
        if data.get(name) is None:
            if spec.required and spec.default is None:
                problems.append(f"{where}: required")
            continue
        problems += _check_value(spec, data[name], where)
    return problems


def with_defaults(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    """`data` with each absent field that declares a `default:` set to it, inside objects
    too: what an officer leaves out of a typed result reads as the declared default."""
    out = dict(data)
    for name, spec in schema.items():
        if out.get(name) is None and spec.default is not None:
            out[name] = spec.default
        elif spec.type == "object" and spec.fields and isinstance(out.get(name), dict):
            out[name] = with_defaults(spec.fields, out[name])
    return out


def _check_value(spec: FieldSpec, value: Any, where: str) -> list[str]:
    t = spec.type
    if t in TEXT_TYPES:
        if not isinstance(value, str):
            return [f"{where}: must be text"]
        problem = text_problem(value, multiline=t == "text")
        if problem:
            return [f"{where}: {problem}"]
        if spec.required and not value.strip():
            return [f"{where}: must not be empty"]
        limit = spec.max_length or MAX_LENGTH.get(t)
        if limit is not None and len(value) > limit:
            return [f"{where}: is {len(value)} characters long; at most {limit}"]
        if spec.pattern and not re.fullmatch(spec.pattern, value):
            return [f"{where}: does not match the pattern {spec.pattern}"]
        return [f"{where}: {p}" for p in [_string_problem(spec, value)] if p]
    if t == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return [] if ok else [f"{where}: must be a whole number"]
    if t == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{where}: must be a number"]
    if t == "bool":
        return [] if isinstance(value, bool) else [f"{where}: must be true or false"]
    if t in ("date", "datetime"):
        return [] if _is_iso(value, t) else [f"{where}: must be an ISO {t} (e.g. 2026-11-23)"]
    if t == "object":
        return check(spec.fields or {}, value, path=f"{where}.")
    if t == "list":
        if not isinstance(value, list):
            return [f"{where}: must be a list"]
        if spec.items is None:
            return []
        return [
            p for i, v in enumerate(value) for p in _check_value(spec.items, v, f"{where}[{i}]")
        ]
    if t == "file":  # any reference the document store understands, but a reference
        ok = isinstance(value, str) and bool(value.strip())
        return [] if ok else [f"{where}: must be a file reference (text)"]
    return []


def _string_problem(spec: FieldSpec, value: str) -> str | None:
    match spec.type:
        case "pid":
            return pid_problem(value)
        case "phone":
            return None if _PHONE.match(value) else "must be a Vietnamese phone number"
        case "email":
            return None if _EMAIL.match(value) else "must be an email address"
        case "province_code":
            return None if value in PROVINCES else "is not one of the 34 province codes"
        case "commune_code":
            return None if _COMMUNE.match(value) else "must be a 5-digit commune code"
        case "enum":
            allowed = spec.enum or []
            return None if value in allowed else f"must be one of {', '.join(allowed)}"
    return None


def _is_iso(value: Any, kind: str) -> bool:
    if isinstance(value, datetime):
        return True
    if isinstance(value, date):
        return kind == "date"
    if not isinstance(value, str):
        return False
    try:
        (date.fromisoformat if kind == "date" else datetime.fromisoformat)(value)
    except ValueError:
        return False
    return True
