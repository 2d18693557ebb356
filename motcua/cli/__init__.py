"""The `motcua` command: analysts' and officers' tools on the command line.

Commands are imported when they run or show their own help, not when `motcua` starts: the
case commands need Temporal's SDK and SQLAlchemy, seconds to import, which `motcua --help`
or `motcua validate` have no use for. `motcua --help` lists them from COMMANDS, which keeps
each command's one-line help (tests/test_cli_startup.py checks it against the command).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from typing import Any

import click

# name -> ("module:attribute" of the click command, its one-line help as `--help` lists it)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": (
        "motcua.cli.validate:validate",
        "Validate procedure definitions (files, or folders searched for *.yaml).",
    ),
    "graph": (
        "motcua.cli.graph:graph",
        "Draw PROCEDURE (an id such as vn.birth_registration, or a YAML file) as a flowchart.",
    ),
    "activities": (
        "motcua.cli.activities:activities",
        "List the activities a definition can call: arguments, result fields and errors.",
    ),
    "schema": ("motcua.cli.schema:schema", "Write the JSON Schema of the procedure language."),
    "token": (
        "motcua.cli.token:token",
        "Print a token for ROLE; give it as `Authorization: Bearer ...` or MOTCUA_TOKEN.",
    ),
    "pki": ("motcua.cli.pki:pki", "Development CA and agency signing certificates (data_dir/pki)."),
    "publish": (
        "motcua.cli.publishing:publish",
        "Publish FILE_OR_ID (a YAML file, or a procedure id: its catalogue file) as a version.",
    ),
    "versions": (
        "motcua.cli.publishing:versions",
        "List the published versions of procedure ID: publisher, date, hash, running cases.",
    ),
    "start": (
        "motcua.cli.cases:start",
        "Start a case of PROCEDURE (an id such as vn.birth_registration, or a YAML file) "
        "with the dossier given by --input.",
    ),
    "decide": (
        "motcua.cli.cases:decide",
        "Decide the open task STEP of case CODE with ACTION (approve, reject, ...).",
    ),
    "resume": (
        "motcua.cli.cases:resume",
        "Resume the stalled STEP of case CODE: retry, provide its result, skip it, or abort.",
    ),
    "supplement": (
        "motcua.cli.cases:supplement",
        "Supplement case CODE, sent back to the citizen at task STEP; the task reopens.",
    ),
    "show": (
        "motcua.cli.cases:show",
        "Show case CODE: status, open tasks, stalls, decisions and a history summary.",
    ),
    "cases": (
        "motcua.cli.worklists:cases",
        "List cases by status, agency, procedure and due date, newest first.",
    ),
    "rebuild-read-model": (
        "motcua.cli.readmodel:rebuild_read_model",
        "Rebuild the read model (inboxes, measures) from Temporal: every case projected again.",
    ),
    "db-upgrade": (
        "motcua.cli.readmodel:db_upgrade",
        "Migrate the database (DATABASE_URL) to the newest revision of its migrations.",
    ),
    "resume-all": (
        "motcua.cli.worklists:resume_all",
        "Resume every case of an agency stalled on one activity (after a registry outage): "
        "one reason on each; safe to repeat, a case already resumed is skipped.",
    ),
    "simulate": (
        "motcua.cli.simulate:simulate",
        "Run SCENARIO files (or every *.yaml under folders) and report every check.",
    ),
    "samples": (
        "motcua.cli.samples:samples",
        "Print sandbox test samples of each KIND (all kinds when none is given) as JSON.",
    ),
    "describe": (
        "motcua.cli.simulate:describe",
        "Explain PROCEDURE (an id such as vn.birth_registration, or a YAML file) for people: "
        "legal facts, deadline, the fields a citizen must type after pre-fill, steps, results.",
    ),
    "control-sheet": (
        "motcua.cli.paperwork:control_sheet",
        "Process-control sheet of case CODE: one row per hand-off, early/on time/overdue.",
    ),
    "replay": (
        "motcua.cli.auditing:replay",
        "Replay case CODE (or --file F, or --all) with today's workflow code.",
    ),
    "timeline": (
        "motcua.cli.auditing:timeline",
        "The timeline of case CODE: steps, registry calls, decisions, documents, members.",
    ),
    "archive": (
        "motcua.cli.auditing:archive_command",
        "Archive closed case CODE (or --all closed cases) now; already archived ones are kept.",
    ),
    "export": (
        "motcua.cli.auditing:export",
        "Write the evidence bundle of case CODE: histories, definitions, timeline, signed "
        "documents and a signed manifest of hashes.",
    ),
    "verify": (
        "motcua.cli.auditing:verify",
        "Check evidence BUNDLE offline: hashes, signatures and their chain, and that every "
        "history replays.",
    ),
    "audit": (
        "motcua.cli.auditlog:audit",
        "The hash-chained audit log: verify it, or show its last entries.",
    ),
    "portal-status": (
        "motcua.cli.paperwork:portal_status_command",
        "National portal status code (1-10) of case CODE.",
    ),
}


class LazyGroup(click.Group):
    """A group whose commands, given as "module:attribute", are imported on first use."""

    def __init__(
        self, *args: Any, lazy_commands: Mapping[str, tuple[str, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in self.lazy_commands:
            return super().get_command(ctx, cmd_name)
        module, _, attribute = self.lazy_commands[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module}:{attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Click's own listing, run on stand-ins that carry only the one-line help: shortening
        # a command's first sentence to the terminal's width gives what its full help would.
        listing = click.Group(commands=dict(self.commands))
        for name, (_, short) in self.lazy_commands.items():
            if name not in self.commands:
                listing.add_command(click.Command(name, help=short))
        listing.format_commands(ctx, formatter)


@click.group(cls=LazyGroup, lazy_commands=COMMANDS)
@click.version_option(package_name="motcua")
def main() -> None:
    """motcua: Vietnam's administrative procedures as durable workflows."""


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
