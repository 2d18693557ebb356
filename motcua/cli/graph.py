"""`motcua graph`: a procedure's diagram as Graphviz DOT, SVG or Mermaid."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import IO, Any

import click

from motcua.workflows.dsl.compile import load_procedure
from motcua.workflows.dsl.diagnostics import DefinitionError
from motcua.workflows.dsl.graph import to_format
from motcua.workflows.dsl.model import ProcedureDefinition

FORMATS = ("dot", "svg", "mermaid")
_SUFFIXES = {".svg": "svg", ".mmd": "mermaid", ".mermaid": "mermaid", ".dot": "dot", ".gv": "dot"}
NO_GRAPHVIZ = (
    "Graphviz is not installed: 'dot' was not found on PATH. "
    "Install it (apt-get install graphviz), or use --format dot or --format mermaid."
)


class DefinitionProblems(click.ClickException):
    """Diagnostics printed as they are, one per line (`path:line:col: CODE message`)."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(self.format_message(), err=True)


def read_definition(path: Path) -> ProcedureDefinition:
    """The fully validated definition in `path` (the same checks as `motcua validate`)."""
    try:
        return load_procedure(path).definition
    except DefinitionError as e:
        raise DefinitionProblems(str(e)) from None


def render_svg(dot_text: str) -> str:
    """SVG from DOT text through Graphviz's `dot -Tsvg`."""
    dot = shutil.which("dot")
    if dot is None:
        raise click.ClickException(NO_GRAPHVIZ)
    done = subprocess.run(
        [dot, "-Tsvg"], input=dot_text.encode("utf-8"), capture_output=True, check=False
    )
    if done.returncode != 0:
        error = done.stderr.decode("utf-8", "replace").strip()
        raise click.ClickException(f"Graphviz 'dot' failed (exit {done.returncode}): {error}")
    return done.stdout.decode("utf-8")


@click.command()
@click.argument("procedure")
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Output format [default: from the -o suffix (.svg, .mmd, .dot), else dot].",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write to this file instead of standard output.",
)
def graph(procedure: str, fmt: str | None, output: Path | None) -> None:
    """Draw PROCEDURE (an id such as vn.birth_registration, or a YAML file) as a flowchart.

    Each step is one node labelled with its kind; `when` guards label the edges, task
    outcomes lead to the rejected end or loop back for a supplement.

    \b
    Examples:
        motcua graph vn.birth_registration | dot -Tpng > birth.png
        motcua graph procedure_defs/civil_status/birth_registration.yaml -o birth.svg
        motcua graph vn.birth_registration --format mermaid
    """
    if fmt is None:
        fmt = _SUFFIXES.get(output.suffix.lower(), "dot") if output else "dot"
    from motcua.cli.procedures import find_procedure

    definition = read_definition(find_procedure(procedure))
    text = to_format(definition, "dot" if fmt == "svg" else fmt)
    if fmt == "svg":
        text = render_svg(text)
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as e:
        raise click.ClickException(f"cannot write {output}: {e.strerror or e}") from None
    click.echo(f"wrote {output} ({fmt})", err=True)
