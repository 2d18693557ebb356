"""Checking a definition sent as YAML text, as `motcua validate` checks a file.

The same loader and validator, so the same located diagnostics (`file:line:col: CODE
message hint`) under the name the caller gives the text. Child procedures are resolved
against the catalogue as new cases would start them: every procedure file under
procedure_defs/, each replaced by its latest published version where it has one. One check
more than a single file gets from the CLI: a procedure step whose child leads back to this
procedure through other procedures (E022) is reported here, on the step, since this text is
what would close the cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from motcua.publishing import store
from motcua.settings import get_settings
from motcua.workflows.dsl.compile import load_catalogue
from motcua.workflows.dsl.diagnostics import DefinitionError, Diagnostic
from motcua.workflows.dsl.loader import Positions, load_yaml
from motcua.workflows.dsl.model import ProcedureDefinition
from motcua.workflows.dsl.validation import validate_definition
from motcua.workflows.dsl.walk import child_procedures


@dataclass(frozen=True)
class Checked:
    """The definition if the text has no problem, every diagnostic, and the file that
    declares the same procedure id in the catalogue (None: a procedure without a file)."""

    definition: ProcedureDefinition | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    catalogue_file: Path | None = None


def catalogue() -> dict[str, tuple[Path, ProcedureDefinition]]:
    """id -> (file, definition) of every well-shaped procedure file."""
    root = get_settings().procedure_dir
    return load_catalogue(root) if root.is_dir() else {}


def known_procedures(
    files: dict[str, tuple[Path, ProcedureDefinition]],
) -> dict[str, ProcedureDefinition]:
    """Procedures by id as a new case would start them: published, else the file's."""
    known = {pid: defn for pid, (_, defn) in files.items()}
    known.update({pid: c.definition for pid, c in store.latest_of().items()})
    return known


def check_text(text: str, *, file: str) -> Checked:
    """Load and validate `text` (named `file` in the diagnostics); never raises but
    store.Corrupt (a published version altered in the database)."""
    files = catalogue()
    procedures = known_procedures(files)
    try:
        data, positions = load_yaml(text, filename=file)
    except DefinitionError as e:
        return Checked(None, sorted(set(e.diagnostics), key=Diagnostic.sort_key))
    defn, diagnostics = validate_definition(data, positions, filename=file, procedures=procedures)
    if defn is not None:
        diagnostics += cycles_through(defn, procedures, positions, file)
    ordered = sorted(set(diagnostics), key=Diagnostic.sort_key)
    listed = files.get(defn.id) if defn is not None else None
    return Checked(None if ordered else defn, ordered, listed[0] if listed else None)


def cycles_through(
    defn: ProcedureDefinition,
    procedures: dict[str, ProcedureDefinition],
    positions: Positions,
    file: str,
) -> list[Diagnostic]:
    """E022 on each procedure step of `defn` whose child starts `defn` again, through
    other procedures (a step starting its own procedure is the validator's E022)."""
    graph = {**procedures, defn.id: defn}

    def route(start: str) -> list[str] | None:
        """Ids from `start` to defn.id along child procedures, depth first."""
        seen: set[str] = set()
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack:
            pid, trail = stack.pop()
            if pid == defn.id:
                return trail
            if pid in seen or pid not in graph:
                continue
            seen.add(pid)
            stack += [(c, [*trail, c]) for c, _ in reversed(child_procedures(graph[pid]))]
        return None

    found: list[Diagnostic] = []
    for child, at in child_procedures(defn):
        if child == defn.id:
            continue
        trail = route(child)
        if trail is not None:
            chain = " -> ".join([defn.id, *trail])
            line, col = positions.at(at)
            found.append(
                Diagnostic(file, line, col, "E022", f"child procedures cycle: {chain}", at)
            )
    return found
