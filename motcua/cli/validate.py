"""`motcua validate PATH...`: check procedure definitions, one diagnostic per line."""

from __future__ import annotations

import time
from pathlib import Path

import click

from motcua.settings import get_settings
from motcua.workflows.dsl.compile import check_file, cycles, load_catalogue, scan, yaml_files
from motcua.workflows.dsl.diagnostics import Diagnostic


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--procedures",
    "procedure_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder of known child procedures (default: the configured procedure_defs/).",
)
def validate(paths: tuple[Path, ...], procedure_dir: Path | None) -> None:
    """Validate procedure definitions (files, or folders searched for *.yaml).

    Prints `file:line:col: CODE message` for every problem and exits with status 1 if
    there is any. Folders named calendars/ and templates/ are skipped.
    """
    started = time.perf_counter()
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise click.UsageError(f"no such file or directory: {missing[0]}")
    files: list[Path] = []
    for path in paths:
        files += [f for f in yaml_files(path) if f not in files]
    if not files:
        raise click.UsageError("no *.yaml files found in " + ", ".join(map(str, paths)))

    folder = procedure_dir or get_settings().procedure_dir
    known = load_catalogue(folder) if folder.is_dir() else {}
    given, clashes = scan(files)
    known.update(given)
    procedures = {pid: defn for pid, (_, defn) in known.items()}

    diagnostics: list[Diagnostic] = list(clashes)
    valid = 0
    for path in files:
        defn, found, _ = check_file(path, procedures=procedures)
        diagnostics += found
        if defn is not None:
            valid += 1
            if defn.id in given and given[defn.id][0] == path:
                diagnostics += [d for d in cycles(known, defn.id) if d.file == str(path)]
    for diagnostic in sorted(set(diagnostics), key=Diagnostic.sort_key):
        click.echo(diagnostic.format())
    seconds = time.perf_counter() - started
    if diagnostics:
        bad = len({d.file for d in diagnostics})
        click.echo(f"{_plural(len(set(diagnostics)), 'error')} in {_plural(bad, 'file')}")
        raise SystemExit(1)
    click.echo(f"ok: {_plural(valid, 'procedure')} valid ({seconds:.2f} s)")
