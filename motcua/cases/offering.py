"""The procedures offered to citizens: every definition under the procedure folder except
the examples (`examples/`: demonstrations and test procedures, not public services).

`offered()` reads the catalogue's shapes (cheap, cached by file); `compiled(id)` compiles a
procedure and its members for a case, cached until a file of the catalogue changes (a
bundle's case carries its members, so a member's change counts too).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from motcua.settings import get_settings
from motcua.workflows.dsl.compile import load_catalogue, yaml_files
from motcua.workflows.dsl.model import ProcedureDefinition
from motcua.workflows.dsl.walk import child_procedures

if TYPE_CHECKING:
    from motcua.workflows.contracts import CompiledProcedure

NOT_OFFERED_DIRS = frozenset({"examples"})

Compiled = tuple["CompiledProcedure", dict[str, "CompiledProcedure"]]
_lock = threading.Lock()
_compiled: dict[str, tuple[tuple[object, ...], Compiled]] = {}  # file -> (catalogue stamp, it)


def _root() -> Path:
    return get_settings().procedure_dir


def offered() -> dict[str, tuple[Path, ProcedureDefinition]]:
    """id -> (file, definition) of every procedure a citizen may file, by id."""
    root = _root()
    if not root.is_dir():
        return {}
    return {
        pid: (path, defn)
        for pid, (path, defn) in sorted(load_catalogue(root).items())
        if not NOT_OFFERED_DIRS & set(path.relative_to(root).parts[:-1])
    }


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
    """The procedure in `file` with its members, compiled (starting.InvalidDefinition)."""
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
