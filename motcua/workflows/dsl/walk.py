"""The one walk over a definition's step tree, for everything that needs every step.

A definition holds steps in several sequences (prefill, steps, the on_reject and on_abort
handlers, the apology) and steps hold steps (parallel branches, switch cases, a task's
on_supplement). Validation, compilation (which child procedures a bundle needs), the
interpreter (a step's result schema), `describe` and the graph all walk it here, so none of
them can miss a part of the tree.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from motcua.workflows.dsl.diagnostics import DataPath
from motcua.workflows.dsl.model import (
    ParallelStep,
    ProcedureDefinition,
    ProcedureStep,
    SwitchStep,
    TaskStep,
)


def sequences(defn: ProcedureDefinition) -> list[tuple[list[Any], DataPath]]:
    """The definition's top-level step sequences, each with its path in the data."""
    return [
        (defn.prefill, ("prefill",)),
        (defn.steps, ("steps",)),
        (defn.on_reject, ("on_reject",)),
        (defn.on_abort, ("on_abort",)),
        (defn.apology.steps if defn.apology else [], ("apology", "steps")),
    ]


def children(step: Any, path: DataPath) -> list[tuple[list[Any], DataPath]]:
    """The step sequences directly inside `step` (at `path`), with their paths."""
    if isinstance(step, ParallelStep):
        return [(b, (*path, "parallel", name)) for name, b in step.parallel.items()]
    if isinstance(step, SwitchStep):
        found = [
            (case.steps, (*path, "switch", "cases", k, "steps"))
            for k, case in enumerate(step.switch.cases)
        ]
        return [*found, (step.switch.default, (*path, "switch", "default"))]
    if isinstance(step, TaskStep) and step.task.on_supplement:
        return [(step.task.on_supplement, (*path, "task", "on_supplement"))]
    return []


def walk_steps(steps: list[Any], base: DataPath) -> Iterator[tuple[Any, DataPath]]:
    """(step, path in the data) for every step, nested ones included, in document order."""
    for i, step in enumerate(steps):
        path = (*base, i)
        yield step, path
        for inner, inner_base in children(step, path):
            yield from walk_steps(inner, inner_base)


def walk_definition(defn: ProcedureDefinition) -> Iterator[tuple[Any, DataPath]]:
    """Every step of the definition, in every sequence, nested ones included."""
    for steps, base in sequences(defn):
        yield from walk_steps(steps, base)


def child_procedures(defn: ProcedureDefinition) -> list[tuple[str, DataPath]]:
    """(child procedure id, path of its `procedure.id`) for every procedure step."""
    return [
        (step.procedure.id, (*path, "procedure", "id"))
        for step, path in walk_definition(defn)
        if isinstance(step, ProcedureStep)
    ]
