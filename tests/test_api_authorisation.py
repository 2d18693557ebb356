"""The authorisation matrix: every endpoint of the OpenAPI document, for every role and
without a token, against the table below. An endpoint missing from the table fails, so a
new endpoint cannot ship without a declared rule; a rule for an endpoint that is gone fails
too.

The app runs without Temporal: who may call is decided before anything is looked up, so a
refused caller gets 401/403 even while Temporal is down, and an allowed one gets past the
check (to a 404, 422 or 503: anything but the refusal of their role). A refused role's 403
names exactly the roles of the table ("only officer, supervisor may do this; ..."), so the
table is held to the code, not only to the statuses.

Refusals inside an allowed role (a citizen reading another citizen's dossier: 404; an
officer deciding another agency's task: 403) are tested on the real stack in
test_api_citizen.py and test_api_officer.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from motcua.api.app import create_app
from motcua.api.identity import ROLES, issue_token

PUBLIC = frozenset({"public"})
CITIZEN = frozenset({"citizen"})
AT_AGENCY = frozenset({"officer", "supervisor"})  # act within the agency their token names
SUPERVISOR = frozenset({"supervisor"})
READERS = frozenset({"analyst", "admin"})  # of definitions
ANALYST = frozenset({"analyst"})  # publishes: answerable for the content
DECODERS = frozenset({"officer", "supervisor", "auditor", "admin"})  # plain-text payloads
AUDITORS = frozenset({"auditor", "admin"})
ANYONE_LOGGED_IN = frozenset(ROLES)

RULES: dict[str, frozenset[str]] = {
    # public: probes, the catalogue, logging in, verifying a document
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,
    "GET /metrics": PUBLIC,
    "GET /procedures": PUBLIC,
    "GET /verify/{dossier_code}/{code}": PUBLIC,
    "POST /auth/dev-login": PUBLIC,
    "GET /.well-known/jwks.json": PUBLIC,
    "GET /codec/login": PUBLIC,
    "POST /codec/logout": PUBLIC,
    "GET /auth/me": ANYONE_LOGGED_IN,
    # citizens: their own dossiers
    "GET /procedures/{procedure_id}/form": CITIZEN,
    "POST /dossiers": CITIZEN,
    "GET /dossiers": CITIZEN,
    "GET /dossiers/{code}": CITIZEN,
    "POST /dossiers/{code}/supplement": CITIZEN,
    "GET /dossiers/{code}/documents": CITIZEN,
    "GET /dossiers/{code}/documents/{document_ref}": CITIZEN,
    "POST /dossiers/{code}/rating": CITIZEN,
    # officers and supervisors: their agency's work
    "GET /inbox": AT_AGENCY,
    "POST /cases/{code}/tasks/{step}/decide": AT_AGENCY,
    "GET /stalled": AT_AGENCY,
    "POST /cases/{code}/resume": AT_AGENCY,
    "POST /stalled/resume": AT_AGENCY,
    "GET /supervision/overdue": SUPERVISOR,
    "POST /cases/{code}/tasks/{step}/assign": SUPERVISOR,
    # the programme's measures: a supervisor's own agency, auditors and admins any
    "GET /programme/measures": frozenset({"supervisor", "auditor", "admin"}),
    # auditors: any case's timeline, replay and evidence; the audit log's chain
    "GET /audit/cases/{code}/timeline": AUDITORS,
    "POST /audit/cases/{code}/replay": AUDITORS,
    "GET /audit/cases/{code}/evidence": AUDITORS,
    "GET /audit/log/verify": AUDITORS,
    # analysts: definitions
    "POST /definitions/validate": READERS,
    "POST /definitions/publish": ANALYST,
    "GET /definitions": READERS,
    "GET /definitions/{procedure_id}/versions": READERS,
    "GET /definitions/{procedure_id}/versions/{version}": READERS,
    "GET /definitions/{procedure_id}/versions/{a}/diff/{b}": READERS,
    "GET /definitions/{procedure_id}/versions/{version}/diagram": READERS,
    # Temporal's tools: decoded payloads are personal data
    "POST /codec/encode": DECODERS,
    "POST /codec/decode": DECODERS,
    "POST /codec/login": DECODERS,  # the token comes in the form, not the header
}

DOC: dict[str, Any] = create_app(connect_temporal=False).openapi()
ENDPOINTS = {
    f"{method.upper()} {path}": op
    for path, item in DOC["paths"].items()
    for method, op in item.items()
}
CALLERS = [*ROLES, "no token"]
SAMPLE = {  # a well-formed value for each path parameter
    "code": "UBND-00001-261123-000001",
    "dossier_code": "UBND-00001-261123-000001",
    "step": "review",
    "procedure_id": "vn.birth_registration",
    "document_ref": "0" * 64 + ".pdf",
    "version": "1",
    "a": "1",
    "b": "1",
}
REFUSED = re.compile(r"^only (?P<allowed>[a-z, ]+) may do this; your role is (?P<role>[a-z]+)$")


def forged(sub: str, role: str) -> str:
    """A well-formed token for a role, signed by a key nobody trusts."""
    now = int(time.time())
    claims = {"iss": "motcua-dev", "aud": "motcua", "sub": sub, "role": role,
              "iat": now, "exp": now + 600}  # fmt: skip
    return jwt.encode(claims, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")


def token(role: str) -> str:
    if role in ("officer", "supervisor"):
        return issue_token(f"{role}.01", role, agency="UBND-00001", officer_roles=["officer"])
    sub = "001203000123" if role == "citizen" else f"{role}.01"
    return issue_token(sub, role)


@pytest.fixture(scope="module")
def http() -> Iterator[TestClient]:
    with TestClient(create_app(connect_temporal=False), follow_redirects=False) as client:
        yield client


def call(http: TestClient, endpoint: str, credential: str | None) -> Any:
    method, path = endpoint.split(" ", 1)
    url = re.sub(r"\{(\w+)\}", lambda m: quote(SAMPLE[m.group(1)], safe=""), path)
    if endpoint == "POST /codec/login":  # a form the Web UI's user fills in
        form = f"token={quote(credential or '')}".encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return http.request(method, url, content=form, headers=headers)
    headers = {"Authorization": f"Bearer {credential}"} if credential else {}
    return http.request(method, url, headers=headers)


def test_every_endpoint_has_a_rule() -> None:
    assert sorted(set(ENDPOINTS) - set(RULES)) == [], "endpoints without a rule in RULES"
    assert sorted(set(RULES) - set(ENDPOINTS)) == [], "rules for endpoints that do not exist"


def test_the_document_says_which_endpoints_need_a_token() -> None:
    needs = {e for e, op in ENDPOINTS.items() if op.get("security")}
    assert needs == {e for e, rule in RULES.items() if rule != PUBLIC} - {"POST /codec/login"}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("endpoint", sorted(RULES))
def test_the_matrix(http: TestClient, endpoint: str, caller: str) -> None:
    if endpoint not in ENDPOINTS:
        pytest.fail(f"{endpoint} is in RULES but the app does not serve it")
    rule = RULES[endpoint]
    answer = call(http, endpoint, None if caller == "no token" else token(caller))
    where = f"{endpoint} as {caller}: {answer.status_code} {answer.text[:300]}"
    assert answer.status_code < 500 or answer.status_code == 503, where
    if rule == PUBLIC or caller in rule:
        refused = answer.status_code == 401 or (
            answer.status_code == 403 and REFUSED.match(_detail(answer))
        )
        assert not refused, where
    elif caller == "no token":
        assert answer.status_code == 401, where
        if endpoint != "POST /codec/login":
            assert answer.headers["www-authenticate"] == "Bearer", where
    else:
        assert answer.status_code == 403, where
        if endpoint != "POST /codec/login":  # an HTML page says it there
            said = REFUSED.match(_detail(answer))
            assert said, where
            assert (said["role"], set(said["allowed"].split(", "))) == (caller, rule), where


@pytest.mark.parametrize("endpoint", sorted(e for e, rule in RULES.items() if rule != PUBLIC))
def test_a_token_that_cannot_be_trusted_is_401_everywhere(http: TestClient, endpoint: str) -> None:
    for name, credential in [
        ("expired", issue_token("admin.01", "admin", ttl=-60)),
        ("forged", forged("admin.01", "admin")),
        ("garbage", "not-a-token"),
    ]:
        answer = call(http, endpoint, credential)
        assert answer.status_code == 401, f"{endpoint} with a {name} token: {answer.text[:300]}"


def _detail(answer: Any) -> str:
    try:
        detail = answer.json().get("detail")
    except ValueError:
        return ""
    return detail if isinstance(detail, str) else ""
