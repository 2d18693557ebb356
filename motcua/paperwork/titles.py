"""The titles of the definitions cases ran, found by their hash, for paperwork that names
several procedures (a bundle's control sheet).

By hash, not by id: a title is read from the very definition the case ran. A member's
definition is in the definition store (ADR 0012); a bundle's own is not (its start input
carries it in full), so it is looked for among the procedure folder's files, and taken only
if a file compiles to that same hash. Reading the folder costs about 0.2 s (procedure_defs/,
one process), paid only when the store lacked a title. A definition found in neither place
is left out: the sheet shows its id.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from motcua.workflows.contracts import CaseState


def definition_titles(states: Iterable[CaseState], folder: Path | None = None) -> dict[str, str]:
    """procedure id -> title of the definition each of `states` ran; `folder` is the
    procedure folder (default: the settings')."""
    from motcua.activities import definitions
    from motcua.activities.store import StoreError

    wanted = {s.definition_hash: s.procedure_id for s in states}
    titles: dict[str, str] = {}
    for hash_, procedure_id in wanted.items():
        try:
            titles[procedure_id] = definitions.get(hash_).definition.title
        except (StoreError, ValueError):  # absent, altered or unreadable here
            continue
    rest = {h: p for h, p in wanted.items() if p not in titles}
    if rest:
        titles |= _from_files(rest, folder)
    return titles


def _from_files(wanted: dict[str, str], folder: Path | None) -> dict[str, str]:
    from motcua.settings import get_settings
    from motcua.workflows.contracts import CompiledProcedure
    from motcua.workflows.dsl.compile import load_catalogue

    root = folder or get_settings().procedure_dir
    if not root.is_dir():
        return {}
    found: dict[str, str] = {}
    for procedure_id, (_, defn) in load_catalogue(root).items():
        if procedure_id in wanted.values():
            hash_ = CompiledProcedure.of(defn).hash
            if wanted.get(hash_) == procedure_id:
                found[procedure_id] = defn.title
    return found
