"""The `motcua` command: analysts' and officers' tools on the command line."""

from __future__ import annotations

import click

from motcua.cli import cases, graph, schema, validate


@click.group()
@click.version_option(package_name="motcua")
def main() -> None:
    """motcua: Vietnam's administrative procedures as durable workflows."""


main.add_command(validate.validate)
main.add_command(graph.graph)
main.add_command(schema.schema)
for command in cases.COMMANDS:
    main.add_command(command)
