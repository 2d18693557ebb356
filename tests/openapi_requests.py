"""Requests for tests/test_api_openapi*.py: what exists on a stack to aim at (`Stack`),
a token per caller, and Hypothesis requests per operation of the app's OpenAPI document
(`calls`), checked against the document (`holds`, with tests/openapi_checks.py)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from motcua.api.app import create_app
from motcua.api.identity import issue_token
from tests.helpers import ROOT
from tests.openapi_checks import from_schema, json_values, problems
from tests.test_api_authorisation import RULES, forged

EXAMPLES = int(os.environ.get("MOTCUA_OPENAPI_EXAMPLES", "15"))
DOC: dict[str, Any] = create_app(connect_temporal=False).openapi()
OPERATIONS = [
    (method.upper(), path, op)
    for path, item in DOC["paths"].items()
    for method, op in item.items()
    if method in ("get", "post", "put", "patch", "delete")
]
BIRTH = "vn.birth_registration"
_DEFS = ROOT / "procedure_defs"
_EXAMPLE = (_DEFS / "examples" / "extract_copy.yaml").read_text("utf-8")
TEXTS = [  # definitions for the analysts' endpoints: one to publish, one valid, one not
    (_DEFS / "civil_status" / "birth_registration.yaml").read_text("utf-8"),
    _EXAMPLE,
    _EXAMPLE.replace("steps:", "stepz:"),
]
KNOWN: dict[str, list[Any]] = {  # by parameter or body field: values worth trying often
    "step": ["review", "mother"],
    "procedure_id": [BIRTH, "vn.bundle.birth_residence_insurance", "vn.no_such"],
    "version": ["1", "2"],
    "a": ["1"],
    "b": ["1", "2"],
    "activity": ["population.", "population.get_citizen", "civil_status."],
    "action": ["approve", "reject", "request_supplement", "retry", "skip", "abort"],
    "step_id": ["review", None],
    "reason": ["Cơ sở dữ liệu đã hoạt động lại"],
    "documents": [{"birth_certificate_file": "scan-1.pdf"}],
    "stars": [1, 5],
}


@dataclass
class Stack:
    """The app on the real stack, and what exists on it to aim requests at."""

    http: TestClient
    tokens: dict[str, tuple[str | None, str | None]]
    known: dict[str, list[Any]] = field(default_factory=dict)
    texts: list[str] = field(default_factory=list)


def tokens(owner: str, agency: str) -> dict[str, tuple[str | None, str | None]]:
    """Callers by name: (the role their token names, the token)."""
    decider = ["civil_status_officer"]
    staff = {"agency": agency, "officer_roles": decider}
    callers: dict[str, tuple[str | None, str | None]] = {
        "citizen": ("citizen", issue_token(owner, "citizen")),
        "other citizen": ("citizen", issue_token("001203000123", "citizen")),
        "officer": ("officer", issue_token("cb.hotich", "officer", **staff)),
        "officer elsewhere": (
            "officer", issue_token("cb.khac", "officer", agency="UBND-00001", officer_roles=decider)
        ),
        "supervisor": ("supervisor", issue_token("ld.ubnd", "supervisor", agency=agency)),
        "expired": (None, issue_token("qt.01", "admin", ttl=-60)),
        "forged": (None, forged("qt.01", "admin")),
        "garbage": (None, "not-a-token"),
        "none": (None, None),
    }  # fmt: skip
    for role in ("analyst", "auditor", "admin"):
        callers[role] = (role, issue_token(f"{role}.01", role))
    return callers


def as_caller(stack: Stack, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.tokens[who][1]}"}


def wait_for(probe: Any, what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while (found := probe()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not there within {timeout:.0f} s")
        time.sleep(0.2)
    return found


def isolate(env: pytest.MonkeyPatch, data: Path, sandbox: str) -> None:
    """This module's own data dir (database, documents, development issuer), registries."""
    env.setenv("MOTCUA_DATA_DIR", str(data))
    env.setenv("MOTCUA_SANDBOX_URL", sandbox)
    for name in ("POPULATION", "CIVIL_STATUS", "RESIDENCE", "SOCIAL_INSURANCE", "HEALTH"):
        env.delenv(f"MOTCUA_{name}_URL", raising=False)
    for name in ("DATABASE_URL", "MOTCUA_JWKS_URL", "MOTCUA_JWT_PUBLIC_KEY", "MOTCUA_JWT_ISSUER"):
        env.delenv(name, raising=False)


# ---------------------------------------------------------------- requests


@dataclass
class Call:
    method: str
    url: str
    params: list[tuple[str, str]]
    headers: dict[str, str]
    content: bytes | None

    def __repr__(self) -> str:  # what Hypothesis prints for a failing example
        auth = self.headers.get("Authorization", "")[:30]
        return (
            f"{self.method} {self.url} params={self.params} auth={auth!r} "
            f"headers={ {k: v for k, v in self.headers.items() if k != 'Authorization'} } "
            f"body={(self.content or b'')[:300]!r}"
        )


def _known(stack: Stack, path: str, name: str) -> list[str]:
    if path.startswith("/verify/"):
        name = "verification_code" if name == "code" else name
    return stack.known.get(name, [])


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parameter(stack: Stack, path: str, p: dict[str, Any]) -> st.SearchStrategy[Any]:
    generated = from_schema(p.get("schema", {}), DOC)
    known = _known(stack, path, p["name"])
    if not known:
        return generated
    return st.one_of(st.sampled_from(known), st.sampled_from(known), generated)


def _header_safe(value: str) -> bool:
    return all(0x20 <= ord(c) < 0x7F for c in value)


@st.composite
def calls(draw: st.DrawFn, stack: Stack, method: str, path: str, op: dict[str, Any]) -> Call:
    url, params, headers = path, [], {}
    for p in op.get("parameters", []):
        where, name = p["in"], p["name"]
        if where != "path" and not p.get("required") and draw(st.booleans()):
            continue
        value = draw(_parameter(stack, path, p))
        values = value if isinstance(value, list) else [value]
        texts = [t for t in map(_text, values) if t is not None]
        if where == "path":
            text = quote(texts[0] if texts else "", safe="") or "-"
            if draw(st.sampled_from(range(10))) == 5:  # bytes that are not UTF-8
                text = quote(draw(st.binary(min_size=1, max_size=8)), safe="")
            url = url.replace("{" + name + "}", text)
        elif where == "query":
            params += [(name, t) for t in texts]
        elif where == "header" and texts and _header_safe(texts[0]):
            headers[name] = texts[0]
    if path.endswith("/form") and draw(st.booleans()):  # typed fields as query parameters
        typed = st.sampled_from(["birth_certificate_no", "child_name", "mother_pid", "x"])
        value = st.sampled_from(stack.known["birth_certificate_no"]) | st.text(max_size=20)
        params += draw(st.lists(st.tuples(typed, value), max_size=3))
    rule = RULES.get(f"{method} {path}", frozenset())
    allowed = sorted(n for n, (role, _) in stack.tokens.items() if role in rule)
    anyone = st.sampled_from(sorted(stack.tokens))
    who = draw(st.sampled_from(allowed) | anyone if allowed else anyone)  # mostly allowed
    _, token = stack.tokens[who]
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if draw(st.booleans()):
        headers["Accept"] = draw(st.sampled_from(["text/html", "application/json", "*/*"]))
    content = draw(_body(stack, op, headers, form=(method, path) == ("POST", "/codec/login")))
    return Call(method, url, params, headers, content)


@st.composite
def _body(
    draw: st.DrawFn, stack: Stack, op: dict[str, Any], headers: dict[str, str], form: bool
) -> Any:
    """The body: from the declared schema mostly, malformed sometimes."""
    declared = (op.get("requestBody") or {}).get("content", {})
    if form:  # the codec's login page posts a form it does not declare
        declared = {"application/x-www-form-urlencoded": {}}
    how = draw(st.sampled_from(["schema", "schema", "wild", "json", "bytes", "none"]))
    if how == "none" or not declared and how != "bytes":
        return None
    kinds = sorted(declared) or ["application/json"]
    kind = draw(st.sampled_from(kinds))
    headers["Content-Type"] = kind
    if how == "bytes":
        headers["Content-Type"] = draw(st.sampled_from([kind, "application/json", "text/plain"]))
        return draw(st.binary(max_size=200))
    schema = declared.get(kind, {}).get("schema") if how in ("schema", "wild") else None
    if kind == "application/x-www-form-urlencoded":  # the codec's login form
        tokens = [t for _, t in stack.tokens.values() if t]
        token = draw(st.sampled_from(tokens) | st.text(max_size=40))
        return ("token=" + quote(token)).encode()
    if kind != "application/json":
        text = draw(st.sampled_from(stack.texts) | st.text(max_size=200))
        return str(text).encode()
    wild = how == "wild"  # lone surrogates and control characters in any free text
    value = draw(from_schema(schema, DOC, wild=wild) if schema is not None else json_values())
    if how == "schema" and isinstance(value, dict):  # values that exist, often
        for name in sorted(value.keys() & stack.known.keys()):
            if draw(st.sampled_from(["known", "known", "generated"])) == "known":
                value[name] = draw(st.sampled_from(stack.known[name]))
    return json.dumps(value, ensure_ascii=wild or draw(st.booleans())).encode()


# ---------------------------------------------------------------- the property


def _check(stack: Stack, op: dict[str, Any], call: Call) -> None:
    answer = stack.http.request(
        call.method, call.url, params=call.params, headers=call.headers, content=call.content
    )
    if os.environ.get("MOTCUA_OPENAPI_TALLY"):
        with open(os.environ["MOTCUA_OPENAPI_TALLY"], "a") as f:
            f.write(
                f"{call.method} {op['operationId']} {answer.status_code} "
                f"{answer.text[:100]!r} {call.url}\n"
            )
    if answer.status_code in (307, 308) and unquote(call.url).endswith("/"):
        return  # a "/" in a parameter made another path, which the router redirects
    found = problems(
        DOC, op, answer.status_code, answer.headers.get("content-type", ""), answer.content
    )
    assert not found, f"{call!r}\n -> {answer.status_code} {answer.text[:500]}\n" + "\n".join(found)


def holds(stack: Stack, method: str, path: str, op: dict[str, Any], examples: int) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        _check(stack, op, data.draw(calls(stack, method, path, op), label="request"))

    run()


BY_OPERATION = pytest.mark.parametrize(
    ("method", "path", "op"), OPERATIONS, ids=[f"{m} {p}" for m, p, _ in OPERATIONS]
)
