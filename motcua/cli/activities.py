"""`motcua activities`: which activities exist, what they take and return, how they fail."""

from __future__ import annotations

import click


@click.command()
@click.argument("name", required=False)
@click.option("--markdown", is_flag=True, help="Print docs/activities.md (every activity).")
def activities(name: str | None, markdown: bool) -> None:
    """List the activities a definition can call: arguments, result fields and errors."""
    from motcua.activities import describe
    from motcua.activities.registry import callable_by_definitions
    from motcua.workflows.dsl.diagnostics import did_you_mean

    specs = callable_by_definitions()
    if markdown:
        click.echo(describe.markdown(specs), nl=False)
        return
    if name is not None and name not in specs:
        hint = did_you_mean(name, specs) or "run `motcua activities` for the list"
        raise click.ClickException(f"no activity {name!r}; {hint}")
    click.echo(describe.text(specs, only=name), nl=False)
