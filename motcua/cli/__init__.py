"""The `motcua` command: analysts' and officers' tools on the command line."""

from __future__ import annotations

import os
import sys

import click

from motcua.cli import cases, graph, paperwork, pki, schema, simulate, validate


@click.group()
@click.version_option(package_name="motcua")
def main() -> None:
    """motcua: Vietnam's administrative procedures as durable workflows."""


main.add_command(validate.validate)
main.add_command(graph.graph)
main.add_command(schema.schema)
main.add_command(pki.pki)
for command in [*cases.COMMANDS, *simulate.COMMANDS, *paperwork.COMMANDS]:
    main.add_command(command)


def run() -> None:
    """The console script: run the command, flush, and leave without interpreter teardown.

    The Temporal client's native runtime keeps threads that can abort CPython's
    finalization ("PyGILState_Release ... must be current", temporalio/sdk-python#300),
    turning a finished command into a crash. Everything is flushed and closed by now.
    """
    try:
        main.main(prog_name="motcua")
        code = 0
    except SystemExit as exit_:
        if isinstance(exit_.code, int) or exit_.code is None:
            code = exit_.code or 0
        else:
            click.echo(exit_.code, err=True)
            code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
