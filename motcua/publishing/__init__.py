"""Published versions of procedures, and which version a new case starts on (ADR 0018).

A procedure file under procedure_defs/ is the draft; publishing a version (the analysts'
API or `motcua publish`, motcua.publishing.publish) records it immutably. A new case starts
on the latest published version of its procedure, and each member a bundle starts on the
member's latest published version; a procedure never published runs its file, as before
publishing existed. A running case keeps the definition it started with: it travels in its
start input. The citizen catalogue and form show what a new case would run
(motcua.cases.offering).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from motcua.publishing.store import latest, latest_of

if TYPE_CHECKING:
    from motcua.workflows.contracts import CompiledProcedure

Compiled = tuple["CompiledProcedure", dict[str, "CompiledProcedure"]]


def current(compiled: Compiled) -> Compiled:
    """What a new case of `compiled` (a procedure and its members, from their files) runs:
    for the procedure and every procedure it starts, transitively, the latest published
    version, else the one given. A member that only a published version starts is compiled
    from its file in the catalogue. starting.InvalidDefinition when that fails, or when a
    published version no longer matches its hash."""
    procedure, members = compiled
    root_id = procedure.definition.id
    published = _latest_of([root_id, *members])
    if not published:
        return compiled
    root = published.get(root_id, procedure)
    return root, _members(root, published, members)


def current_of(procedure_id: str) -> Compiled | None:
    """What a new case of `procedure_id` runs when it has a published version: that version
    and the procedures it starts, chosen as `current` chooses them; None when it was never
    published (its file runs). Needs no file of the procedure itself, so a draft that does
    not compile leaves its published version running."""
    published = _latest_of([procedure_id])
    root = published.get(procedure_id)
    return None if root is None else (root, _members(root, published, {}))


def _latest_of(procedure_ids: list[str]) -> dict[str, CompiledProcedure]:
    from motcua.cases.starting import InvalidDefinition
    from motcua.publishing.store import Corrupt

    try:
        return latest_of(procedure_ids)
    except Corrupt as e:
        raise InvalidDefinition(_where(procedure_ids[0]), str(e)) from None


def _members(
    root: CompiledProcedure,
    published: dict[str, CompiledProcedure],
    members: dict[str, CompiledProcedure],
) -> dict[str, CompiledProcedure]:
    """Every procedure `root` starts, transitively: published, else in `members` (from the
    files), else found by `_unlisted`."""
    from motcua.workflows.dsl.walk import child_procedures

    root_id = root.definition.id
    chosen: dict[str, CompiledProcedure] = {}
    pending = [child for child, _ in child_procedures(root.definition)]
    while pending:
        child_id = pending.pop(0)
        if child_id in chosen or child_id == root_id:
            continue
        member = published.get(child_id) or members.get(child_id) or _unlisted(child_id)
        chosen[child_id] = member
        pending += [c for c, _ in child_procedures(member.definition)]
    return chosen


def _where(procedure_id: str) -> Path:
    return Path(f"published:{procedure_id}")


def _unlisted(procedure_id: str) -> CompiledProcedure:
    """A member the files' tree does not hold: its latest version, else its file."""
    from motcua.cases.starting import InvalidDefinition
    from motcua.publishing.store import Corrupt
    from motcua.settings import get_settings
    from motcua.workflows.dsl.compile import load_catalogue, load_procedure
    from motcua.workflows.dsl.diagnostics import DefinitionError

    try:
        found = latest(procedure_id)
    except Corrupt as e:
        raise InvalidDefinition(_where(procedure_id), str(e)) from None
    if found is not None:
        return found
    root = get_settings().procedure_dir
    known = load_catalogue(root) if root.is_dir() else {}
    if procedure_id not in known:
        raise InvalidDefinition(
            _where(procedure_id), f"no procedure file declares '{procedure_id}' any more"
        )
    path = known[procedure_id][0]
    try:
        return load_procedure(path)
    except DefinitionError as e:
        raise InvalidDefinition(path, str(e)) from None


__all__ = ["Compiled", "current", "current_of", "latest", "latest_of"]
