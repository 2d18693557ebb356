"""JSON from people (a dossier, a result, a form), read strictly before anything uses it.

Every entry point (the CLI today, the service later) reads JSON here, so bad input gets
one clear line and never a traceback: too big, not JSON, duplicate keys (JSON allows them
and the last would silently win), `null` or another non-object where an object is due,
text that is not valid Unicode. Strings come back in Unicode NFC, so that "Nguyễn" typed
with combining accents and "Nguyễn" precomposed are the same name. Messages name the
place, never the value (it may be personal data).
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

MAX_BYTES = 1_000_000  # a dossier is a few KB; files travel as references, not inline


class InputError(ValueError):
    """Input that cannot be used; the message is one line for the person who sent it."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise InputError(f"duplicate key {_shown(key)}")
        found[key] = value
    return found


def _shown(text: str) -> str:
    """A key as it can be printed, even one holding a lone surrogate."""
    return json.dumps(text)


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in text)


def _clean(value: Any, where: str) -> Any:
    if isinstance(value, str):
        if _has_surrogate(value):
            raise InputError(f"{where or 'the value'} is not valid text (a lone UTF-16 surrogate)")
        return unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        return [_clean(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, v in value.items():
            if _has_surrogate(key):
                raise InputError(
                    f"a key in {where or 'the object'} is not valid text: {_shown(key)}"
                )
            name = unicodedata.normalize("NFC", key)
            out[name] = _clean(v, f"{where}.{name}" if where else name)
        return out
    return value


def parse(text: str) -> Any:
    """Any JSON value, checked and normalised as the module says."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        raise InputError(f"is {size:,} bytes; at most {MAX_BYTES:,}")
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as e:
        raise InputError(
            f"is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
        ) from None
    except RecursionError:
        raise InputError("is nested too deeply") from None
    return _clean(value, "")


def parse_object(text: str) -> dict[str, Any]:
    """A JSON object ({...}): the shape of a dossier, a form or a result."""
    value = parse(text)
    if not isinstance(value, dict):
        got = "null" if value is None else type(value).__name__
        raise InputError(f"must be a JSON object ({{...}}), not {got}")
    return value
