"""Parameters everywhere a number goes: `params.x` resolved when a definition is compiled.

A fee, a deadline, the days a citizen has to supplement, the apology's extension and retry
counts are often the figures a decree may change, so they live in `parameters:` and the
place that uses one says so:

    parameters: {supplement_days: 7}
    ...
    supplement: {working_days: params.supplement_days}

The value is put in place before the models read the definition, so the compiled (pinned)
definition holds the number and the workflow never looks it up. `"{{ params.x }}"` is read
the same way. An unknown name is reported where it is written (E026).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from motcua.workflows.dsl.diagnostics import DataPath

# Keys whose value is a number the engine needs before a case runs.
NUMBER_KEYS = frozenset(
    {
        "amount", "online", "working_days", "before_working_days", "extend_working_days",
        "max_attempts", "timeout", "initial_interval", "max_interval", "window", "duration",
    }
)  # fmt: skip
# Where values are expressions or data evaluated in the case, or the parameters themselves.
NOT_HERE = frozenset({"parameters", "input", "with", "set", "output", "data", "form", "result"})
PARAM = re.compile(r"^\s*(?:\{\{\s*)?params\.([A-Za-z_][A-Za-z0-9_]*)(?:\s*\}\})?\s*$")


def resolve(data: Any) -> tuple[Any, list[tuple[DataPath, str, str | None]]]:
    """`data` with each `params.x` in a number's place replaced by its value, and the
    problems as (path, message, hint)."""
    if not isinstance(data, dict):
        return data, []
    declared = data.get("parameters")
    params: dict[str, Any] = declared if isinstance(declared, dict) else {}
    data = copy.deepcopy(data)
    problems: list[tuple[DataPath, str, str | None]] = []

    def walk(node: Any, path: DataPath) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in NOT_HERE:
                    continue
                match = PARAM.match(value) if isinstance(value, str) else None
                if key in NUMBER_KEYS and match is not None:
                    name = match[1]
                    if name in params:
                        node[key] = params[name]
                    else:
                        known = ", ".join(sorted(params)) or "none declared"
                        problems.append(
                            ((*path, key), f"unknown parameter '{name}'", f"parameters: {known}")
                        )
                else:
                    walk(value, (*path, key))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, (*path, i))

    walk(data, ())
    return data, problems
