"""From YAML files to compiled procedures: validated definitions pinned by content hash.

`load_procedure` compiles one file; `load_bundle` compiles a procedure and every child
procedure it starts, transitively, so a bundle's case carries all its members. Child ids
are looked up in a catalogue: every *.yaml under the procedure folder, except the
`calendars/` and `templates/` folders. A broken file in the catalogue only matters to the
procedures that use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from motcua.activities.signatures import Signature
from motcua.settings import get_settings
from motcua.workflows.dsl.diagnostics import DataPath, DefinitionError, Diagnostic
from motcua.workflows.dsl.loader import Positions, load_yaml
from motcua.workflows.dsl.model import ProcedureDefinition
from motcua.workflows.dsl.validation import prepare, validate_definition
from motcua.workflows.dsl.walk import child_procedures

if TYPE_CHECKING:
    # Temporal's SDK, which contracts imports, is slow to import and checking needs none of it.
    from motcua.workflows.contracts import CompiledProcedure

SKIPPED_DIRS = frozenset({"calendars", "templates"})


def yaml_files(root: Path) -> list[Path]:
    """Every *.yaml under `root` (or `root` itself), skipping calendars/ and templates/."""
    if root.is_file():
        return [root]
    return sorted(
        p
        for p in root.rglob("*.yaml")
        if p.is_file() and not SKIPPED_DIRS & set(p.relative_to(root).parts[:-1])
    )


# (file, mtime, size) -> its definition's shape: every compile scans the whole catalogue,
# and a file that has not changed need not be parsed again. Callers only read them.
_shapes: dict[tuple[Path, int, int, bool], ProcedureDefinition | None] = {}


def _shape_only(
    path: Path, procedures: Mapping[str, ProcedureDefinition] | None = None
) -> ProcedureDefinition | None:
    """The definition's shape (None if it has none); with `procedures`, a bundle's `use:`
    of its members is resolved too."""
    try:
        st = path.stat()
    except OSError:
        return None
    key = (path.resolve(), st.st_mtime_ns, st.st_size, procedures is not None)
    if key not in _shapes:
        try:
            data, _, _ = prepare(load_yaml(path, filename=str(path))[0], procedures=procedures)
            _shapes[key] = ProcedureDefinition.model_validate(data)
        except Exception:  # noqa: BLE001 - a broken file is reported when it is validated
            _shapes[key] = None
    return _shapes[key]


def scan(
    files: Iterable[Path],
) -> tuple[dict[str, tuple[Path, ProcedureDefinition]], list[Diagnostic]]:
    """Catalogue of well-shaped definitions by id, plus E021 for ids declared twice. A
    bundle that `use:`s its members is read in a second round, once they are known."""
    files = list(files)
    found: dict[str, tuple[Path, ProcedureDefinition]] = {}
    clashes: list[Diagnostic] = []
    first = {path: _shape_only(path) for path in files}
    members = {d.id: d for d in first.values() if d is not None}
    for path in files:
        defn = _shape_only(path, members) if _uses(path) else first[path]
        if defn is None:
            continue
        if defn.id in found:
            other = found[defn.id][0]
            clashes.append(
                Diagnostic(
                    str(path),
                    *_position(path, ("id",)),
                    "E021",
                    f"procedure id '{defn.id}' is also declared in {other}",
                    ("id",),
                )
            )
            continue
        found[defn.id] = (path, defn)
    return found, clashes


def _uses(path: Path) -> bool:
    """Whether the file `use:`s another procedure (a cheap look at its top-level keys)."""
    try:
        return any(line.startswith("use:") for line in path.read_text("utf-8").splitlines())
    except OSError:
        return False


def _position(path: Path, at: DataPath) -> tuple[int, int]:
    try:
        _, positions = load_yaml(path, filename=str(path))
        return positions.at(at)
    except Exception:  # noqa: BLE001
        return (1, 1)


def load_catalogue(root: Path) -> dict[str, tuple[Path, ProcedureDefinition]]:
    """id -> (file, definition) for every well-shaped procedure under `root`."""
    return scan(yaml_files(root))[0]


def check_file(
    path: Path,
    *,
    activities: Mapping[str, Signature] | None = None,
    procedures: Mapping[str, ProcedureDefinition] | None = None,
) -> tuple[ProcedureDefinition | None, list[Diagnostic], Positions]:
    """Load and validate one file; never raises."""
    filename = str(path)
    try:
        data, positions = load_yaml(path, filename=filename)
    except DefinitionError as e:
        return None, e.diagnostics, Positions()
    defn, diagnostics = validate_definition(
        data, positions, filename=filename, activities=activities, procedures=procedures
    )
    return defn, diagnostics, positions


def _catalogue(root: Path | None) -> dict[str, tuple[Path, ProcedureDefinition]]:
    folder = get_settings().procedure_dir if root is None else root
    return load_catalogue(folder) if folder.is_dir() else {}


def load_procedure(
    path: Path,
    *,
    activities: Mapping[str, Signature] | None = None,
    root: Path | None = None,
) -> CompiledProcedure:
    """Compile one file; DefinitionError lists every problem found in it."""
    from motcua.workflows.contracts import CompiledProcedure

    procedures = {pid: defn for pid, (_, defn) in _catalogue(root).items()}
    defn, diagnostics, _ = check_file(path, activities=activities, procedures=procedures)
    if diagnostics or defn is None:
        raise DefinitionError(diagnostics)
    return CompiledProcedure.of(defn)


def cycles(
    catalogue: Mapping[str, tuple[Path, ProcedureDefinition]], start: str
) -> list[Diagnostic]:
    """E022 for every procedure step that closes a cycle of child procedures from `start`."""
    found: list[Diagnostic] = []
    done: set[str] = set()

    def visit(pid: str, stack: list[str]) -> None:
        if pid in done or pid not in catalogue:
            return
        path, defn = catalogue[pid]
        for child, at in child_procedures(defn):
            if child in stack and child != pid:
                chain = " -> ".join([*stack[stack.index(child) :], child])
                line, col = _position(path, at)
                found.append(
                    Diagnostic(str(path), line, col, "E022", f"child procedures cycle: {chain}", at)
                )
            elif child not in stack:
                visit(child, [*stack, child])
        done.add(pid)

    visit(start, [start])
    return found


def load_bundle(
    path: Path,
    *,
    activities: Mapping[str, Signature] | None = None,
    root: Path | None = None,
) -> tuple[CompiledProcedure, dict[str, CompiledProcedure]]:
    """Compile a procedure and every child procedure it starts, transitively, by id."""
    from motcua.workflows.contracts import CompiledProcedure

    known = _catalogue(root)
    procedures = {pid: defn for pid, (_, defn) in known.items()}
    defn, diagnostics, _ = check_file(path, activities=activities, procedures=procedures)
    if defn is None or diagnostics:
        raise DefinitionError(diagnostics)
    members: dict[str, CompiledProcedure] = {}
    problems: list[Diagnostic] = []
    pending = [child for child, _ in child_procedures(defn)]
    while pending:
        child_id = pending.pop(0)
        if child_id in members or child_id == defn.id or child_id not in known:
            continue
        child_path = known[child_id][0]
        child, child_diags, _ = check_file(child_path, activities=activities, procedures=procedures)
        problems += child_diags
        if child is None:
            continue
        members[child_id] = CompiledProcedure.of(child)
        pending += [c for c, _ in child_procedures(child)]
    graph = {**known, defn.id: (path, defn)}
    problems += cycles(graph, defn.id)
    if problems:
        raise DefinitionError(problems)
    return CompiledProcedure.of(defn), members


__all__ = [
    "load_bundle",
    "load_catalogue",
    "load_procedure",
    "yaml_files",
]
