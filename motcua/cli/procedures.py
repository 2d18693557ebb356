"""PROCEDURE arguments: every command that takes a procedure takes its id or its file."""

from __future__ import annotations

from pathlib import Path

import click

from motcua.settings import get_settings

YAML_SUFFIXES = (".yaml", ".yml")


def find_procedure(procedure: str) -> Path:
    """The file of `procedure`: a path to a YAML file, or a procedure id (such as
    vn.birth_registration) looked up under the procedure folder (MOTCUA_PROCEDURE_DIR)."""
    path = Path(procedure)
    if path.suffix in YAML_SUFFIXES or path.is_file():
        if not path.is_file():
            raise click.ClickException(f"no such file: {procedure}")
        return path
    from motcua.workflows.dsl.compile import load_catalogue  # the id is looked up: slower

    folder = get_settings().procedure_dir
    catalogue = load_catalogue(folder) if folder.is_dir() else {}
    if procedure not in catalogue:
        known = ", ".join(sorted(catalogue)) or "none"
        raise click.ClickException(
            f"no procedure with id {procedure!r} under {folder} (known: {known}); "
            "give its id or the path of its YAML file"
        )
    return catalogue[procedure][0]
