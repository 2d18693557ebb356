"""Walks over loaded data, before the models read it: what the compile-time rewrites
(one_stop, parameters, reuse) need to find their places in what the analyst wrote."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from motcua.workflows.dsl.diagnostics import DataPath


def holding(
    value: Any, key: str, kind: type, path: DataPath = ()
) -> Iterator[tuple[DataPath, dict]]:
    """(path, mapping) of every mapping anywhere in `value` whose `key` is a `kind`,
    outermost first, in the order written."""
    if isinstance(value, dict):
        if isinstance(value.get(key), kind):
            yield path, value
        for k, v in value.items():
            yield from holding(v, key, kind, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from holding(v, key, kind, (*path, i))
