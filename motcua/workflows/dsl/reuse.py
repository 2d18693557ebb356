"""Reuse: say a thing once and let the engine put it where it goes.

Two kinds, both written in before the models read a definition, so the compiled (pinned)
definition holds everything and the workflow interprets nothing new:

- `retries:` declares, once per activity (or per family: `population.`), how its calls are
  retried; each call step, undo included, takes what its own `retry:` leaves unsaid:

      retries: {population.get_citizen: {initial_interval: 2s}, residence.: {max_attempts: 5}}

- `use:` lets a bundle take a member's input fields and pre-fill look-ups instead of
  repeating them, and passes those fields on to the member's `procedure:` steps:

      use:
        - procedure: vn.birth_registration
          input: all                    # or a list of field names; `except:` leaves some out
          prefill: [mother, birth_cert] # or all (the default)

  What the bundle declares itself wins: an input field or a pre-fill step with the same name
  is kept as written, and a member step's own `input:` entry is not overwritten.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from motcua.workflows.dsl.diagnostics import DataPath
from motcua.workflows.dsl.loader import Positions
from motcua.workflows.dsl.raw import holding

if TYPE_CHECKING:
    from motcua.workflows.dsl.model import ProcedureDefinition

Problem = tuple[DataPath, str, str | None]


def apply_retries(data: dict[str, Any], positions: Positions) -> list[Problem]:
    """Fill each call's `retry:` from `retries:`, the most specific entry first."""
    declared = data.pop("retries", None)
    if declared is None:
        return []
    if not isinstance(declared, dict):
        return [(("retries",), "`retries` must be a mapping", "write `retries: {ACTIVITY: {...}}`")]
    problems: list[Problem] = []
    for name, spec in declared.items():
        if not isinstance(spec, dict):
            problems.append(
                (
                    ("retries", name),
                    f"the retry of '{name}' must be a mapping",
                    "e.g. {initial_interval: 2s}",
                )
            )
    # Longest name first: `population.get_citizen` before `population.`.
    ordered = sorted(
        ((n, s) for n, s in declared.items() if isinstance(s, dict)), key=lambda x: -len(str(x[0]))
    )
    for path, step in holding(data, "call", str):
        activity = step["call"]
        own = step.get("retry")
        if own is not None and not isinstance(own, dict):
            continue  # the model reports the wrong type
        merged = dict(own or {})
        for name, spec in ordered:
            if activity == name or (str(name).endswith(".") and activity.startswith(str(name))):
                for key, value in spec.items():
                    if key not in merged:
                        merged[key] = value
                        positions.setdefault((*path, "retry", key), positions.at(("retries", name)))
        if merged:
            step["retry"] = merged
            positions.setdefault((*path, "retry"), positions.at(("retries",)))
    return problems


def _names(spec: Mapping[str, Any], key: str, available: list[str]) -> list[str] | str:
    """The names `spec[key]` asks for (`all` or absent: every one); an error text if any
    is unknown."""
    wanted = spec.get(key, "all")
    if wanted == "all":
        chosen = list(available)
    elif isinstance(wanted, list) and all(isinstance(w, str) for w in wanted):
        unknown = [w for w in wanted if w not in available]
        if unknown:
            return f"not declared by the member: {', '.join(unknown)}"
        chosen = list(wanted)
    else:
        return "write `all` or a list of names"
    left_out = spec.get("except") or []
    return [n for n in chosen if n not in left_out]


def apply_use(
    data: dict[str, Any],
    positions: Positions,
    procedures: Mapping[str, ProcedureDefinition] | None,
) -> list[Problem]:
    """Put the members' input fields and pre-fill steps named under `use:` in place."""
    uses = data.pop("use", None)
    if uses is None:
        return []
    if not isinstance(uses, list):
        return [(("use",), "`use` must be a list", "write `use: [{procedure: ID}]`")]
    problems: list[Problem] = []
    for i, spec in enumerate(uses):
        at: DataPath = ("use", i)
        member_id = spec.get("procedure") if isinstance(spec, dict) else None
        if not isinstance(member_id, str):
            problems.append(
                (
                    at,
                    "each `use` entry names a `procedure`",
                    "e.g. {procedure: vn.birth_registration}",
                )
            )
            continue
        if procedures is None:
            continue  # only the shape is read here (the catalogue scan)
        member = procedures.get(member_id)
        if member is None:
            known = ", ".join(sorted(procedures)) or "none"
            problems.append(
                ((*at, "procedure"), f"unknown procedure '{member_id}'", f"known: {known}")
            )
            continue
        here = positions.at(at)
        fields = _names(spec, "input", list(member.input))
        if isinstance(fields, str):
            problems.append(((*at, "input"), f"use of {member_id}: input {fields}", None))
            fields = []
        prefill_ids = [s.id for s in member.prefill]
        steps = _names(spec, "prefill", prefill_ids)
        if isinstance(steps, str):
            problems.append(((*at, "prefill"), f"use of {member_id}: prefill {steps}", None))
            steps = []
        _take_inputs(data, positions, member, fields, here)
        _take_prefill(data, positions, member, steps, here)
        _pass_inputs(data, positions, member_id, fields, here)
    return problems


def _take_inputs(
    data: dict[str, Any], positions: Positions, member: ProcedureDefinition,
    fields: list[str], here: tuple[int, int],
) -> None:  # fmt: skip
    own = data.get("input")
    if own is None:
        own = data["input"] = {}
    if not isinstance(own, dict):
        return
    for name in fields:
        if name not in own:
            own[name] = member.input[name].model_dump(
                mode="json", exclude_unset=True, by_alias=True
            )
            positions.setdefault(("input", name), here)


def _take_prefill(
    data: dict[str, Any], positions: Positions, member: ProcedureDefinition,
    ids: list[str], here: tuple[int, int],
) -> None:  # fmt: skip
    own = data.get("prefill")
    if own is None:
        own = data["prefill"] = []
    if not isinstance(own, list):
        return
    have = {s.get("id") for s in own if isinstance(s, dict)}
    taken = [
        s.model_dump(mode="json", exclude_unset=True, by_alias=True)
        for s in member.prefill
        if s.id in ids and s.id not in have
    ]
    # The member's look-ups come first, as they do in the member; the bundle's own follow.
    shifted = Positions()
    for path, pos in positions.items():
        shifted[_shift(path, len(taken))] = pos
    for path, pos in positions.key_positions.items():
        shifted.key_positions[_shift(path, len(taken))] = pos
    positions.clear()
    positions.key_positions.clear()
    positions.update(shifted)
    positions.key_positions.update(shifted.key_positions)
    own[0:0] = copy.deepcopy(taken)
    for i in range(len(taken)):
        positions.setdefault(("prefill", i), here)
    positions.setdefault(("prefill",), here)


def _shift(path: DataPath, by: int) -> DataPath:
    if len(path) > 1 and path[0] == "prefill" and isinstance(path[1], int):
        return ("prefill", path[1] + by, *path[2:])
    return path


def _pass_inputs(
    data: dict[str, Any], positions: Positions, member_id: str,
    fields: list[str], here: tuple[int, int],
) -> None:  # fmt: skip
    for path, step in holding(data.get("steps"), "procedure", dict, ("steps",)):
        proc = step["procedure"]
        if proc.get("id") != member_id:
            continue
        given = proc.setdefault("input", {})
        if not isinstance(given, dict):
            continue
        for name in fields:
            if name not in given:
                given[name] = f"{{{{ input.{name} }}}}"
                positions.setdefault((*path, "procedure", "input", name), here)
