"""`motcua` imports what a command needs when it runs it (issue 11, point 5).

Structural checks, not timings: which libraries a fresh interpreter has loaded after
`import motcua.cli`, `motcua --help`, `motcua validate` and a `start` refused on its input.
SQLAlchemy, Temporal's SDK, pyHanko and holidays take seconds to import; none of these
needs them. Also: the lazy command map lists every command with its own one-line help, and
the light activity catalogue the validator reads equals the worker's registry.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from motcua.activities import registry, signatures
from motcua.cli import COMMANDS, main

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("sqlalchemy", "sqlmodel", "temporalio", "pyhanko", "holidays")
BIRTH = "procedure_defs/civil_status/birth_registration.yaml"

# Runs `motcua ARGS...` in this interpreter, then prints every module it has loaded.
PROBE = """
import json, sys
from motcua.cli import main
try:
    main.main(sys.argv[1:], prog_name="motcua")
    code = 0
except SystemExit as e:
    code = e.code
sys.stdout.flush()
print("\\nPROBE " + json.dumps({"code": code, "loaded": sorted(sys.modules)}))
"""


def _probe(*args: str) -> tuple[Any, str, list[str]]:
    """(exit code, output, modules loaded) of `motcua ARGS` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output, _, tail = done.stdout.rpartition("\nPROBE ")
    assert tail, f"probe failed:\n{done.stdout}\n{done.stderr}"
    result = json.loads(tail)
    return result["code"], output + done.stderr, result["loaded"]


def _heavy(loaded: list[str]) -> list[str]:
    return sorted({m.split(".")[0] for m in loaded} & set(HEAVY))


def test_import_loads_no_heavy_library() -> None:
    code = "import json, sys, motcua.cli; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert _heavy(json.loads(done.stdout)) == []


def test_help_imports_no_command() -> None:
    code, output, loaded = _probe("--help")
    assert code == 0
    assert all(f"  {name} " in output for name in COMMANDS)
    assert _heavy(loaded) == []
    assert [m for m in loaded if m.startswith("motcua.cli.")] == []


def test_validate_imports_no_database_signing_or_temporal() -> None:
    code, output, loaded = _probe("validate", "procedure_defs/")
    assert code == 0, output
    assert "ok: " in output
    assert _heavy(loaded) == []
    assert "motcua.activities.registry" not in loaded


def test_start_refused_on_its_input_imports_nothing_heavy() -> None:
    code, output, loaded = _probe("start", BIRTH, "--input", "null")
    assert code == 1
    assert "error: --input must be a JSON object" in output
    assert _heavy(loaded) == []


# ---------------------------------------------------------------- the lazy command map


def _eager() -> click.Group:
    """The group as it was before commands were lazy: every command imported and added."""
    from motcua.cli import (
        activities,
        auditing,
        auditlog,
        cases,
        graph,
        paperwork,
        pki,
        publishing,
        readmodel,
        samples,
        schema,
        simulate,
        token,
        validate,
        worklists,
    )

    group = click.Group("main", help=main.help, params=list(main.params))
    for command in [validate.validate, graph.graph, schema.schema, pki.pki]:
        group.add_command(command)
    for command in [activities.activities, samples.samples, token.token]:
        group.add_command(command)
    for command in [*cases.COMMANDS, *worklists.COMMANDS, *simulate.COMMANDS, *paperwork.COMMANDS]:
        group.add_command(command)
    for command in [*publishing.COMMANDS, *readmodel.COMMANDS, *auditlog.COMMANDS]:
        group.add_command(command)
    for command in auditing.COMMANDS:
        group.add_command(command)
    return group


def test_lazy_map_holds_every_command_with_its_own_short_help() -> None:
    eager = _eager()
    assert sorted(COMMANDS) == sorted(eager.commands)
    ctx = click.Context(main)
    for name, (_, short) in COMMANDS.items():
        command = main.get_command(ctx, name)
        assert command is eager.commands[name] and command.name == name
        assert short == command.get_short_help_str(limit=sys.maxsize), name


@pytest.mark.parametrize("width", [50, 80, 120, 200])
def test_help_lists_what_the_eager_group_would(width: int) -> None:
    lazy = CliRunner().invoke(main, ["--help"], terminal_width=width)
    eager = CliRunner().invoke(_eager(), ["--help"], terminal_width=width)
    assert lazy.exit_code == eager.exit_code == 0
    assert lazy.output == eager.output


def test_a_command_runs_and_shows_its_help_through_the_lazy_group() -> None:
    result = CliRunner().invoke(main, ["validate", "--help"])
    assert result.exit_code == 0
    assert "Usage: main validate [OPTIONS] PATHS..." in result.output
    result = CliRunner().invoke(main, ["no-such-command"])
    assert result.exit_code == 2 and "No such command 'no-such-command'" in result.output


# ---------------------------------------------------------------- the light activity catalogue


def test_light_activity_catalogue_equals_the_registry() -> None:
    real = {name: spec.arguments for name, spec in registry.callable_by_definitions().items()}
    light = {name: spec.arguments for name, spec in signatures.catalogue().items()}
    expected = {
        name: None
        if arguments is None
        else tuple(a.key if a.required else f"{a.key}?" for a in arguments)
        for name, arguments in real.items()
    }
    assert list(light.items()) == list(real.items()), (
        "motcua/activities/signatures.py is out of date; ACTIVITIES should be:\n"
        + json.dumps(expected, indent=4)
    )
