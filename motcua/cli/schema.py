"""Placeholder: filled in by its own change."""

import click


@click.command()
def schema() -> None:
    """Not yet built."""
    raise click.ClickException("not yet built")
