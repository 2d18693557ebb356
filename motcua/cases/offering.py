"""The procedures offered to citizens: every definition under the procedure folder except
the examples (`examples/`: demonstrations and test procedures, not public services), each
as a new case would run it: its latest published version where it has one, else its file
(ADR 0018). So the catalogue, the form and the submit show and start the same definition.

`offered()` reads the catalogue's shapes (cheap, cached by file) and the latest published
versions (one query); `compiled(file)` is the procedure and its members for a case
(starting.case_definition): the files' compilation is cached until a file of the
catalogue changes (a bundle's case carries its members, so a member's change counts too),
the published versions are read on every call.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from motcua.settings import get_settings
from motcua.workflows.dsl.compile import load_catalogue, yaml_files
from motcua.workflows.dsl.model import ProcedureDefinition
from motcua.workflows.dsl.walk import child_procedures

if TYPE_CHECKING:
    from motcua.workflows.contracts import CompiledProcedure

log = logging.getLogger(__name__)
NOT_OFFERED_DIRS = frozenset({"examples"})

Compiled = tuple["CompiledProcedure", dict[str, "CompiledProcedure"]]
_lock = threading.Lock()
_compiled: dict[str, tuple[tuple[object, ...], Compiled]] = {}  # file -> (catalogue stamp, it)


def _root() -> Path:
    return get_settings().procedure_dir


def offered() -> dict[str, tuple[Path, ProcedureDefinition]]:
    """id -> (file, definition) of every procedure a citizen may file, by id: the latest
    published definition where there is one, else the file's."""
    root = _root()
    if not root.is_dir():
        return {}
    files = {
        pid: (path, defn)
        for pid, (path, defn) in sorted(load_catalogue(root).items())
        if not NOT_OFFERED_DIRS & set(path.relative_to(root).parts[:-1])
    }
    published = _published(list(files))
    return {pid: (path, published.get(pid, defn)) for pid, (path, defn) in files.items()}


def _published(procedure_ids: list[str]) -> dict[str, ProcedureDefinition]:
    """The latest published definition of each procedure that has one. A version altered in
    the database is left out (its file shows; its form and submit refuse, with a log)."""
    from motcua.publishing import latest_of
    from motcua.publishing.store import Corrupt

    try:
        return {pid: c.definition for pid, c in latest_of(procedure_ids).items()}
    except Corrupt:
        log.error("a published version does not match its hash; its file is shown instead")
    found: dict[str, ProcedureDefinition] = {}
    for pid in procedure_ids:
        try:
            found |= {p: c.definition for p, c in latest_of([pid]).items()}
        except Corrupt:
            continue
    return found


def members(defn: ProcedureDefinition) -> list[str]:
    """The procedures a bundle starts, in order (none for a single procedure)."""
    return list(dict.fromkeys(child for child, _ in child_procedures(defn)))


def _catalogue_stamp(root: Path) -> tuple[object, ...]:
    stamp: list[object] = []
    for path in yaml_files(root):
        st = path.stat()
        stamp.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(stamp)


def compiled(file: Path) -> Compiled:
    """What a new case of the procedure in `file` runs, with its members: the latest
    published versions, else the files compiled (starting.InvalidDefinition)."""
    from motcua.cases.starting import case_definition

    return case_definition(file, _compiled_file)


def _compiled_file(file: Path) -> Compiled:
    """The procedure in `file` with its members, compiled from the files."""
    from motcua.cases.starting import compile_file

    stamp = _catalogue_stamp(_root())
    key = str(file)
    with _lock:
        hit = _compiled.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    result = compile_file(file)
    with _lock:
        _compiled[key] = (stamp, result)
    return result
