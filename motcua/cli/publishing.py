"""Publishing from the terminal: `motcua publish` (a procedure's definition, checked and
recorded as a published version) and `motcua versions` (its versions, the cases on each).

The same code as the analysts' API (motcua.publishing.publish, ADR 0018), writing to the
same database (DATABASE_URL, else the data dir's SQLite file), so the same refusals: a
definition with errors, a procedure no catalogue file declares, a `version:` not above the
latest published. The same content again is not a new version: its version is named and
the command exits 0. The publisher is the holder of the analyst token given by --token or
MOTCUA_TOKEN (`motcua token analyst --sub ID`, or the login); with the development issuer,
--actor may stand in for a token, as for `motcua decide`. A new version is appended to the
audit log (motcua.audit.log) as the OS user, role "cli".
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from motcua.cli.cases import (
    CliError,
    _account,
    _address,
    _client,
    _namespace,
    _run,
    _vn,
    audited,
    fail,
    server_options,
)

if TYPE_CHECKING:
    from motcua.publishing.publish import Publication
    from motcua.publishing.running import Running
    from motcua.publishing.store import Published


def _publisher(token: str | None, actor: str | None) -> str:
    """The account a version is recorded under: the analyst token's subject."""
    from motcua.api.identity import IdentityError, trust, verify_token

    if token:
        try:
            caller = verify_token(token)
        except IdentityError as e:
            fail(f"--token: {e}")
        if caller.role != "analyst":
            fail(
                f"only analysts publish; this token's role is {caller.role} "
                "(`motcua token analyst --sub ID` makes an analyst's token)"
            )
        if actor is not None and actor != caller.sub:
            fail(f"--actor {actor} is not the token's holder; leave --actor out")
        return caller.sub
    if not trust().is_dev:
        fail("publishing needs your analyst token: pass --token or set MOTCUA_TOKEN (the login)")
    if actor is None:
        fail(
            "who publishes? pass --token or set MOTCUA_TOKEN (`motcua token analyst --sub ID`), "
            "or --actor ID with the development issuer"
        )
    return actor


def _publish(file: Path, by: str) -> Publication:
    from motcua.publishing import publish as publishing
    from motcua.publishing import store

    try:
        text = file.read_text(encoding="utf-8")
    except OSError as e:
        fail(f"cannot read {file}: {e.strerror or e}")
    except UnicodeDecodeError:
        fail(f"{file} is not UTF-8 text")
    try:
        return publishing.publish_text(text, file=str(file), by=by)
    except (publishing.Refused, store.VersionTaken, store.Corrupt) as e:
        fail(str(e))


def _optional_account(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    return None if value is None else _account(ctx, param, value)


def _by(v: Published) -> str:
    return f"by {v.published_by} at {_vn(v.published_at)}"


@click.command()
@click.argument("procedure", metavar="FILE_OR_ID")
@click.option(
    "--token",
    envvar="MOTCUA_TOKEN",
    default=None,
    help="Your analyst token (motcua token analyst, or the login); default $MOTCUA_TOKEN.",
)
@click.option(
    "--actor",
    default=None,
    callback=_optional_account,
    help="Without a token, with the development issuer: the analyst's account id.",
)
def publish(procedure: str, token: str | None, actor: str | None) -> None:
    """Publish FILE_OR_ID (a YAML file, or a procedure id: its catalogue file) as a version.

    The definition is validated as `motcua validate` does, then recorded for good under its
    `version:` and content hash, with who published it and when. New cases start on the
    latest published version; running cases keep theirs. Prints the procedure id, the
    version and the hash; errors exit with status 1.
    """
    from motcua.cli.procedures import find_procedure

    file = find_procedure(procedure)
    try:
        done = _publish(file, _publisher(token, actor))
    except CliError as e:
        click.echo(f"error: {e}", err=True)
        raise SystemExit(1) from None
    v = done.version
    if done.created:
        audited("publish", None, {
            "procedure_id": v.procedure_id, "version": v.version, "hash": v.hash,
            "account": v.published_by,
        })  # fmt: skip
        click.echo(f"published {v.procedure_id} version {v.version}")
        click.echo(f"  sha256  {v.hash}")
        click.echo(f"  {_by(v)}")
        click.echo(f"  new cases start on version {v.version}; running cases keep theirs")
    else:
        click.echo(f"{v.procedure_id} version {v.version} has this content: not a new version")
        click.echo(f"  sha256  {v.hash}")
        click.echo(f"  published {_by(v)}")


# ---------------------------------------------------------------- versions


async def _count(
    procedure_id: str, published: bool, address: str, namespace: str
) -> tuple[Running | None, str | None]:
    """The running cases of the procedure, or why they are not counted."""
    from temporalio.service import RPCError

    from motcua.publishing.running import on_versions
    from motcua.worklists.errors import WorkRefused

    try:
        client = await _client(address, namespace)
        return await on_versions(client, procedure_id, published=published), None
    except (CliError, WorkRefused, RPCError) as e:
        return None, f"running cases not counted: {e}"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
            for row in rows]  # fmt: skip


@click.command()
@click.argument("procedure_id", metavar="ID")
@click.option(
    "--running/--no-running",
    default=True,
    show_default=True,
    help="Count the cases running each version (asks Temporal).",
)
@server_options
def versions(procedure_id: str, running: bool, address: str | None, namespace: str | None) -> None:
    """List the published versions of procedure ID: publisher, date, hash, running cases.

    Oldest first; new cases start on the last. Cases running a definition never published
    (started from the file) and cases whose worker did not answer are counted apart.
    """
    from motcua.publishing import checking, store

    found = store.versions(procedure_id)
    file = checking.catalogue().get(procedure_id)
    if not found and file is None:
        raise click.ClickException(
            f"no procedure '{procedure_id}': no catalogue file declares it and no version "
            "of it is published"
        )
    title = found[-1].title if found else file[1].title if file else ""
    click.echo(f"{procedure_id}  {title}")
    click.echo(f"  file: {file[0] if file else '- (none in the catalogue)'}")
    counted, note = None, None
    if running:
        address_, namespace_ = _address(address), _namespace(namespace)
        counted, note = _run(_count(procedure_id, bool(found), address_, namespace_))
    if found:
        rows = [["version", "running", "published by", "published at", "sha256"]]
        for v in found:
            cases = "-" if counted is None else str(counted.by_hash.get(v.hash, 0))
            rows.append([str(v.version), cases, v.published_by, _vn(v.published_at), v.hash])
        click.echo("")
        for line in _table(rows):
            click.echo(line)
        click.echo(f"\nnew cases start on version {found[-1].version}")
    else:
        click.echo("\nno version published: new cases start on the file")
    if counted is not None:
        unpublished = counted.unpublished(v.hash for v in found)
        click.echo(
            f"running: {counted.total} case{'' if counted.total == 1 else 's'}; "
            f"{unpublished} on a definition never published, "
            f"{counted.unanswered} not answering"
        )
    elif note is not None:
        click.echo(note, err=True)


COMMANDS: list[click.Command] = [publish, versions]
