"""How the API refuses, in one place: the bodies of refusals, and what the OpenAPI document
says about them (tests/test_api_openapi.py holds every answer to the document).

- A refusal is `{"detail": "<reason>"}` (`Refusal`, what HTTPException sends) with 401, 403,
  404, 409, 422 or 503. A dossier refused on its fields adds `problems`, one per field with
  a stable code and a Vietnamese message (`Refused`, motcua.cases.problems). A request
  FastAPI cannot read (a missing field, a wrong type) is 422 with the list of problems
  (`Invalid`, FastAPI's own shape).
- `install(app)` registers the handler for unreadable requests, which never fails itself:
  FastAPI's echoes the input, and a body that is not UTF-8 made it answer 500
  (fastapi/fastapi#13111). And it makes the document say what the app does: a 422 is
  either shape; an operation that needs a token declares 401 and 403; one that needs
  Temporal (the `TemporalClient` dependency) declares 503. Any other 503 an operation
  declares itself (`responses=unavailable("why")`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, Field

from motcua.api.deps import temporal_client
from motcua.cases.problems import Problem

REFUSAL = "Refusal"
INVALID = "HTTPValidationError"  # FastAPI's name for its 422 body
UNREACHABLE = "A service it needs (Temporal, a registry) is not reachable now: try again later"


class Refusal(BaseModel):
    """Why the request is refused, in words for people."""

    detail: str = Field(description="The reason (Vietnamese where citizens and officers read it)")
    problems: list[Problem] | None = Field(
        None, description="For a dossier refused on its fields: what is wrong with each"
    )


class Refused(HTTPException):
    """A refusal naming what is wrong with each field (`problems`)."""

    def __init__(self, status_code: int, detail: str, problems: list[Problem]) -> None:
        super().__init__(status_code, detail)
        self.problems = problems


async def refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refused)
    body = Refusal(detail=exc.detail, problems=exc.problems).model_dump(mode="json")
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def _printable(value: Any) -> Any:
    """`value` with every text made encodable: bytes that are not UTF-8, lone surrogates."""
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, str):
        return value.encode("utf-8", errors="replace").decode("utf-8")
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 for a request it cannot read, whatever bytes were sent."""
    assert isinstance(exc, RequestValidationError)
    return JSONResponse({"detail": jsonable_encoder(_printable(exc.errors()))}, status_code=422)


# ---------------------------------------------------------------- the document


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return any(d.call is call or _depends_on(d, call) for d in dependant.dependencies)


def _needs_temporal(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every operation that depends on the Temporal client."""
    found: set[tuple[str, str]] = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and _depends_on(route.dependant, temporal_client):
            found |= {(m.lower(), str(context.path_format)) for m in route.methods or ()}
    return found


def unavailable(description: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` for an operation that answers 503 for a reason of its own."""
    return {503: {"model": Refusal, "description": description}}


def _refusal(description: str) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{REFUSAL}"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def declare_refusals(doc: dict[str, Any], app: FastAPI) -> dict[str, Any]:
    """Write into `doc` (the app's OpenAPI document) the refusals the app answers."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    refusal = Refusal.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, schema in refusal.pop("$defs", {}).items():
        schemas.setdefault(name, schema)
    schemas[REFUSAL] = refusal
    temporal = _needs_temporal(app)
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            responses = op.setdefault("responses", {})
            invalid = responses.get("422", {}).get("content", {}).get("application/json", {})
            if invalid.get("schema") == {"$ref": f"#/components/schemas/{INVALID}"}:
                invalid["schema"] = {
                    "anyOf": [invalid["schema"], {"$ref": f"#/components/schemas/{REFUSAL}"}]
                }
                responses["422"]["description"] = (
                    "The request is wrong: the fields FastAPI could not read, or the reason"
                )
            if op.get("security"):
                responses.setdefault("401", _refusal("No token, or one that cannot be trusted"))
                responses.setdefault("403", _refusal("The token's role or agency may not"))
            if (method, path) in temporal:
                responses.setdefault("503", _refusal(UNREACHABLE))
    return doc


def install(app: FastAPI) -> None:
    """The handlers for unreadable requests and for refusals with problems, and the
    refusals written into the document."""
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Refused, refused)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        return declare_refusals(generate(), app)

    app.openapi = openapi  # type: ignore[method-assign]
