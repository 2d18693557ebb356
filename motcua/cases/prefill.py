"""Pre-filling a dossier from the registries, outside the case: for the citizen's form and
for a submission (the once-only principle: what the state knows is not typed again).

The definition's `prefill:` look-ups run here the way the case runs them (the same
expressions, the same registry adapters), but only look-ups that read a registry (a
registry activity named `get_*`) are run: showing a form never writes anything. A look-up
whose arguments are not typed yet (e.g. the birth certificate number) waits for them; one
that finds nothing leaves its fields to type. Then each input field's `prefill:`
expression gives its value where it can.

Which field is the logged-in citizen's own personal id is motcua.cases.parties' business.

Where a dossier is received (`receiving_agency`) is derived from registry data as the CLI
derives it (`dossier_codes.agency_for`): from the dossier's own commune or province code,
else from the address of the look-up the one-stop agency names (the deceased's, for a
death registration), else from the first look-up that has an address.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from temporalio.exceptions import ApplicationError

from motcua import dossier_codes
from motcua.workflows.dsl.expressions import ExpressionError, attribute_reads, condition, evaluate
from motcua.workflows.dsl.model import CallStep, ProcedureDefinition

LookupStatus = Literal["done", "not_found", "needs_input", "not_needed", "unavailable", "not_run"]
# What a registry's refusal means for the form: nothing known there, the citizen types it.
_NOTHING_KNOWN = frozenset({"NotFound", "NotEligible", "InvalidInput"})


@dataclass(frozen=True)
class Lookup:
    id: str
    title: str | None
    status: LookupStatus


@dataclass
class Prefilled:
    values: dict[str, Any] = field(default_factory=dict)  # input field -> registry value
    lookups: list[Lookup] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)  # look-up id -> what it found


@dataclass(frozen=True)
class _Reader:
    fn: Callable[..., Any]
    input_model: type[BaseModel]


@cache
def _readers() -> dict[str, _Reader]:
    """Registry look-ups by activity name: the registry adapters whose name reads `get_*`."""
    from motcua.activities import registries
    from motcua.activities.registry import catalogue

    adapters = set(registries.ACTIVITIES)
    return {
        name: _Reader(spec.fn, spec.input_model)
        for name, spec in catalogue().items()
        if spec.fn in adapters
        and spec.input_model is not None
        and name.split(".", 1)[-1].startswith("get_")
    }


def _scope(defn: ProcedureDefinition, typed: dict[str, Any]) -> dict[str, Any]:
    declared = {name: spec.default for name, spec in defn.input.items()}
    return {
        "input": declared | {k: v for k, v in typed.items() if v is not None},
        "params": dict(defn.parameters),
        "case": {"dossier_code": "", "channel": "online", "member": False},
        "now": datetime.now(UTC),
    }


async def _look_up(step: CallStep, scope: dict[str, Any]) -> tuple[LookupStatus, Any]:
    try:
        if step.when is not None and not condition(step.when, scope):
            return "not_needed", None
        args = evaluate(step.with_, scope)
    except ExpressionError:
        return "needs_input", None  # it reads a field or a look-up the form does not have yet
    if any(v is None or v == "" for v in args.values()):
        return "needs_input", None
    reader = _readers().get(step.call)
    if reader is None:
        return "not_run", None
    try:
        request = reader.input_model.model_validate(args)
    except ValidationError:
        return "needs_input", None
    try:
        result = await reader.fn(request)
    except ApplicationError as e:
        return ("not_found" if e.type in _NOTHING_KNOWN else "unavailable"), None
    data = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
    return "done", data


async def prefill(defn: ProcedureDefinition, typed: dict[str, Any]) -> Prefilled:
    """Run the definition's look-ups with what is `typed` so far; the values they give."""
    scope = _scope(defn, typed)
    out = Prefilled()
    for step in defn.prefill:
        status, result = await _look_up(step, scope)
        scope[step.id] = result
        out.lookups.append(Lookup(step.id, step.title, status))
        if result is not None:
            out.results[step.id] = result
    for name, spec in defn.input.items():
        if spec.prefill is None:
            continue
        try:
            value = evaluate(spec.prefill, scope)
        except ExpressionError:
            continue  # its look-up found nothing or did not run: the field is typed
        if value is not None and value != "":
            out.values[name] = value
    return out


def receiving_agency(
    defn: ProcedureDefinition, dossier: dict[str, Any], found: Prefilled
) -> str | None:
    """The agency code prefixing the dossier's code, from registry data (see the module)."""
    direct = dossier_codes.agency_for(defn.agency, dossier)
    if direct is not None:
        return direct
    named: list[str] = []
    if defn.one_stop is not None:
        agency = defn.one_stop.agency
        for expression in (agency.name, agency.code or ""):
            named += [n for n, attrs in attribute_reads(expression) if attrs[:1] == ("address",)]
    for lookup in [*named, *found.results]:
        result = found.results.get(lookup)
        address = result.get("address") if isinstance(result, dict) else None
        if isinstance(address, dict):
            derived = dossier_codes.agency_for(defn.agency, address)
            if derived is not None:
                return derived
    return None
