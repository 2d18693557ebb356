"""Take the shape errors out of a definition, so the other checks can still run on the rest.

A file with an unknown key in one step and an undefined name in another should report
both. The shape pass stops at the first (pydantic builds no model from invalid data), so
the validator asks for a repaired copy: each key the models refuse is dropped, and a step
that cannot be mended that way is replaced by a placeholder step with the same id (so the
names of the steps around it stay defined). What is reported inside a replaced step is
left out: it would be about the placeholder, not about what the analyst wrote.
"""

from __future__ import annotations

import copy
from typing import Any, NamedTuple

from motcua.workflows.dsl.diagnostics import DataPath

# Keys whose value is a list of steps; the branches of `parallel` are lists of steps too.
STEP_LISTS = frozenset({"steps", "prefill", "on_reject", "on_abort", "default", "on_supplement"})
OPTIONAL_KEYS = frozenset(
    # Top-level and step keys that have a default: a wrong value is dropped, not the step.
    {"title", "when", "retry", "timeout", "result", "undo", "skippable", "on_exhausted"}
    | {"legal_basis", "fee", "parameters", "documents", "notifications", "output", "code"}
)


def enclosing_step(data: Any, path: DataPath) -> DataPath | None:
    """The path of the innermost step that `path` lies in (None: outside every step)."""
    found: DataPath | None = None
    node, parent_key, grand_key = data, None, None
    for i, elem in enumerate(path):
        in_steps = parent_key in STEP_LISTS or grand_key == "parallel"
        if isinstance(node, list) and isinstance(elem, int) and in_steps:
            found = tuple(path[: i + 1])
        if isinstance(node, dict) and elem in node:
            node, grand_key, parent_key = node[elem], parent_key, elem
        elif isinstance(node, list) and isinstance(elem, int) and 0 <= elem < len(node):
            node, grand_key, parent_key = node[elem], parent_key, None
        else:
            break
    return found


def _parent(data: Any, path: DataPath) -> Any:
    node = data
    for elem in path[:-1]:
        node = node[elem]
    return node


def _placeholder(step: Any, index: int) -> dict[str, Any]:
    step_id = step.get("id") if isinstance(step, dict) else None
    names = step.get("set") if isinstance(step, dict) else None
    placeholder: dict[str, Any] = {
        "id": step_id if isinstance(step_id, str) and step_id else f"_invalid_{index}"
    }
    if isinstance(names, dict) and names:
        placeholder["set"] = names  # the names it sets stay defined for the steps after it
    else:
        placeholder["wait"] = {"duration": "0s"}  # a step that defines nothing
    return placeholder


class ShapeError(NamedTuple):
    path: DataPath  # where in the data
    kind: str  # pydantic's error type
    meant: str | None = None  # for an unknown key: the known key it looks like a typo of


class Repair(NamedTuple):
    data: Any  # the mended copy
    replaced: list[DataPath]  # steps replaced by placeholders
    renamed: list[tuple[DataPath, DataPath]]  # (as written, as read) for typo'd keys


def repaired(data: Any, errors: list[ShapeError]) -> Repair | None:
    """A copy of `data` without the parts the shape errors point at, and the paths of the
    steps replaced by placeholders; None when an error lies outside any step and cannot
    be dropped (a missing `sla`, say): nothing sound is left to check then.

    An unknown key that is a typo of a key the mapping lacks (`wiht:` for `with:`) is read
    as that key, so what it holds is checked as the analyst meant it, instead of being
    reported as missing."""
    fixed = copy.deepcopy(data)
    replaced: list[DataPath] = []
    renamed: list[tuple[DataPath, DataPath]] = []
    for path, kind, meant in errors:
        step = enclosing_step(fixed, path)
        if step is not None and any(step == r[: len(step)] for r in replaced):
            continue  # already replaced, or inside a step that was
        last = path[-1] if path else None
        if kind == "extra_forbidden" or (kind != "missing" and last in OPTIONAL_KEYS):
            try:
                parent = _parent(fixed, path)
                value = parent.pop(last)
                if kind == "extra_forbidden" and meant is not None and meant not in parent:
                    parent[meant] = value
                    renamed.append((path, (*path[:-1], meant)))
                continue
            except (KeyError, IndexError, TypeError, AttributeError):
                pass  # not a key of a mapping after all: mend the step instead
        if step is None:
            return None
        parent = _parent(fixed, step)
        parent[step[-1]] = _placeholder(parent[step[-1]], len(replaced))
        replaced = [r for r in replaced if r[: len(step)] != step] + [step]
    return Repair(fixed, replaced, renamed)
